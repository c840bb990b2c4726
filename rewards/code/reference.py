"""The two reference shapes of a code sample (docs/schema.md), validated with the field named on error.

stdin/stdout:   {"tests": [{"stdin": "...", "stdout": "..."}], "compare": "lines", "time_limit_s": 2}
function calls: {"calls": [{"args": [...], "expected": ...}], "entry_point": "f", "time_limit_s": 10}
HumanEval:      {"test_code": "def check(candidate): ...", "entry_point": "f", "setup_code": "...",
                 "time_limit_s": 10}
``setup_code`` is trusted code the tests need (HumanEval's prompt, which defines helpers such as
``poly``); it runs beside the tests, never with the solution. ``prelude`` is code put before the
solution (the imports a dataset's own harness adds, so a solution that relies on them runs).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class IOTest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stdin: str = ""
    stdout: str


class IOReference(BaseModel):
    """Each test feeds stdin and compares the whole stdout: ``lines`` (trailing whitespace per line
    and trailing blank lines ignored) or ``tokens`` (whitespace-separated tokens, numbers compared
    as decimals within ``rel_tol`` / ``abs_tol``, line breaks not counted)."""

    model_config = ConfigDict(extra="forbid")
    tests: list[IOTest] = Field(min_length=1, max_length=100_000)
    compare: Literal["lines", "tokens"] = "lines"
    rel_tol: float = Field(default=0.0, ge=0, description="tokens: relative tolerance of numbers")
    abs_tol: float = Field(default=0.0, ge=0, description="tokens: absolute tolerance of numbers")
    prelude: str = ""
    time_limit_s: float = Field(default=2.0, gt=0, le=60, description="CPU seconds per test case")
    memory_mb: int = Field(default=1024, gt=0, le=4096, description="address space per process")
    language: Literal["python", "cpp"] = "python"


class FunctionReference(BaseModel):
    """HumanEval style: ``check(candidate)`` from ``test_code`` must return."""

    model_config = ConfigDict(extra="forbid")
    test_code: str = Field(min_length=1)
    entry_point: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    setup_code: str = ""
    time_limit_s: float = Field(default=10.0, gt=0, le=60, description="seconds for the whole check")
    memory_mb: int = Field(default=1024, gt=0, le=4096)
    language: Literal["python"] = "python"


class Call(BaseModel):
    model_config = ConfigDict(extra="forbid")
    args: list[Any]
    expected: Any


class CallReference(BaseModel):
    """Function-call tests: ``entry_point(*args)`` must return ``expected`` (JSON values; a tuple
    counts as a list, numbers within ``rel_tol`` / ``abs_tol``). ``entry_point`` names a function,
    or a method of the solution's ``class Solution`` (LeetCode style). ``expected_in_list``: each
    expected value is stored as ``[result]``, as APPS stores it, and either form passes."""

    model_config = ConfigDict(extra="forbid")
    calls: list[Call] = Field(min_length=1, max_length=100_000)
    entry_point: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    expected_in_list: bool = False
    rel_tol: float = Field(default=0.0, ge=0)
    abs_tol: float = Field(default=0.0, ge=0)
    prelude: str = ""
    time_limit_s: float = Field(default=10.0, gt=0, le=60, description="seconds for all calls")
    memory_mb: int = Field(default=1024, gt=0, le=4096)
    language: Literal["python"] = "python"


class CodeReferenceError(ValueError):
    """The reference is malformed; the message names the field and the fix."""


def parse_reference(reference: dict) -> IOReference | CallReference | FunctionReference:
    if "tests" in reference:
        model = IOReference
    elif "calls" in reference:
        model = CallReference
    elif "test_code" in reference or "entry_point" in reference:
        model = FunctionReference
    else:
        raise CodeReferenceError('reference needs "tests" ([{"stdin", "stdout"}, ...]), "calls" ([{"args", "expected"}, ...]) with "entry_point", or "test_code" with "entry_point"')
    try:
        return model.model_validate(reference)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise CodeReferenceError(f"reference.{loc}: {first['msg']}") from None
