"""The runner: the trusted process inside each isolated environment.

It is started by bubblewrap (as pid 2 of the environment's own pid namespace, under the slot's
uid, with the seccomp filter loaded) before any request arrives, and waits on stdin for one job,
a frame (8-byte little-endian length, then ``marshal`` data, format 4) holding:

    {"files": [(path, bytes), ...], "stop_on_failure": bool, "first_must_pass": bool,
     "steps": [{"argv": [...], "stdin": bytes, "env": {...}, "max_output": int,
                "limits": {"cpu_s", "wall_s", "memory", "stack", "processes", "file_bytes", "open_files"}}]}

It writes the files into the working directory, runs the steps one after the other (a compile
step, then one step per test case) and writes one frame per step as soon as it ends, then an
empty dict:

    {"exit_code", "signal", "stdout", "stderr" (bytes, capped), "stdout_truncated",
     "stderr_truncated", "wall_s", "cpu_s", "max_rss", "timed_out", "output_limited"}

Per step: resource limits set in the child before exec (core dumps off), stdin fed and stdout and
stderr drained concurrently up to the cap (past it the step is killed), a wall-clock limit, and at
the end of the step ``kill(-1, SIGKILL)``: every other process of the environment (daemons,
forks left behind) dies, since nothing else runs under the slot's uid in this pid namespace.
The runner makes itself non-dumpable first, so the programs it starts (same uid) cannot read its
memory, its file descriptors or its environment through /proc.

Standard library only, and few modules of it (its start-up is paid once per run): whichever
python3 the sandbox runs, 3.9 or newer.
"""

import _ctypes
import marshal
import os
import resource
import select
import time

WORKDIR = "/work"
PR_SET_DUMPABLE = 4
CHUNK = 65536
SIGKILL = 9  # the signal module would import enum: a few ms of start-up paid on every run
RLIMITS = {  # limit name in the job -> resource
    "memory": resource.RLIMIT_AS,
    "stack": resource.RLIMIT_STACK,
    "processes": resource.RLIMIT_NPROC,
    "file_bytes": resource.RLIMIT_FSIZE,
    "open_files": resource.RLIMIT_NOFILE,
}


def read_frame(fd):
    header = read_exactly(fd, 8)
    return marshal.loads(read_exactly(fd, int.from_bytes(header, "little"))) if header else None


def read_exactly(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


def write_frame(value):
    data = marshal.dumps(value, 4)
    write_all(1, len(data).to_bytes(8, "little") + data)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def spawn(step, stdin_r, stdout_w, stderr_w):
    """Fork and exec one step's program with its limits; returns the pid."""
    limits = step["limits"]
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: never returns
        os.setsid()
        os.dup2(stdin_r, 0)
        os.dup2(stdout_w, 1)
        os.dup2(stderr_w, 2)
        os.closerange(3, 1 << 16)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        cpu = int(limits["cpu_s"] + 0.999)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL a second later
        for name, which in RLIMITS.items():
            resource.setrlimit(which, (int(limits[name]), int(limits[name])))
        os.execve(step["argv"][0], step["argv"], step["env"])
    except BaseException as e:  # noqa: BLE001 - report why the program could not start
        os.write(2, ("cannot start %s: %s\n" % (step["argv"][0], e)).encode())
    os._exit(127)


def kill_others():
    """SIGKILL every process of this environment except the runner and pid 1 (bubblewrap's init)."""
    try:
        os.kill(-1, SIGKILL)
    except ProcessLookupError:
        pass


def run_step(step):
    cap = step["max_output"]
    stdin = step["stdin"]
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    start = time.monotonic()
    pid = spawn(step, stdin_r, out_w, err_w)
    for fd in (stdin_r, out_w, err_w):
        os.close(fd)
    out = {out_r: bytearray(), err_r: bytearray()}
    truncated = {out_r: False, err_r: False}
    deadline = start + step["limits"]["wall_s"]
    timed_out = output_limited = False
    pidfd = os.pidfd_open(pid)
    poll = select.poll()
    for fd in (out_r, err_r, pidfd):
        poll.register(fd, select.POLLIN)
    open_fds = {out_r, err_r}
    if stdin:
        os.set_blocking(stdin_w, False)
        poll.register(stdin_w, select.POLLOUT)
    else:
        os.close(stdin_w)
        stdin_w = -1
    written, exited = 0, False
    while open_fds or not exited:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for fd, events in poll.poll(remaining * 1000):
            if fd == pidfd:
                poll.unregister(pidfd)
                exited = True
                kill_others()  # what is left holding the pipes are processes the program left behind
            elif fd == stdin_w:
                try:
                    written += os.write(fd, stdin[written : written + CHUNK])
                except OSError:  # the program closed its stdin
                    written = len(stdin)
                if written >= len(stdin):
                    poll.unregister(fd)
                    os.close(fd)
                    stdin_w = -1
            else:
                data = os.read(fd, CHUNK)
                if not data:
                    poll.unregister(fd)
                    open_fds.discard(fd)
                    continue
                room = cap - len(out[fd])
                out[fd] += data[:room]
                if len(data) > room:
                    truncated[fd] = output_limited = True
        if output_limited:
            break
    kill_others()
    _, status, usage = os.wait4(pid, 0)
    for fd in open_fds:  # whatever the killed processes had written
        drain(fd, out, truncated, cap)
    for fd in (out_r, err_r, pidfd, stdin_w):
        if fd >= 0:
            os.close(fd)
    return {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0,
        "stdout": bytes(out[out_r]),
        "stderr": bytes(out[err_r]),
        "stdout_truncated": truncated[out_r],
        "stderr_truncated": truncated[err_r],
        "wall_s": time.monotonic() - start,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss": usage.ru_maxrss * 1024,
        "timed_out": timed_out,
        "output_limited": output_limited,
    }


def drain(fd, out, truncated, cap):
    os.set_blocking(fd, False)
    while True:
        try:
            data = os.read(fd, CHUNK)
        except OSError:
            return
        if not data:
            return
        room = cap - len(out[fd])
        out[fd] += data[:room]
        if len(data) > room:
            truncated[fd] = True
            return


def write_files(files):
    for path, content in files:
        full = os.path.join(WORKDIR, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755)
        write_all(fd, content)
        os.close(fd)


def make_non_dumpable():
    """prctl(PR_SET_DUMPABLE, 0) through _ctypes (importing ctypes costs a few ms per run)."""

    class Int(_ctypes._SimpleCData):
        _type_ = "i"

    class Function(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL
        _restype_ = Int

    prctl = Function(_ctypes.dlsym(_ctypes.dlopen(None, os.RTLD_NOW), "prctl"))
    if prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError("prctl(PR_SET_DUMPABLE, 0) failed")


def main():
    make_non_dumpable()
    job = read_frame(0)
    if job is None:
        return
    os.chdir(WORKDIR)
    write_files(job["files"])
    for i, step in enumerate(job["steps"]):
        result = run_step(step)
        write_frame(result)
        failed = result["exit_code"] != 0 or result["signal"] or result["timed_out"] or result["output_limited"]
        if failed and (job["stop_on_failure"] or (i == 0 and job["first_must_pass"])):
            break
    write_frame({})


if __name__ == "__main__":
    main()
