"""The competitive-programming datasets in their own row formats, written as files in that format,
scored with ``verity score --format`` by the real code verifier on the real sandbox: each format
with a right answer (OK, including answers that differ only as the dataset's own checker allows)
and a wrong one (WRONG)."""

from __future__ import annotations

import base64
import json
import pickle
import subprocess
import sys
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contract.schema import parse_sample
from rewards.code.contests import PRELUDE, from_apps, from_deepcoder, from_livecodebench, from_prime, from_verl
from rewards.code.rows import DatasetRowError

ROOT = Path(__file__).resolve().parents[2]


def fenced(code: str) -> str:
    return f"Here it is.\n```python\n{code}\n```\n"


MEAN = "n = int(input())\nxs = list(map(int, input().split()))\nprint(sum(xs) / n)"  # prints 2.0, or 2.5
MEAN_WRONG = "n = int(input())\nxs = list(map(int, input().split()))\nprint(sum(xs) // n + 1)"
TWO_SUM = "class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n                return (seen[target - x], i)\n            seen[x] = i\n"
TWO_SUM_WRONG = "class Solution:\n    def twoSum(self, nums, target):\n        return [0, 0]\n"
PROFIT = "class Solution:\n    def maxProfit(self, prices: List[int]) -> int:\n        best, low = 0, inf\n        for p in prices:\n            low = min(low, p)\n            best = max(best, p - low)\n        return best\n"  # List and inf come from the prelude
PROFIT_WRONG = "class Solution:\n    def maxProfit(self, prices: List[int]) -> int:\n        return max(prices) - min(prices)\n"


def apps_rows() -> list[dict]:
    stdin = {"problem_id": 1, "question": "Print the mean of n integers.", "starter_code": "", "input_output": json.dumps({"inputs": ["3\n1 2 3\n", "2\n2 3\n"], "outputs": ["2.000000\n", "2.5000001\n"]})}
    call = {"problem_id": 2, "question": "Add two numbers.", "starter_code": "def add(a, b):", "input_output": json.dumps({"fn_name": "add", "inputs": [[1, 2], [3, 4]], "outputs": [[3], [7]]})}
    leet = {"problem_id": 3, "question": "Two sum.", "starter_code": "class Solution:\n    def twoSum(self, nums, target):", "input_output": json.dumps({"fn_name": "twoSum", "inputs": [[[2, 7, 11, 15], 9], [[3, 2, 4], 6]], "outputs": [[[0, 1]], [[1, 2]]]})}
    return [
        {**stdin, "response": fenced(MEAN)}, {**stdin, "problem_id": 11, "response": fenced(MEAN_WRONG)},
        {**call, "response": fenced("def add(a, b):\n    return a + b")}, {**call, "problem_id": 12, "response": fenced("def add(a, b):\n    return a - b")},
        {**leet, "response": fenced(TWO_SUM)}, {**leet, "problem_id": 13, "response": fenced(TWO_SUM_WRONG)},
    ]  # fmt: skip


