"""Data parallelism across processes (torchrun, gloo on CPU): two processes, each with its share
of every step's groups, take the same steps as one process on the whole batch, for every family of
algorithm and both ways of sharing the model (ddp, and FSDP2's fsdp): the same rollouts and
rewards, and parameters equal to float64 rounding."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import load_script

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("worker.py")
FAMILIES = ["token-mean", "seq-mean", "otb", "dppo-topk", "dapo", "dash", "combined"]
SAME = ["reward/mean", "accuracy", "tokens/generated", "response_length/mean", "scoring/ok", "scoring/wrong", "train/sequences_trained", "train/sequences_skipped", "dash/filtered_fraction"]  # counts and rollouts: exactly equal
CLOSE = ["loss", "grad_norm", "entropy"]  # float64 sums in another order


def torchrun(processes: int, out: Path, parallel: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), str(WORKER), str(out), parallel, *FAMILIES]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {"one": tmp_path_factory.mktemp("one"), "ddp": tmp_path_factory.mktemp("ddp"), "fsdp": tmp_path_factory.mktemp("fsdp")}
    torchrun(1, out["one"], "ddp")
    torchrun(2, out["ddp"], "ddp")
    torchrun(2, out["fsdp"], "fsdp")
    return out


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
@pytest.mark.parametrize("family", FAMILIES)
def test_two_processes_take_the_steps_of_one(runs, family, parallel):
    one, two = runs["one"] / family, runs[parallel] / family
    p1, p2 = torch.load(one / "params.pt"), torch.load(two / "params.pt")
    start = load_script("tests/distributed/worker.py", "data_parallel_worker").tiny_model().state_dict()
    assert max(float((p1[k] - start[k]).abs().max()) for k in p1) > 1e-4, "the run did not move the parameters: the check would be empty"
    assert max(float((p1[k] - p2[k]).abs().max()) for k in p1) < 1e-10
    m1, m2 = json.loads((one / "metrics.json").read_text()), json.loads((two / "metrics.json").read_text())
    for a, b in zip(m1, m2):
        for key in SAME:
            assert a[key] == b[key], f"{family}: {key} {a[key]} != {b[key]}"
        for key in CLOSE:
            assert math.isclose(a[key], b[key], rel_tol=1e-9, abs_tol=1e-12), f"{family}: {key} {a[key]} != {b[key]}"
        for key in [k for k in a if k.startswith(("dapo/", "otb/", "dppo/", "rlpt/"))]:
            assert math.isclose(a[key], b[key], rel_tol=1e-9, abs_tol=1e-12), f"{family}: {key} {a[key]} != {b[key]}"
    assert any(r["train/sequences_trained"] > 0 for r in m1)
