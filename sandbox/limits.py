"""Resource limits of one run: the server's defaults and ceilings, and a request's own values.

A zero field of a request's ``Limits`` takes the server's default; a value above the server's
ceiling is refused (the request is INVALID, with the field and the ceiling named).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

MiB = 1024 * 1024
STACK_BYTES = 64 * MiB  # RLIMIT_STACK of every program: deep recursion ends in SIGSEGV, not in the memory limit


@dataclass(frozen=True)
class Limits:
    """Per run (per test case in a batch). Units: seconds, bytes, counts."""

    cpu_time_s: float = 10.0  # RLIMIT_CPU: SIGXCPU at this many CPU seconds, SIGKILL one later
    wall_time_s: float = 10.0  # the whole process tree is killed past it
    memory_bytes: int = 1024 * MiB  # RLIMIT_AS: address space per process
    max_processes: int = 64  # RLIMIT_NPROC: processes and threads of the slot's uid
    max_file_bytes: int = 16 * MiB  # RLIMIT_FSIZE: largest file a program may write
    max_open_files: int = 256  # RLIMIT_NOFILE
    max_output_bytes: int = 1 * MiB  # per stream (stdout, stderr); past it the run is killed

    def for_runner(self) -> dict[str, float]:
        """The limits as the in-sandbox runner reads them."""
        return {
            "cpu_s": self.cpu_time_s,
            "wall_s": self.wall_time_s,
            "memory": self.memory_bytes,
            "stack": min(STACK_BYTES, self.memory_bytes),
            "processes": self.max_processes,
            "file_bytes": self.max_file_bytes,
            "open_files": self.max_open_files,
        }


DEFAULT_LIMITS = Limits()
CEILINGS = Limits(cpu_time_s=60.0, wall_time_s=120.0, memory_bytes=4096 * MiB, max_processes=256, max_file_bytes=256 * MiB, max_open_files=4096, max_output_bytes=16 * MiB)
COMPILE_LIMITS = Limits(cpu_time_s=30.0, wall_time_s=60.0, memory_bytes=2048 * MiB, max_processes=64, max_file_bytes=64 * MiB, max_open_files=256, max_output_bytes=1 * MiB)


class LimitError(ValueError):
    """A requested limit is above the server's ceiling or negative."""


def resolve(requested, defaults: Limits = DEFAULT_LIMITS, ceilings: Limits = CEILINGS) -> Limits:
    """The limits of a run: ``requested`` is a proto ``Limits`` (or anything with the same fields);
    zero or unset fields take ``defaults``."""
    values = {}
    for f in fields(Limits):
        value = getattr(requested, f.name, 0) if requested is not None else 0
        ceiling = getattr(ceilings, f.name)
        if value < 0:
            raise LimitError(f"limits.{f.name} = {value} is negative: give a positive value, or 0 for the default {getattr(defaults, f.name)}")
        if value > ceiling:
            raise LimitError(f"limits.{f.name} = {value} is above this server's ceiling {ceiling}: ask for at most that")
        values[f.name] = value or getattr(defaults, f.name)
    return replace(defaults, **values)
