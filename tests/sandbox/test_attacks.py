"""Attacks on the sandbox, each through the real gRPC service: every one is contained, the host is
unharmed and the service still serves afterwards (the ``healthy`` fixture checks both)."""

from __future__ import annotations

import os
import socket
import textwrap

import pytest

from contract.v1 import sandbox_pb2 as pb

pytestmark = pytest.mark.sandbox


def run(server, code: str, **limits) -> pb.ExecuteResult:
    return server.run(textwrap.dedent(code), **limits)


def test_fork_bomb_is_capped_by_the_process_limit(healthy):
    r = run(healthy, """
        import os, time
        n = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                n += 1
        except OSError as e:
            print(n, e.errno)
    """, max_processes=16, wall_time_s=5)
    forked, err = map(int, r.stdout.split())
    assert r.status == pb.EXEC_STATUS_OK
    assert forked < 16 and err == 11  # EAGAIN from RLIMIT_NPROC


def test_endless_fork_bomb_is_killed(healthy):
    r = run(healthy, """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """, max_processes=32, wall_time_s=2)
    assert r.status == pb.EXEC_STATUS_TIMEOUT


def test_thread_bomb_is_capped(healthy):
    r = run(healthy, """
        import threading, time
        n = 0
        try:
            while True:
                threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
                n += 1
        except RuntimeError:
            print(n)
    """, max_processes=16, wall_time_s=5)
    assert r.status == pb.EXEC_STATUS_OK and int(r.stdout) < 16


def test_memory_bomb_hits_the_address_space_limit(healthy):
    r = run(healthy, "x = bytearray(2 * 1024**3)\n", memory_bytes=256 * 1024 * 1024)
    assert r.status == pb.EXEC_STATUS_MEMORY_LIMIT


def test_deep_recursion_dies_alone(healthy):
    through_c = run(healthy, """
        import sys
        sys.setrecursionlimit(10**7)
        def f(n):
            return sum(map(f, [n + 1]))  # every level goes through C code: the C stack overflows
        f(0)
    """)
    assert through_c.status == pb.EXEC_STATUS_RUNTIME_ERROR and through_c.signal == 11  # SIGSEGV at the 64 MiB stack limit
    pure_python = run(healthy, """
        import sys
        sys.setrecursionlimit(10**8)
        def f(n):
            return f(n + 1) + 1  # frames live on the heap: the address-space limit ends it
        f(0)
    """, memory_bytes=256 * 1024 * 1024)
    assert pure_python.status in (pb.EXEC_STATUS_MEMORY_LIMIT, pb.EXEC_STATUS_RUNTIME_ERROR), pure_python


def test_cpu_spin_hits_the_cpu_limit(healthy):
    r = run(healthy, "while True: pass\n", cpu_time_s=1, wall_time_s=10)
    assert r.status == pb.EXEC_STATUS_TIMEOUT and r.cpu_time_s >= 0.9


def test_sleep_past_the_wall_limit(healthy):
    r = run(healthy, "import time\ntime.sleep(100)\n", wall_time_s=1)
    assert r.status == pb.EXEC_STATUS_TIMEOUT and r.wall_time_s < 10


@pytest.mark.parametrize("stream,chunk", [("stdout", "'x' * 65536 + '\\n'"), ("stderr", "'y' * 65536 + '\\n'"), ("stdout", "'z' * 65536")], ids=["stdout", "stderr", "no-newline"])
def test_output_flood_is_cut_at_the_cap(healthy, stream, chunk):
    r = run(healthy, f"import sys\nwhile True: sys.{stream}.write({chunk})\n", max_output_bytes=100_000)
    assert r.status == pb.EXEC_STATUS_OUTPUT_LIMIT
    assert len(getattr(r, stream)) == 100_000 and getattr(r, f"{stream}_truncated")


