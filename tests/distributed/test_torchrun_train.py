"""``verity train`` under torchrun with the real default model, through real gRPC services started
once per machine: two processes train, and sample and score the first step exactly as one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.distributed, pytest.mark.model]

ROOT = Path(__file__).resolve().parents[2]
TINY = ["rollout.prompts_per_step=3", "rollout.group_size=4", "rollout.max_new_tokens=12", "eval.max_new_tokens=12", "data.arithmetic.test_size=6", "rewards.local_workers=1", "rollout.temperature=1.5", "train.threads=1", "train.device=cpu"]
ROLLOUTS = ["reward/mean", "accuracy", "tokens/generated", "response_length/mean", "scoring/ok", "scoring/wrong", "train/sequences_trained", "train/sequences_skipped"]


def verity_train(processes: int, out: Path, *overrides: str, flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node N -m verity.cli train ...``: the documented
    ``--no-python verity train`` with this checkout's code."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), "-m", "verity.cli", "train", *TINY, *overrides, f"train.output_dir={out}", *flags]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env=env, cwd=ROOT)


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "latest" / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_sample_and_score_the_first_step_as_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for processes, out in ((1, one), (2, two)):
        result = verity_train(processes, out, "train.steps=2")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    r1, r2 = records(one), records(two)
    assert [r["step"] for r in r1] == [r["step"] for r in r2] == [0, 1, 2]
    assert r1[0]["eval/accuracy"] == r2[0]["eval/accuracy"] and r2[0]["eval/samples"] == 6  # the held-out set, sharded and gathered
    for key in ROLLOUTS:
        assert r1[1][key] == r2[1][key], key
    assert r2[1]["scoring/ok"] + r2[1]["scoring/wrong"] == 12 and r2[1]["scoring/dropped_error"] == 0
    assert abs(r1[1]["grad_norm"] - r2[1]["grad_norm"]) <= 1e-4 * r1[1]["grad_norm"]  # float32 sums in another order
    assert (two / "latest" / "checkpoints" / "step-000002" / "model" / "model.safetensors").is_file() and (two / "latest" / "curves.png").is_file()


def worker_pids(local_rank: int) -> list[int]:
    """Processes of this machine running ``verity.cli train`` as torchrun's worker ``local_rank``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"verity.cli" in cmdline and b"train" in cmdline and f"LOCAL_RANK={local_rank}".encode() in environ:
            found.append(int(proc.name))
    return found


def test_a_killed_process_is_restarted_and_resumes_to_the_same_parameters(tmp_path):
    """SIGKILL to one process mid-step: torchrun restarts the job (``--max-restarts 1``), every
    process resumes from the last checkpoint, and the run ends where an uninterrupted one does."""
    import signal
    import time

    from trainer.model import load_model

    common = ["train.steps=3", "train.checkpoint_every=1", "eval.before=false", "eval.after=false"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert verity_train(2, straight, *common, flags=("--resume",)).returncode == 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--max-restarts", "1", "-m", "verity.cli", "train", *TINY, *common, f"train.output_dir={killed}", "--resume"]
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    deadline = time.monotonic() + 600
    while not (killed / "latest" / "checkpoints" / "step-000001").is_dir() and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.2)
    victims = worker_pids(local_rank=1)
    assert victims, "no second process to kill"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)  # mid-step 2: its checkpoint is not written yet
    assert not (killed / "latest" / "checkpoints" / "step-000002").exists()
    output, _ = job.communicate(timeout=900)
    assert job.returncode == 0, output[-6000:]
    assert "resuming from" in output and output.count("no earlier run of this name to resume") == 1  # the first start began a run; the restart resumed it
    a = load_model(str(straight / "latest" / "checkpoints" / "step-000003" / "model")).state_dict()
    b = load_model(str(killed / "latest" / "checkpoints" / "step-000003" / "model")).state_dict()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6  # float32 rounding of the resumed backward
    records = [json.loads(line) for line in (killed / "latest" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]


def test_two_machines_train_a_step(tmp_path):
    """Two torchrun agents of one process each, ``--nnodes 2``, meeting on a c10d rendezvous on
    loopback, as two machines would: each starts its own local services and they train together."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "two-machines"
    agents = [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(node), "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "verity-test",
             "-m", "verity.cli", "train", *TINY, "train.steps=1", "eval.before=false", f"train.output_dir={out}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
        for node in (0, 1)
    ]
    outputs = [agent.communicate(timeout=900)[0] for agent in agents]
    assert all(agent.returncode == 0 for agent in agents), "\n".join(o[-4000:] for o in outputs)
    (record,) = [json.loads(line) for line in (out / "latest" / "metrics.jsonl").read_text().splitlines()]
    assert record["scoring/ok"] + record["scoring/wrong"] == 12 and record["eval/samples"] == 6


def test_fsdp_trains_checkpoints_and_resumes_under_another_process_count(tmp_path):
    """Two processes sharding the real model (FSDP2) take the step one process takes, and write a
    checkpoint whose weights are a whole Hugging Face folder; one process resumes from it."""
    import torch

    from trainer.model import load_model

    common = ["eval.before=false", "eval.after=false", "train.checkpoint_every=1", "rollout.prompts_per_step=4", "rollout.group_size=8", "rollout.max_new_tokens=32", "rollout.temperature=1.0"]  # a step with a signal
    one, sharded = tmp_path / "one", tmp_path / "fsdp"
    for processes, out, extra in ((1, one, []), (2, sharded, ["train.parallel=fsdp"])):
        result = verity_train(processes, out, *common, *extra, "train.steps=1")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    assert len(list((sharded / "latest" / "checkpoints" / "step-000001" / "optimizer").glob("*.distcp"))) == 2  # each process wrote its shard
    (r1,), (r2,) = records(one), records(sharded)
    assert r1["grad_norm"] > 0 and r1["reward/mean"] == r2["reward/mean"] and r1["tokens/generated"] == r2["tokens/generated"]
    a = load_model(str(one / "latest" / "checkpoints" / "step-000001" / "model")).state_dict()
    b = load_model(str(sharded / "latest" / "checkpoints" / "step-000001" / "model")).state_dict()
    start = load_model("smollm2-135m-instruct").state_dict()
    assert abs(r1["grad_norm"] - r2["grad_norm"]) <= 1e-3 * r1["grad_norm"]
    step_one = torch.cat([(a[k] - start[k]).flatten() for k in start])
    step_two = torch.cat([(b[k] - start[k]).flatten() for k in start])
    # AdamW's first step is about lr * sign(g): float32 rounding flips the sign of a few gradients near 0
    assert step_one.norm() > 0 and (step_one - step_two).norm() <= 0.05 * step_one.norm()
    result = verity_train(1, sharded, *common, "train.steps=2", flags=("--resume",))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    assert "resuming from" in result.stderr and (sharded / "latest" / "checkpoints" / "step-000002").is_dir()
    assert [r["step"] for r in records(sharded)] == [1, 2]
