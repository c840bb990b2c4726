"""One isolated environment, started ahead of its job and used for exactly one run.

Starting an environment (bubblewrap's namespaces and mounts, the uid switch, the runner's
interpreter) costs as much as a small program, so each slot keeps the next environment started
and waiting: its runner blocks on stdin until the job arrives. After the run the whole
environment is killed (its pid namespace dies with bubblewrap's init): nothing of one run is
visible to the next.
"""

from __future__ import annotations

import marshal
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass

from sandbox.isolation import as_uid, environment_argv
from sandbox.seccomp import filter_fd

STDERR_CAP = 64 * 1024


@dataclass(frozen=True)
class Isolation:
    """What every environment of a server shares."""

    bwrap: str
    python: str
    tmpfs_bytes: int
    switch_uid: bool  # run under a dedicated uid per slot (needs root)
    proc: bool = True  # a fresh /proc per environment (False: none, for containers with a masked /proc)


@dataclass
class Outcome:
    """What came back from one environment."""

    results: list[dict]  # the runner's record of each finished step, in order
    stderr: str  # the environment's own errors (bubblewrap's, the runner's), capped: why it ended early
    timed_out: bool  # the host's overall time limit ended it


class Environment:
    """bubblewrap + the runner, started and waiting for one job."""

    def __init__(self, isolation: Isolation, uid: int):
        self.uid = uid if isolation.switch_uid else None
        fd = filter_fd()
        argv = environment_argv(isolation.bwrap, isolation.python, isolation.tmpfs_bytes, fd, isolation.proc)
        try:
            self.proc = subprocess.Popen(
                as_uid(argv, self.uid) if self.uid is not None else argv,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={}, pass_fds=(fd,), start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(fd)

    def run(self, job: dict, timeout_s: float) -> Outcome:
        """Send the job; collect one result per finished step until the runner says it is done,
        or exits, or ``timeout_s`` passes."""
        results: list[dict] = []
        err = bytearray()
        frame = marshal.dumps(job, 4)
        try:
            self.proc.stdin.write(len(frame).to_bytes(8, "little") + frame)
            self.proc.stdin.close()
        except BrokenPipeError:  # the environment died before its job: read why below
            pass
        deadline = time.monotonic() + timeout_s
        pending = b""
        with selectors.DefaultSelector() as sel:
            for pipe in (self.proc.stdout, self.proc.stderr):
                os.set_blocking(pipe.fileno(), False)
                sel.register(pipe, selectors.EVENT_READ)
            while sel.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return Outcome(results, err.decode(errors="replace"), timed_out=True)
                for key, _ in sel.select(timeout=remaining):
                    data = os.read(key.fd, 1 << 20)
                    if not data:
                        sel.unregister(key.fileobj)
                    elif key.fileobj is self.proc.stderr:
                        err += data[: max(0, STDERR_CAP - len(err))]
                    else:
                        pending += data
                        while len(pending) >= 8 and len(pending) >= 8 + (size := int.from_bytes(pending[:8], "little")):
                            record = marshal.loads(pending[8 : 8 + size])  # a whole frame from the runner
                            pending = pending[8 + size :]
                            if not record:  # the runner's last frame: done
                                return Outcome(results, err.decode(errors="replace"), timed_out=False)
                            results.append(record)
        return Outcome(results, err.decode(errors="replace"), timed_out=False)

    def close(self) -> None:
        """Kill the environment and reap bubblewrap. Its init dies with it, and with the init the
        kernel kills every process of the pid namespace: nothing the program started survives."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            pipe.close()


def kill_uid(uid: int) -> None:
    """SIGKILL every process whose real uid is ``uid`` (a slot's uid: nothing else runs under it)."""
    for _ in range(10):  # a fork bomb may still be forking while it is being killed
        found = False
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"{entry.path}/status") as f:
                    real_uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
                if real_uid == uid:
                    os.kill(int(entry.name), signal.SIGKILL)
                    found = True
            except (OSError, StopIteration):  # the process is gone
                continue
        if not found:
            return