def test_disk_fill_stops_at_the_file_and_tmpfs_limits(healthy):
    one_file = run(healthy, """
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        n = 0
        try:
            with open("big", "wb") as f:
                while True:
                    n += f.write(b"x" * 65536)
        except OSError as e:
            print(n, e.errno)
    """, max_file_bytes=4 * 1024 * 1024)
    written, err = map(int, one_file.stdout.split())
    assert written <= 4 * 1024 * 1024 and err == 27  # EFBIG
    many_files = run(healthy, """
        n = 0
        try:
            while True:
                with open(f"f{n}", "wb") as f:
                    f.write(b"x" * 1024 * 1024)
                n += 1
        except OSError as e:
            print(n, e.errno)
    """)
    files, err = map(int, many_files.stdout.split())
    assert files < 64 and err == 28  # ENOSPC: the 64 MiB tmpfs is full
    in_memory = run(healthy, """
        import os
        for attempt in (lambda: os.memfd_create("x"), lambda: open("/dev/fill-me", "wb")):
            try:
                attempt()
                print("allowed")
            except OSError as e:
                print(type(e).__name__)
    """)
    refused = in_memory.stdout.split()
    assert len(refused) == 2 and b"allowed" not in refused, in_memory  # memfd denied; /dev is read-only


def test_fd_exhaustion_is_capped(healthy):
    r = run(healthy, """
        fds = []
        try:
            while True:
                fds.append(open("/dev/null"))
        except OSError as e:
            print(len(fds), e.errno)
    """, max_open_files=64)
    opened, err = map(int, r.stdout.split())
    assert opened < 64 and err == 24  # EMFILE


def test_huge_argv_and_env_fail_inside(healthy):
    r = run(healthy, """
        import os, subprocess
        for kwargs in ({"args": ["/bin/true", "x" * (64 * 1024 * 1024)]}, {"args": ["/bin/true"], "env": {"X": "y" * (64 * 1024 * 1024)}}):
            try:
                subprocess.run(**kwargs)
                print("ran")
            except OSError as e:
                print(e.errno)
    """, memory_bytes=1024 * 1024 * 1024)
    assert r.stdout.split() == [b"7", b"7"]  # E2BIG, both
    too_long = healthy.stub.Execute(pb.ExecuteRequest(code=b"print(1)", argv=["a" * 1024] * 2048), timeout=60)
    assert too_long.status == pb.EXEC_STATUS_INVALID and "argv" in too_long.detail


def test_no_network_at_all(healthy):
    listener = socket.socket(socket.AF_UNIX)
    abstract = f"\0verity-test-{os.getpid()}"
    listener.bind(abstract)
    listener.listen()
    try:
        r = run(healthy, f"""
            import socket
            def attempt(family, address):
                s = socket.socket(family)
                s.settimeout(2)
                try:
                    s.connect(address)
                    return "connected"
                except OSError as e:
                    return type(e).__name__
            print(attempt(socket.AF_INET, ("1.1.1.1", 53)))
            print(attempt(socket.AF_INET, ("127.0.0.1", {healthy.port})))
            print(attempt(socket.AF_UNIX, {abstract!r}))
            try:
                socket.getaddrinfo("pypi.org", 443)
                print("resolved")
            except OSError as e:
                print(type(e).__name__)
            print(sorted(name for _, name in socket.if_nameindex()))
        """)
    finally:
        listener.close()
    lines = r.stdout.decode().split("\n")
    assert lines[0] == "OSError"  # network unreachable: no route at all
    assert lines[1] == "ConnectionRefusedError"  # its own loopback, not the host's gRPC port
    assert lines[2] in ("ConnectionRefusedError", "FileNotFoundError")  # abstract sockets are per network namespace
    assert lines[3] == "gaierror"
    assert lines[4] == "['lo']"


def test_host_secrets_are_out_of_reach(healthy):
    r = run(healthy, f"""
        import os
        for path in ("/etc/shadow", "/etc/passwd", "/root/.bashrc", "/var/run/docker.sock"):
            try:
                open(path, "rb").read()
                print("read", path)
            except OSError as e:
                print(type(e).__name__)
        found = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                for name in ("environ", "cmdline"):
                    try:
                        if {healthy.secret!r}.encode() in open(f"/proc/{{pid}}/{{name}}", "rb").read():
                            found.append(pid)
                    except OSError:
                        pass
        print(len([p for p in os.listdir("/proc") if p.isdigit()]), found)
    """)
    lines = r.stdout.decode().split("\n")
    assert lines[:4] == ["FileNotFoundError"] * 4, lines  # no host path is even visible
    processes, found = lines[4].split(" ", 1)
    assert found == "[]" and int(processes) <= 4  # only the environment's own processes are visible


