"""Rows of the code datasets people train on, mapped into the sample schema and the code
verifier's references (docs/schema.md), so that ``data.format`` and ``verity score --format`` read
them as they are published.

- ``humaneval``: ``task_id``, ``prompt`` (signature and docstring), ``test`` (``check(candidate)``),
  ``entry_point``. The prompt becomes the tests' ``setup_code`` (HumanEval/32, 38 and 50 test with
  helpers it defines). A response that does not define ``entry_point`` is taken as a completion of
  the prompt, as HumanEval's own evaluation takes it (prompt + completion).
- ``mbpp``: ``task_id``, ``text``, ``test_list`` (asserts calling the function by its name),
  ``test_setup_code``, and ``code`` (the reference solution, which names the function). The asserts
  become ``check(candidate)`` with the function's name bound to the candidate.

The competitive-programming formats (apps, livecodebench, prime, deepcoder, verl) are in
contests.py. A row keeps its other fields; one that cannot be mapped says which field is missing
or wrong.
"""

from __future__ import annotations

import ast
import builtins
import re
import textwrap
from collections.abc import Callable
from typing import Any

from rewards.code.contests import CONTEST_FORMATS
from rewards.code.rows import INSTRUCTION, DatasetRowError, mapped_sample, text_field


def from_humaneval(row: dict[str, Any], index: int) -> dict[str, Any]:
    prompt, test, entry = text_field(row, "prompt", "humaneval"), text_field(row, "test", "humaneval"), text_field(row, "entry_point", "humaneval")
    mapped = mapped_sample(
        row,
        ("task_id", "prompt", "test", "entry_point", "canonical_solution"),
        id=str(row.get("task_id", f"humaneval-{index}")),
        prompt=f"Complete this Python function.\n\n```python\n{prompt}```\n\n{INSTRUCTION}",
        reference={"test_code": test, "entry_point": entry, "setup_code": prompt},
    )
    response = row.get("response")
    if isinstance(response, str):
        mapped["response"] = response if _defines(response, entry) else f"```python\n{prompt}{response}\n```"
    return mapped


def _defines(response: str, name: str) -> bool:
    return re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", response, re.MULTILINE) is not None


def from_mbpp(row: dict[str, Any], index: int) -> dict[str, Any]:
    text = text_field(row, "text", "mbpp")
    asserts = row.get("test_list")
    if not isinstance(asserts, list) or not asserts or not all(isinstance(a, str) for a in asserts):
        raise DatasetRowError("field 'test_list' must be a non-empty list of assert statements in an mbpp row")
    name = _mbpp_function(row.get("code"), asserts)
    body = textwrap.indent("\n".join(asserts), "    ")
    mapped = mapped_sample(
        row,
        ("task_id", "text", "test_list", "test_setup_code", "challenge_test_list", "code"),
        id=f"mbpp-{row.get('task_id', index)}",
        prompt=f"{text}\nYour function must pass this test:\n{asserts[0]}\n\n{INSTRUCTION}",
        reference={"test_code": f"def check(candidate):\n    {name} = candidate\n{body}\n", "entry_point": name, "setup_code": row.get("test_setup_code") or ""},
    )
    return mapped


def _mbpp_function(code: Any, asserts: list[str]) -> str:
    """The function the asserts test: the reference solution's function that they call, else the
    first name they call that is not a builtin."""
    called: list[str] = []
    for statement in asserts:
        try:
            tree = ast.parse(statement)
        except SyntaxError:
            raise DatasetRowError(f"field 'test_list' holds a line that is not Python: {statement[:80]!r}") from None
        called += [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    if isinstance(code, str):
        defined = re.findall(r"^def\s+(\w+)\s*\(", code, re.MULTILINE)
        for name in called:
            if name in defined:
                return name
    for name in called:
        if not hasattr(builtins, name):
            return name
    raise DatasetRowError("field 'test_list': its asserts call no function of the solution")


def checked(mapper: Callable[[dict[str, Any], int], dict[str, Any]]) -> Callable[[dict[str, Any], int], dict[str, Any]]:
    """``mapper`` whose rows must map to a reference the code verifier takes: a row that would
    only ever score INVALID is reported (and skipped) when the file is read, not at scoring."""

    def mapped(row: dict[str, Any], index: int) -> dict[str, Any]:
        from rewards.code.reference import parse_reference  # pydantic: not for the CLI's light commands

        sample = mapper(row, index)
        parse_reference(sample["reference"])
        return sample

    return mapped


#: dataset format -> row mapper (row, index in the file) -> a row in the sample schema
ROW_FORMATS: dict[str, Callable[[dict[str, Any], int], dict[str, Any]]] = {name: checked(mapper) for name, mapper in {"humaneval": from_humaneval, "mbpp": from_mbpp, **CONTEST_FORMATS}.items()}