def lcb_private(cases: list[dict]) -> str:
    """LiveCodeBench's storage: base64(zlib(pickle(json text)))."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode()


def lcb_rows() -> list[dict]:
    stdin = {
        "question_id": "abc001", "question_title": "Mean", "question_content": "Print the mean of n integers.", "platform": "atcoder", "starter_code": "", "metadata": "{}",
        "public_test_cases": json.dumps([{"input": "3\n1 2 3\n", "output": "2.0000000000\n", "testtype": "stdin"}]),
        "private_test_cases": lcb_private([{"input": "2\n2 3\n", "output": "2.5\n", "testtype": "stdin"}]),
    }  # fmt: skip
    functional = {
        "question_id": "121", "question_title": "Stock", "question_content": "Best profit from one buy and one later sell.", "platform": "leetcode",
        "starter_code": "class Solution:\n    def maxProfit(self, prices: List[int]) -> int:\n        ", "metadata": json.dumps({"func_name": "maxProfit"}),
        "public_test_cases": json.dumps([{"input": "[7,1,5,3,6,4]", "output": "5", "testtype": "functional"}]),
        "private_test_cases": lcb_private([{"input": "[7,6,4,3,1]", "output": "0", "testtype": "functional"}, {"input": "[2,9,1,3]", "output": "7", "testtype": "functional"}]),
    }  # fmt: skip
    return [
        {**stdin, "response": fenced(MEAN)}, {**stdin, "question_id": "abc002", "response": fenced(MEAN_WRONG)},
        {**functional, "response": fenced(PROFIT)}, {**functional, "question_id": "122", "response": fenced(PROFIT_WRONG)},
    ]  # fmt: skip


def prime_rows() -> list[dict]:
    stdin = {"problem_id": "p1", "source": "codeforces", "task_type": "verifiable_code", "prompt": "Print the mean of n integers.", "verification_info": json.dumps({"language": "python", "test_cases": [{"type": "stdin_stdout", "input": "3\n1 2 3\n", "output": "2.0\n"}, {"type": "stdin_stdout", "input": "2\n2 3\n", "output": "2.5\n"}]})}
    call = {"problem_id": "p2", "source": "taco", "task_type": "verifiable_code", "prompt": "Multiply.", "verification_info": json.dumps({"language": "python", "test_cases": [{"type": "function_call", "fn_name": "mul", "input": [2, 3], "output": [6]}, {"type": "function_call", "fn_name": "mul", "input": [4, 5], "output": [20]}]})}
    return [
        {**stdin, "response": fenced(MEAN)}, {**stdin, "problem_id": "p1w", "response": fenced(MEAN_WRONG)},
        {**call, "response": fenced("def mul(a, b):\n    return a * b")}, {**call, "problem_id": "p2w", "response": fenced("def mul(a, b):\n    return a + b + 1")},
    ]  # fmt: skip


def deepcoder_rows() -> list[dict]:
    taco = {"problem": "Add two numbers.", "starter_code": "def add(a, b):", "tests": json.dumps({"fn_name": "add", "inputs": [[1, 2]], "outputs": [[3]]}), "metadata": {}}
    prime = {"problem": "Print the mean of n integers.", "tests": json.dumps([{"type": "stdin_stdout", "input": "3\n1 2 3\n", "output": "2.0\n"}]), "metadata": {}}
    lcb = {"problem": "Best profit.", "starter_code": "class Solution:\n    def maxProfit(self, prices: List[int]) -> int:\n        ", "tests": json.dumps([{"input": "[7,1,5,3,6,4]", "output": "5", "testtype": "functional", "metadata": {"func_name": "maxProfit"}}]), "metadata": {"func_name": "maxProfit"}}
    return [
        {**taco, "response": fenced("def add(a, b):\n    return a + b")}, {**taco, "response": fenced("def add(a, b):\n    return 0")},
        {**prime, "response": fenced(MEAN)}, {**prime, "response": fenced(MEAN_WRONG)},
        {**lcb, "response": fenced(PROFIT)}, {**lcb, "response": fenced(PROFIT_WRONG)},
    ]  # fmt: skip


def verl_rows() -> list[dict]:
    def row(index: int, response: str) -> dict:
        truth = json.dumps({"inputs": ["3\n1 2 3\n", "2\n2 3\n"], "outputs": ["2\n", "2.5\n"]})
        return {"data_source": "codecontests", "prompt": [{"role": "user", "content": "Print the mean of n integers."}], "ability": "code", "reward_model": {"style": "rule", "ground_truth": truth}, "extra_info": {"index": index, "split": "train"}, "response": response}

    return [row(0, fenced(MEAN)), row(1, fenced(MEAN_WRONG))]


FORMATS = {"apps": apps_rows, "livecodebench": lcb_rows, "prime": prime_rows, "deepcoder": deepcoder_rows, "verl": verl_rows}


def write(tmp_path: Path, fmt: str, rows: list[dict]) -> Path:
    if fmt == "verl":  # verl's datasets are Parquet
        path = tmp_path / "verl.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path = tmp_path / f"{fmt}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def score(path: Path, fmt: str, *args: str) -> tuple[int, list[dict], str]:
    out = path.with_suffix(".scores.jsonl")
    result = subprocess.run([sys.executable, "-m", "verity.cli", "score", "--format", fmt, "--input", str(path), "--output", str(out), "--workers", "1", *args], capture_output=True, text=True, timeout=600, cwd=ROOT)
    return result.returncode, [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else [], result.stderr


@pytest.mark.sandbox
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_right_answers_pass_and_wrong_ones_fail(tmp_path, fmt):
    rows = FORMATS[fmt]()
    code, scored, stderr = score(write(tmp_path, fmt, rows), fmt)
    assert code == 0, stderr
    assert [r["status"] for r in scored] == ["OK", "WRONG"] * (len(rows) // 2), [(r["status"], r["detail"]) for r in scored]


def test_rows_map_into_one_schema():
    apps = [parse_sample(from_apps(r, i), "x") for i, r in enumerate(apps_rows())]
    assert apps[0].reference["compare"] == "tokens" and apps[0].reference["rel_tol"] == 1e-5 and apps[0].reference["prelude"] == PRELUDE
    assert apps[2].reference["calls"][1] == {"args": [3, 4], "expected": [7]} and apps[2].reference["expected_in_list"]
    assert apps[0].prompt.startswith("Print the mean") and "standard input" in apps[0].prompt
    assert "def add(a, b):" in apps[2].prompt  # the starter code is in the prompt
    lcb = [from_livecodebench(r, i) for i, r in enumerate(lcb_rows())]
    assert [t["stdout"] for t in lcb[0]["reference"]["tests"]] == ["2.0000000000\n", "2.5\n"]  # public, then the decoded private cases
    assert lcb[0]["reference"].get("rel_tol", 0) == 0  # LiveCodeBench compares decimals exactly
    assert lcb[2]["reference"]["calls"][2] == {"args": [[2, 9, 1, 3]], "expected": 7} and not lcb[2]["reference"]["expected_in_list"]
    assert lcb[0]["platform"] == "atcoder"  # fields the mapping does not use stay
    per_case = {"problem": "p", "tests": json.dumps([{"input": "[1,2]", "output": "3", "testtype": "functional", "metadata": {"func_name": "f"}}]), "metadata": {}}
    assert from_deepcoder(per_case, 0)["reference"]["entry_point"] == "f"  # the function named in the case's own metadata
    verl = from_verl(verl_rows()[0], 0)
    assert verl["id"] == "codecontests-0" and verl["prompt"][0]["content"].startswith("Print") and verl["verifier"] == "code"


@pytest.mark.parametrize(
    ("mapper", "row", "field"),
    [
        (from_apps, {"question": "q", "input_output": "{not json"}, "input_output"),
        (from_apps, {"question": "q", "input_output": json.dumps({"inputs": ["1"], "outputs": []})}, "as many outputs as inputs"),
        (from_apps, {"input_output": "{}"}, "question"),
        (from_livecodebench, {"question_content": "q", "public_test_cases": "[]", "private_test_cases": base64.b64encode(zlib.compress(pickle.dumps(Path("x")))).decode()}, "private_test_cases"),
        (from_livecodebench, {"question_content": "q", "public_test_cases": json.dumps([{"input": "1", "output": "1", "testtype": "functional"}]), "metadata": "{}"}, "func_name"),
        (from_prime, {"prompt": "p", "verification_info": json.dumps({"language": "python"})}, "verification_info"),
        (from_deepcoder, {"problem": "p", "tests": json.dumps([{"input": "1"}])}, "tests"),
        (from_verl, {"prompt": "p", "reward_model": {"style": "rule"}}, "reward_model.ground_truth"),
    ],
)
def test_a_row_that_cannot_be_mapped_names_its_field(mapper, row, field):
    with pytest.raises(DatasetRowError, match=field.replace(".", r"\.")):
        mapper(row, 0)


def test_training_reads_every_format(tmp_path):
    from trainer.config import load_config
    from trainer.run import load_data

    for fmt, make_rows in FORMATS.items():
        rows = make_rows()
        path = write(tmp_path, fmt, [{k: v for k, v in r.items() if k != "response"} for r in rows])
        train, _ = load_data(load_config(None, [f"data.format={fmt}", f"data.train={path}", f"data.test={path}"]))
        assert len(train) == len(rows) and {s.verifier for s in train} == {"code"}, fmt
        assert all("tests" in s.reference or "calls" in s.reference for s in train)


def test_every_row_format_is_a_data_format():
    from typing import get_args

    from rewards.code.datasets import ROW_FORMATS
    from trainer.config import DataConfig

    assert set(ROW_FORMATS) == set(get_args(DataConfig.model_fields["format"].annotation)) - {"samples", "teleqna", "oran-bench"}
