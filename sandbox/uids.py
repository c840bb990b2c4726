"""Slot uids, leased per server: two sandbox servers on one machine never share a uid, so one never
counts or kills the other's processes.

A lease is one flock'd file per uid in a root-owned directory, held for the server's lifetime: a
server that dies frees its uids with its file descriptors, and the next holder may then kill
whatever that server left running under them.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

FIRST_UID = 61000
LAST_UID = 65000  # below the 65534 "nobody"
LOCK_DIR = Path(tempfile.gettempdir()) / "verity-sandbox-uids"


class UidsInUse(RuntimeError):
    """The requested uids are held by another sandbox server."""


class UidLease:
    def __init__(self, uids: list[int], fds: list[int]):
        self.uids, self._fds = uids, fds

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []


def _lock_dir() -> Path:
    LOCK_DIR.mkdir(mode=0o755, exist_ok=True)
    st = LOCK_DIR.lstat()
    if LOCK_DIR.is_symlink() or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise UidsInUse(f"{LOCK_DIR} is not a directory owned by this user and writable only by it: remove it")
    return LOCK_DIR


def _try_lock(uid: int) -> int | None:
    fd = os.open(_lock_dir() / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        os.close(fd)
        return None


def lease_uids(count: int, first: int | None = None) -> UidLease:
    """``count`` uids: exactly ``first`` .. ``first + count - 1`` when given, else the lowest free
    ones from FIRST_UID."""
    uids, fds = [], []
    candidates = range(first, first + count) if first is not None else range(FIRST_UID, LAST_UID)
    for uid in candidates:
        fd = _try_lock(uid)
        if fd is None:
            if first is not None:
                UidLease(uids, fds).release()
                raise UidsInUse(f"uid {uid} is held by another sandbox server on this machine: pick another --uid-base, or leave it out")
            continue
        uids.append(uid)
        fds.append(fd)
        if len(uids) == count:
            return UidLease(uids, fds)
    UidLease(uids, fds).release()
    raise UidsInUse(f"fewer than {count} free uids in {candidates.start}-{candidates.stop - 1}")
