"""``verity serve telecom`` over real gRPC: mixed batches in order, Describe, and `verity score`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from contract.schema import Sample
from rewards.client import VerifierClient
from serving.local import LocalServices


def sample(i: int, reference: dict, response: str) -> Sample:
    return Sample(id=f"t{i}", verifier="telecom", prompt="q", reference=reference, response=response)


BATCH = [
    sample(0, {"kind": "mcq", "options": ["15 kHz", "30 kHz"], "answer": "option 2: 30 kHz"}, "\\boxed{B}"),
    sample(1, {"kind": "numeric", "answer": 30, "unit": "dBm"}, "The answer is \\boxed{1 W}."),
    sample(2, {"kind": "numeric", "answer": 30, "unit": "dBm"}, "either 30 dBm or 33 dBm"),
    sample(3, {"kind": "label", "answer": "FR1", "labels": ["FR1", "FR2"]}, "\\boxed{FR1}"),
    sample(4, {"kind": "numeric", "answer": 1, "unit": "parsec"}, "1"),
    sample(5, {"kind": "mcq", "options": ["a", "b", "c"], "answer": 2}, "1, 2 or 3"),
]


def test_telecom_service_scores_a_mixed_batch_in_order_and_describes_itself():
    async def go(address):
        client = VerifierClient([address])
        try:
            return await client.score(BATCH), await client.describe()
        finally:
            await client.close()

    with LocalServices(["telecom"]) as endpoints:
        scores, info = asyncio.run(go(endpoints["telecom"][0]))
    assert [s.id for s in scores] == [s.id for s in BATCH]
    assert [s.status.value for s in scores] == ["OK", "OK", "WRONG", "OK", "INVALID", "WRONG"]
    assert [s.reward for s in scores] == [1.0, 1.0, 0.0, 1.0, 0.0, 0.0]
    assert "different values" in scores[2].detail and "unknown unit 'parsec'" in scores[4].detail and "names 3 options" in scores[5].detail
    assert info.name == "telecom" and {"mcq", "numeric", "label"} <= set(json.dumps(json.loads(info.reference_schema_json)).replace('"', " ").split())


def test_verity_score_grades_telecom_samples(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps(s.model_dump()) + "\n" for s in BATCH))
    result = subprocess.run([sys.executable, "-m", "verity.cli", "score", "--input", str(inp), "--output", str(out)], capture_output=True, text=True, timeout=180)
    assert result.returncode == 1, result.stderr  # one INVALID row
    assert [json.loads(line)["status"] for line in out.read_text().splitlines()] == ["OK", "OK", "WRONG", "OK", "INVALID", "WRONG"]