def test_the_runner_is_out_of_the_programs_reach(healthy):
    r = run(healthy, """
        import os
        print(open("/proc/2/cmdline", "rb").read().split(b"\\0")[0].decode())  # the runner: same uid
        for path, mode in (("/proc/2/mem", "rb"), ("/proc/2/environ", "rb"), ("/proc/2/fd/1", "wb"), ("/proc/2/fd/0", "rb")):
            try:
                f = open(path, mode)
                f.write(b"forged result") if "w" in mode else f.read(1)
                print("reached", path)
            except OSError as e:
                print(type(e).__name__)
    """)
    lines = r.stdout.decode().split()
    assert lines[0].endswith("python3") or "python" in lines[0]
    assert lines[1:] == ["PermissionError"] * 4, lines  # non-dumpable: no memory, environment or pipes


def test_writes_outside_the_working_dir_fail(healthy):
    r = run(healthy, """
        for path in ("/usr/evil", "/usr/bin/python3", "/evil", "/proc/sys/kernel/hostname", "/dev/evil"):
            try:
                open(path, "wb").write(b"x")
                print("wrote", path)
            except OSError as e:
                print(type(e).__name__)
        open("/work/ok", "wb").write(b"x")
        open("/tmp/ok", "wb").write(b"x")
        print("work and tmp writable")
    """)
    lines = r.stdout.decode().strip().split("\n")
    assert not any(line.startswith("wrote") for line in lines), lines
    assert lines[-1] == "work and tmp writable"


def test_planted_links_and_files_never_reach_the_next_run(healthy):
    canary = "/tmp/verity-canary"
    with open(canary, "w") as f:
        f.write("untouched")
    plant = """
        import os
        for name, target in (("main.py", "/etc/shadow"), ("loot", "/tmp/verity-canary"), ("up", "/")):
            try:
                os.symlink(target, "/work/" + name + ".link")
            except OSError:
                pass
        try:
            os.link("/usr/bin/python3", "/work/hard")
            print("hardlinked")
        except OSError as e:
            print(type(e).__name__)
        open("/work/marker", "w").write("left behind")
        open("/tmp/marker", "w").write("left behind")
    """
    look = """
        import os
        print(sorted(os.listdir("/work")), sorted(os.listdir("/tmp")))
    """
    for _ in range(3 * 2):  # both slots, several times
        planted = run(healthy, plant)
        assert planted.stdout.strip() in (b"OSError", b"PermissionError"), planted
        seen = run(healthy, look)
        assert seen.stdout.decode().strip() == "['main.py'] []"
    assert open(canary).read() == "untouched"


def test_kill_minus_one_kills_only_the_environment(healthy):
    r = run(healthy, "import os, signal\nos.kill(-1, signal.SIGKILL)\n")
    assert r.status == pb.EXEC_STATUS_RUNTIME_ERROR


def test_a_daemon_does_not_outlive_its_run(healthy):
    r = run(healthy, """
        import os
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", "31337"])
            os._exit(0)
        print("parent done")
    """)
    assert r.status == pb.EXEC_STATUS_OK and r.stdout == b"parent done\n"
    assert not [cmd for cmd in healthy.slot_processes() if "31337" in cmd]


def test_namespaces_mounts_and_ptrace_are_denied(healthy):
    r = run(healthy, """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET = 0x10000000, 0x20000, 0x40000000
        results = []
        results.append(libc.unshare(CLONE_NEWUSER) == -1 and ctypes.get_errno())
        results.append(libc.unshare(CLONE_NEWNS | CLONE_NEWNET) == -1 and ctypes.get_errno())
        results.append(libc.mount(b"none", b"/work", b"tmpfs", 0, None) == -1 and ctypes.get_errno())
        results.append(libc.ptrace(16, 1, None, None) == -1 and ctypes.get_errno())  # PTRACE_ATTACH to init
        results.append(libc.syscall(56, CLONE_NEWUSER | 17, 0, 0, 0, 0) == -1 and ctypes.get_errno())  # raw clone
        results.append(libc.syscall(321, 0, 0, 0) == -1 and ctypes.get_errno())  # bpf
        print(results)
        print(os.system("unshare -r true 2>/dev/null") != 0)
    """)
    lines = r.stdout.decode().split("\n")
    assert lines[0] == "[1, 1, 1, 1, 1, 1]"  # EPERM from the seccomp filter, every one
    assert lines[1] == "True"
