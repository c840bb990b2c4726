"""The seccomp filter every sandboxed process runs under, compiled to BPF with libseccomp.

Everything is allowed except the calls that reach past the sandbox's namespaces or into the
kernel's attack surface; those fail with EPERM (so programs see an ordinary permission error):
debugging other processes, mounting, new namespaces (unshare, setns, and clone with a CLONE_NEW*
flag), the kernel keyring, BPF, perf events, userfaultfd, io_uring, kernel modules and kexec;
and shared memory that no size cap bounds (memfd_create, SysV shmget: only the size-capped tmpfs
mounts hold files in memory).
clone3 fails with ENOSYS: its flags sit in a struct that a filter cannot read, and the C library
then falls back to clone, whose flags are checked. Calls of another architecture (32-bit int 0x80)
kill the process.
"""

from __future__ import annotations

import errno
import functools
import os

import pyseccomp

DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "unshare", "setns",
    "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "open_by_handle_at", "name_to_handle_at", "acct", "swapon", "swapoff", "reboot", "syslog", "quotactl",
    "memfd_create", "memfd_secret", "shmget",
)  # fmt: skip
CLONE_NEW_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWTIME": 0x00000080,
}


@functools.cache
def filter_bpf() -> bytes:
    """The compiled filter (raw BPF, what ``bwrap --seccomp FD`` reads)."""
    f = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    deny = pyseccomp.ERRNO(errno.EPERM)
    for name in DENIED:
        try:
            f.add_rule(deny, name)
        except (OSError, ValueError):  # a call this kernel's headers do not know: nothing to deny
            continue
    for flag in CLONE_NEW_FLAGS.values():
        f.add_rule(deny, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    f.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    with os.fdopen(os.memfd_create("verity-seccomp", os.MFD_CLOEXEC), "w+b") as buf:
        f.export_bpf(buf)
        buf.seek(0)
        return buf.read()


def filter_fd() -> int:
    """A fresh readable file descriptor holding the filter (bwrap consumes one per start)."""
    fd = os.memfd_create("verity-seccomp", os.MFD_CLOEXEC)
    os.write(fd, filter_bpf())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
