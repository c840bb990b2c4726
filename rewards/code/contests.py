"""Rows of the competitive-programming datasets people train code RL on, mapped into the code
verifier's references (docs/schema.md), each judged as its dataset's own checker judges.

- ``apps``: APPS and TACO (``question``, ``input_output`` = {"inputs", "outputs", "fn_name"?},
  ``starter_code``). stdin/stdout cases compare tokens with numbers within 1e-5 relative (APPS
  compares with numpy's allclose); with ``fn_name``, function calls whose expected value is stored
  as ``[result]``.
- ``livecodebench``: LiveCodeBench's code generation rows (``question_content``, ``starter_code``,
  ``public_test_cases``, ``private_test_cases`` (JSON, or compressed pickle decoded by
  plain_pickle.py), ``metadata.func_name``). ``stdin`` cases compare tokens as decimals
  ("2.5000000000" equals "2.5"); ``functional`` cases call ``class Solution``'s method with one
  JSON argument per input line.
- ``prime``: PrimeIntellect's and open-r1's verifiable-coding-problems (``prompt``,
  ``verification_info`` = {"test_cases": [{"type": "stdin_stdout" | "function_call", "input",
  "output", "fn_name"?}]}).
- ``deepcoder``: the DeepCoder preview dataset (``problem``, ``tests``, ``starter_code``,
  ``metadata``), whose ``tests`` take the shape of the subset the row comes from (TACO's dict,
  PrimeIntellect's and Codeforces' lists, LiveCodeBench's list).
- ``verl``: verl-style rows (``prompt``, ``reward_model.ground_truth``) whose ground truth holds
  APPS-style or PrimeIntellect-style tests; the prompt is kept as it is.

Every solution runs after ``PRELUDE``, the imports these datasets' own harnesses add.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from contract.files import from_verl as verl_sample
from rewards.code.plain_pickle import UnsafePickleError, decode_private_cases
from rewards.code.rows import INSTRUCTION, DatasetRowError, mapped_sample, text_field

PRELUDE = """import bisect, collections, functools, heapq, itertools, math, random, re, string, sys
from bisect import *
from collections import *
from functools import *
from heapq import *
from itertools import *
from math import *
from typing import *
from builtins import *"""

APPS_TOLERANCE = {"rel_tol": 1e-5, "abs_tol": 1e-8}
STDIN_PROMPT = "{question}\n\nWrite a Python program that reads from standard input and prints to standard output. " + INSTRUCTION.replace("function", "program")
STARTER_PROMPT = "{question}\n\nComplete this starter code:\n```python\n{starter}\n```\n\n" + INSTRUCTION.replace("function", "solution")
CALL_PROMPT = "{question}\n\nWrite a Python function named {entry_point} that returns the answer. " + INSTRUCTION


def _json(value: Any, field: str, fmt: str) -> Any:
    """A field that datasets store either as JSON text or already decoded."""
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise DatasetRowError(f"field '{field}' of a {fmt} row is not valid JSON ({e.msg})") from None
    if value is None:
        raise DatasetRowError(f"field '{field}' is missing from a {fmt} row")
    return value


def _stdio(value: Any) -> str:
    """A stdin or stdout as text: some rows store it as a list of lines."""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value) + "\n"
    return value if isinstance(value, str) else json.dumps(value)


def io_reference(inputs: list[Any], outputs: list[Any], **compare: Any) -> dict[str, Any]:
    return {"tests": [{"stdin": _stdio(i), "stdout": _stdio(o)} for i, o in zip(inputs, outputs)], "compare": "tokens", "prelude": PRELUDE, **compare}


def call_reference(entry_point: str, args: list[list[Any]], expected: list[Any], in_list: bool, **compare: Any) -> dict[str, Any]:
    return {"calls": [{"args": a, "expected": e} for a, e in zip(args, expected)], "entry_point": entry_point, "expected_in_list": in_list, "prelude": PRELUDE, **compare}


def _prompt(question: str, reference: dict[str, Any], starter: Any) -> str:
    """The question, and what to answer with: a program for stdin/stdout tests; for function
    calls, the starter code to complete, or the function to write."""
    if "tests" in reference:
        return STDIN_PROMPT.format(question=question.strip())
    if isinstance(starter, str) and starter.strip():
        return STARTER_PROMPT.format(question=question.strip(), starter=starter.rstrip())
    return CALL_PROMPT.format(question=question.strip(), entry_point=reference["entry_point"])


def apps_reference(tests: Any, fmt: str) -> dict[str, Any]:
    """APPS / TACO ``input_output``: {"inputs": [...], "outputs": [...], "fn_name"?}."""
    if not isinstance(tests, dict) or not isinstance(tests.get("inputs"), list) or not isinstance(tests.get("outputs"), list):
        raise DatasetRowError(f'the tests of a {fmt} row must be {{"inputs": [...], "outputs": [...]}}')
    inputs, outputs = tests["inputs"], tests["outputs"]
    if not inputs or len(inputs) != len(outputs):
        raise DatasetRowError(f"the tests of a {fmt} row need as many outputs as inputs, at least one ({len(inputs)} inputs, {len(outputs)} outputs)")
    if tests.get("fn_name"):
        args = [i if isinstance(i, list) else [i] for i in inputs]
        return call_reference(tests["fn_name"], args, outputs, in_list=True, **APPS_TOLERANCE)
    return io_reference(inputs, outputs, **APPS_TOLERANCE)


def case_list_reference(cases: Any, fmt: str, func_name: str | None = None) -> dict[str, Any]:
    """A list of cases ``{"input", "output"}`` typed as PrimeIntellect types them (``type``:
    stdin_stdout / function_call with ``fn_name``) or as LiveCodeBench does (``testtype``: stdin /
    functional, the function named by ``func_name``)."""
    if not isinstance(cases, list) or not cases or not all(isinstance(c, dict) and "input" in c and "output" in c for c in cases):
        raise DatasetRowError(f'the tests of a {fmt} row must be a non-empty list of {{"input", "output"}}')
    kind = cases[0].get("type") or cases[0].get("testtype") or "stdin_stdout"
    func_name = func_name or _func_name(cases[0].get("metadata"))  # DeepCoder's LiveCodeBench rows may name it per case
    if kind == "functional":  # LiveCodeBench: one JSON argument per input line
        if not func_name:
            raise DatasetRowError(f"a {fmt} row with functional tests needs metadata.func_name")
        if not all(isinstance(c["input"], str) and isinstance(c["output"], str) for c in cases):
            raise DatasetRowError(f"the functional tests of a {fmt} row hold 'input' and 'output' as JSON text, one argument per input line")
        args = [[_json(line, "input", fmt) for line in c["input"].split("\n") if line.strip()] for c in cases]
        return call_reference(func_name, args, [_json(c["output"], "output", fmt) for c in cases], in_list=False)
    if kind == "function_call":
        name = cases[0].get("fn_name") or func_name
        if not name:
            raise DatasetRowError(f"a {fmt} row with function_call tests needs fn_name")
        args = [_json(c["input"], "input", fmt) for c in cases]
        expected = [_json(c["output"], "output", fmt) for c in cases]
        return call_reference(name, [a if isinstance(a, list) else [a] for a in args], expected, in_list=True, **APPS_TOLERANCE)
    tolerance = {} if kind == "stdin" else APPS_TOLERANCE  # LiveCodeBench compares decimals exactly
    return io_reference([c["input"] for c in cases], [c["output"] for c in cases], **tolerance)


def _func_name(metadata: Any) -> str | None:
    if isinstance(metadata, str) and metadata.strip():
        try:
            metadata = json.loads(metadata)
        except json.JSONDecodeError:
            return None
    return metadata.get("func_name") if isinstance(metadata, dict) else None


def from_apps(row: dict[str, Any], index: int) -> dict[str, Any]:
    question = text_field(row, "question", "apps")
    reference = apps_reference(_json(row.get("input_output"), "input_output", "apps"), "apps")
    ident = row.get("problem_id", row.get("id", index))
    return mapped_sample(row, ("question", "input_output", "starter_code"), id=f"apps-{ident}", prompt=_prompt(question, reference, row.get("starter_code")), reference=reference)


def from_livecodebench(row: dict[str, Any], index: int) -> dict[str, Any]:
    question = text_field(row, "question_content", "livecodebench")
    cases = _json(row.get("public_test_cases"), "public_test_cases", "livecodebench")
    if not isinstance(cases, list):
        raise DatasetRowError(f"field 'public_test_cases' of a livecodebench row must be a list of cases, not {type(cases).__name__}")
    private = row.get("private_test_cases")
    if isinstance(private, str) and private.strip():
        try:
            cases += decode_private_cases(private)
        except (UnsafePickleError, json.JSONDecodeError) as e:
            raise DatasetRowError(f"field 'private_test_cases': {e}") from None
    reference = case_list_reference(cases, "livecodebench", _func_name(row.get("metadata")))
    return mapped_sample(row, ("question_content", "public_test_cases", "private_test_cases", "starter_code"), id=f"lcb-{row.get('question_id', index)}", prompt=_prompt(question, reference, row.get("starter_code")), reference=reference)


def from_prime(row: dict[str, Any], index: int) -> dict[str, Any]:
    prompt = text_field(row, "prompt", "prime")
    info = _json(row.get("verification_info"), "verification_info", "prime")
    if not isinstance(info, dict) or "test_cases" not in info:
        raise DatasetRowError('field \'verification_info\' of a prime row must be {"test_cases": [...]}')
    reference = case_list_reference(info["test_cases"], "prime")
    return mapped_sample(row, ("prompt", "verification_info"), id=str(row.get("problem_id", f"prime-{index}")), prompt=f"{prompt.strip()}\n\n{INSTRUCTION.replace('function', 'solution')}", reference=reference)


def from_deepcoder(row: dict[str, Any], index: int) -> dict[str, Any]:
    question = text_field(row, "problem", "deepcoder")
    tests = _json(row.get("tests"), "tests", "deepcoder")
    reference = apps_reference(tests, "deepcoder") if isinstance(tests, dict) else case_list_reference(tests, "deepcoder", _func_name(row.get("metadata")))
    return mapped_sample(row, ("problem", "tests", "starter_code"), id=f"deepcoder-{index}", prompt=_prompt(question, reference, row.get("starter_code")), reference=reference)


def from_verl(row: dict[str, Any], index: int) -> dict[str, Any]:
    reward_model = row.get("reward_model")
    if not isinstance(reward_model, dict) or "ground_truth" not in reward_model:
        raise DatasetRowError("field 'reward_model.ground_truth' is missing from a verl row")
    if row.get("prompt") is None:
        raise DatasetRowError("field 'prompt' is missing from a verl row")
    truth = _json(reward_model["ground_truth"], "reward_model.ground_truth", "verl")
    if isinstance(truth, dict) and "test_cases" in truth:
        truth = truth["test_cases"]
    reference = apps_reference(truth, "verl") if isinstance(truth, dict) else case_list_reference(truth, "verl")
    return {**verl_sample(row, index, "code"), "reference": reference}  # id, prompt and other columns as verl's math rows map


#: dataset format -> row mapper (row, index in the file) -> a row in the sample schema
CONTEST_FORMATS: dict[str, Callable[[dict[str, Any], int], dict[str, Any]]] = {
    "apps": from_apps, "livecodebench": from_livecodebench, "prime": from_prime, "deepcoder": from_deepcoder, "verl": from_verl,
}  # fmt: skip
