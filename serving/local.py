"""Start verity's own services as local subprocesses on free loopback ports.

``verity train`` and ``verity score`` use this when no endpoint is given: each service is a real
``verity serve NAME --port 0`` process; its port is read from the line it prints on start, and it
is used only once its grpc.health.v1 check answers SERVING. The same gRPC path as a remote stack.
A service started so stops when the process that started it dies, even by SIGKILL (on Linux), so
that a killed trainer leaves no service behind.
"""

from __future__ import annotations

import ctypes
import os
import re
import selectors
import signal
import subprocess
import sys
import time

from serving.health import wait_healthy

_LISTENING = re.compile(r"listening on (\S+:\d+)")
PARENT_ENV = "VERITY_EXIT_WITH_PARENT"  # the pid of the process that started a local service
PR_SET_PDEATHSIG = 1


def exit_with_parent() -> None:
    """In a service that LocalServices started: ask Linux for SIGTERM (a graceful stop) when the
    thread that started it ends, which a SIGKILLed parent's does too; if the parent is gone
    already, stop now. Elsewhere (not Linux, or not started so) nothing happens."""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is None or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):
        os.kill(os.getpid(), signal.SIGTERM)


class LocalServices:
    """Context manager: ``with LocalServices({"math"}) as endpoints: ...`` gives name -> [address].
    Names are the services ``verity serve`` takes (a built-in verifier, or "sandbox"); callers
    check them first, since only they know which names their data may use. ``workers``: each
    verifier's worker processes, and the sandbox's slots (default: cores). ``max_message_mb``: the
    services' request size limit (default: theirs). ``service_args``: further ``verity serve``
    arguments by service name (the code verifier's reward mode and budgets). ``auth_token_file``:
    every service requires the token in it (the code verifier also sends it to its sandbox)."""

    def __init__(self, names: set[str] | list[str], workers: int | None = None, deadline_s: float = 1.0, start_timeout_s: float = 120.0, max_message_mb: int | None = None, service_args: dict[str, list[str]] | None = None, auth_token_file: str | None = None):
        self.names = sorted(set(names))
        self.auth_token_file = auth_token_file
        self.service_args = service_args or {}
        self.max_message_mb = max_message_mb
        self.workers = workers
        self.deadline_s = deadline_s
        self.start_timeout_s = start_timeout_s
        self.processes: dict[str, subprocess.Popen] = {}
        self.endpoints: dict[str, list[str]] = {}

    def __enter__(self) -> dict[str, list[str]]:
        try:
            for name in self.names:
                self.endpoints[name] = [self._start(name)]
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start(self, name: str) -> str:
        cmd = [sys.executable, "-m", "verity.cli", "serve", name, "--host", "127.0.0.1", "--port", "0", "--deadline-s", str(self.deadline_s), "--log-level", "WARNING"]
        if self.workers:
            cmd += ["--slots" if name == "sandbox" else "--workers", str(self.workers)]
        if self.max_message_mb:
            cmd += ["--max-message-mb", str(self.max_message_mb)]
        if self.auth_token_file:
            cmd += ["--auth-token-file", str(self.auth_token_file)]
        cmd += self.service_args.get(name, [])
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env={**os.environ, PARENT_ENV: str(os.getpid())})
        self.processes[name] = proc
        address = self._read_address(name, proc)
        wait_healthy(address, self.start_timeout_s)
        return address

    def _read_address(self, name: str, proc: subprocess.Popen) -> str:
        deadline = time.monotonic() + self.start_timeout_s
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(timeout=0.5):
                    if proc.poll() is not None:
                        break
                    continue
                line = proc.stdout.readline()
                if not line:
                    break
                match = _LISTENING.search(line)
                if match:
                    return match.group(1)
        raise RuntimeError(f"local '{name}' service did not start (exit code {proc.poll()}); its stderr is above")

    def stop(self) -> None:
        """SIGTERM every service (graceful), then SIGKILL what is left after 10 s."""
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
        self.processes.clear()
