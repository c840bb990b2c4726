"""From a request to the runner's job, and from the runner's step results to statuses.

A request is checked before anything runs; a malformed one is a :class:`RequestError` (the
result status INVALID, with the field and the fix in the detail), never a gRPC error. A program
that runs too long, prints too much or dies is a result status of its own, too.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import PurePosixPath

from sandbox.isolation import PROGRAM_ENV
from sandbox.languages import Language
from sandbox.limits import COMPILE_LIMITS, LimitError, Limits, resolve

MAX_CODE_BYTES = 1024 * 1024
MAX_FILES = 64
MAX_ARGV_BYTES = 128 * 1024  # per case, all arguments together
HOST_SLACK_S = 5.0  # beyond the sum of the steps' wall limits, before the host kills the environment
RUNNER_PROCESSES = 2  # bubblewrap's init and the runner count against the slot uid's process limit
MEMORY_SIGNS = (b"MemoryError", b"std::bad_alloc", b"Cannot allocate memory", b"out of memory")


class RequestError(ValueError):
    """The request is malformed; the message names the field and the fix."""


@dataclass(frozen=True)
class Case:
    stdin: bytes = b""
    argv: tuple[str, ...] = ()


@dataclass
class Program:
    """A checked request: what to write into the working directory and how to run it."""

    code: bytes
    language: Language
    files: list[tuple[str, bytes]]
    limits: Limits


@dataclass
class StepResult:
    """One step's outcome, with its status; mirrors the proto's ``ExecuteResult``."""

    status: str  # OK | RUNTIME_ERROR | TIMEOUT | MEMORY_LIMIT | OUTPUT_LIMIT | COMPILE_ERROR | INVALID | ERROR
    exit_code: int = 0
    signal: int = 0
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    wall_time_s: float = 0.0
    cpu_time_s: float = 0.0
    max_rss_bytes: int = 0
    detail: str = ""


def check_program(code: bytes, language: str, files: list[tuple[str, bytes]], requested_limits, languages: dict[str, Language]) -> Program:
    """Validate a request; raises RequestError naming the field."""
    name = language or "python"
    if name not in languages:
        hint = " (this server has no g++: install it to run C++)" if name == "cpp" else ""
        raise RequestError(f"language '{name}' is not supported{hint}: use one of {', '.join(sorted(languages))}")
    if not code.strip():
        raise RequestError("code is empty: send the program's source")
    if len(code) > MAX_CODE_BYTES:
        raise RequestError(f"code is {len(code)} bytes, above the limit of {MAX_CODE_BYTES}: send a smaller program")
    lang = languages[name]
    if len(files) > MAX_FILES:
        raise RequestError(f"files has {len(files)} entries, above the limit of {MAX_FILES}")
    for path, _ in files:
        p = PurePosixPath(path)
        if not path or p.is_absolute() or ".." in p.parts or str(p) in (lang.source, ".") or "\0" in path:
            raise RequestError(f"files: path '{path}' is not allowed: give a relative path inside the working directory, without '..', other than {lang.source}")
    try:
        limits = resolve(requested_limits)
    except LimitError as e:
        raise RequestError(str(e)) from None
    return Program(code, lang, list(files), limits)


def check_cases(cases: list[Case]) -> list[Case]:
    """Validate the test cases; raises RequestError naming the field."""
    for i, case in enumerate(cases):
        size = sum(len(a.encode()) + 1 for a in case.argv)
        if size > MAX_ARGV_BYTES:
            raise RequestError(f"argv of case {i} is {size} bytes, above the limit of {MAX_ARGV_BYTES}: pass large inputs on stdin or as files")
        if any("\0" in a for a in case.argv):
            raise RequestError(f"argv of case {i} contains a NUL character: remove it")
    return cases


def make_job(program: Program, cases: list[Case], stop_on_failure: bool) -> tuple[dict, float]:
    """The runner's job (an optional compile step, then one step per case) and the host's overall
    timeout for it (seconds)."""

    def step(argv, stdin: bytes, limits: Limits) -> dict:
        runner_limits = limits.for_runner()
        runner_limits["processes"] += RUNNER_PROCESSES
        return {"argv": list(argv), "stdin": stdin, "env": PROGRAM_ENV, "max_output": limits.max_output_bytes, "limits": runner_limits}

    files = [(program.language.source, program.code), *program.files]
    steps = [step(program.language.compile, b"", COMPILE_LIMITS)] if program.language.compile else []
    steps += [step((*program.language.run, *case.argv), case.stdin, program.limits) for case in cases]
    job = {"files": files, "steps": steps, "stop_on_failure": stop_on_failure, "first_must_pass": bool(program.language.compile)}
    timeout = sum(s["limits"]["wall_s"] for s in steps) + HOST_SLACK_S
    return job, timeout


def step_result(raw: dict, limits: Limits, compile_step: bool = False) -> StepResult:
    """Status of one finished step from the runner's record."""
    stdout, stderr = raw["stdout"], raw["stderr"]
    r = StepResult(
        status="OK", exit_code=raw["exit_code"], signal=raw["signal"], stdout=stdout, stderr=stderr,
        stdout_truncated=raw["stdout_truncated"], stderr_truncated=raw["stderr_truncated"],
        wall_time_s=raw["wall_s"], cpu_time_s=raw["cpu_s"], max_rss_bytes=raw["max_rss"],
    )  # fmt: skip
    cpu_killed = r.signal in (signal.SIGXCPU, signal.SIGKILL) and r.cpu_time_s >= limits.cpu_time_s * 0.95
    if raw["timed_out"] or cpu_killed:
        r.status, r.detail = "TIMEOUT", f"killed after {'wall' if raw['timed_out'] else 'CPU'} time limit ({limits.wall_time_s if raw['timed_out'] else limits.cpu_time_s:g}s)"
    elif raw["output_limited"]:
        r.status, r.detail = "OUTPUT_LIMIT", f"killed after writing more than {limits.max_output_bytes} bytes to stdout or stderr"
    elif r.exit_code == 0 and r.signal == 0:
        r.status = "OK"
    elif compile_step:
        r.status, r.detail = "COMPILE_ERROR", "the compiler failed: see stderr"
    elif any(sign in stderr for sign in MEMORY_SIGNS):
        r.status, r.detail = "MEMORY_LIMIT", f"ran out of its {limits.memory_bytes}-byte address space"
    else:
        how = f"killed by signal {r.signal} ({signal.Signals(r.signal).name})" if r.signal else f"exited with code {r.exit_code}"
        r.status, r.detail = "RUNTIME_ERROR", how
    return r


def missing_result(environment_stderr: str, host_timed_out: bool) -> StepResult:
    """The result of a step that never reported: the environment ended before it."""
    if host_timed_out:
        return StepResult(status="TIMEOUT", detail="the run as a whole passed its time limit")
    if "bwrap:" in environment_stderr or "Traceback" in environment_stderr:
        return StepResult(status="ERROR", detail=f"the sandbox failed: {environment_stderr.strip()[-500:]}")
    said = f" ({environment_stderr.strip()[-300:]})" if environment_stderr.strip() else ""
    return StepResult(status="RUNTIME_ERROR", detail=f"the sandbox's runner was killed by the program (kill -1 or similar) before this step ended{said}")
