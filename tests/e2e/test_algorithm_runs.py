"""Every algorithm end to end with the real model and real gRPC verifier subprocesses, and DASH's
two promises on the trainer itself: preemptive sampling changes no gradient, filtered samples cost
no forward or backward pass."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from contract.schema import Score, Status
from rewards.math.check import check_one
from trainer.config import load_config
from trainer.data.arithmetic import arithmetic_splits
from trainer.loop import Trainer
from trainer.model import load_model, load_tokenizer
from trainer.rollout.base import RolloutEngine
from trainer.rollout.hf import HFEngine
from trainer.run import train_main

pytestmark = pytest.mark.model

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SHORT = [
    "rollout.prompts_per_step=2",
    "rollout.group_size=4",
    "rollout.max_new_tokens=24",
    "eval.max_new_tokens=24",
    "eval.before=false",
    "data.arithmetic.high=6",
    "data.arithmetic.test_size=4",
    "rewards.local_workers=1",
    "train.steps=2",
    "train.micro_batch_size=4",
]

# config -> metrics that run must log on a step that trained
EXPECTED = {
    "grpo": ["clip_fraction"],
    "dapo": ["clip_fraction", "dapo/groups_kept", "reward/shaping"],
    "rlpt": ["rlpt/coverage", "rlpt/support_mass"],
    "otb": ["otb/total_power", "otb/signal", "otb/noise"],
    "dppo": ["dppo/masked_pos", "dppo/masked_neg", "dppo/divergence", "dppo/is_capped"],
    "dppo_topk": ["dppo/divergence"],
    "dash": ["dash/filtered_fraction", "dash/inference_batch_size"],
    "combined": ["rlpt/coverage", "otb/total_power", "dppo/divergence", "dash/filtered_fraction"],
}
ALWAYS = ["grad_norm", "grad_norm/micro_mean", "entropy", "reward/mean", "time/generate", "time/score", "time/backward"]


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=lambda n: f"{n}_e2e")
def test_each_algorithm_trains_end_to_end_through_grpc(name, tmp_path):
    """-k rlpt / otb / dppo / dash select the matching runs (the combined one has all four)."""
    out = tmp_path / name
    assert train_main(str(CONFIGS / f"{name}.yaml"), [*SHORT, f"train.output_dir={out}"]) == 0
    records = [json.loads(line) for line in (out / "latest" / "metrics.jsonl").read_text().splitlines()]
    trained = [r for r in records if r.get("train/sequences_trained", 0) > 0]
    assert trained, f"{name}: no step had a group with a learning signal"
    for key in EXPECTED[name] + ALWAYS:
        assert key in trained[-1] and math.isfinite(trained[-1][key]), f"{name}: {key} missing"
    assert trained[-1]["grad_norm"] > 0
    several = [r for r in trained if r["grad_norm/micro_batches"] > 1]
    assert all(r["grad_norm/micro_var"] >= 0 for r in several) and all("grad_norm/micro_var" not in r for r in trained if r not in several)
    assert "eval/accuracy" in records[-1]


def test_combined_config_is_rlpt_otb_dppo_and_dash():
    alg = load_config(CONFIGS / "combined.yaml").algorithm
    assert alg.rlpt.top_k > 0 and alg.advantage == "otb" and alg.loss == "dppo_tv_topk" and alg.dash.preemptive and alg.dash.filter_tau > 0


class ReplayEngine(RolloutEngine):
    """Serves rollouts recorded once from the real hf engine, by prompt, in recording order."""

    def __init__(self, rollouts):
        self.queue = defaultdict(list)
        for ro in rollouts:
            self.queue[tuple(ro.prompt_ids)].append(ro)
        self.calls: list[int] = []

    def generate(self, prompts, params, seeds=None):
        self.calls.append(len(prompts))
        return [self.queue[tuple(p)].pop(0) for p in prompts]


def _score(sample):
    status, reward, detail = check_one(sample.response, sample.reference["answer"])
    return Score(sample.id, reward, Status(status), detail)


@pytest.fixture(scope="module")
def policy():
    return load_model("smollm2-135m-instruct"), load_tokenizer("smollm2-135m-instruct")


def recorded_rollouts(policy, cfg, train):
    """The real engine's rollouts for the first step's prompts (same seed as the trainers below)."""
    model, tokenizer = policy
    probe = Trainer(cfg, model, tokenizer, HFEngine(model, tokenizer), _score_batch, train, [])
    prompts = probe.sampler.next_batch(cfg.rollout.prompts_per_step)
    flat = [probe.collector.encode(p) for p in prompts for _ in range(cfg.rollout.group_size)]
    torch.manual_seed(0)
    return HFEngine(model, tokenizer).generate(flat, probe.collector.sampling_params())


def _score_batch(samples):
    return [_score(s) for s in samples]


def step_gradient(policy, cfg, train, rollouts):
    """Run one train_step on replayed rollouts; return the gradient the optimizer would apply."""
    model, tokenizer = policy
    engine = ReplayEngine(rollouts)
    trainer = Trainer(cfg, model, tokenizer, engine, _score_batch, train, [])
    grads = {}

    def capture(optimizer, args, kwargs):  # measure the gradient, then zero it: AdamW's first step on 0 is 0
        for n, p in model.named_parameters():
            if p.grad is not None:
                grads[n] = p.grad.clone()
                p.grad.zero_()

    trainer.optimizer.register_step_pre_hook(capture)
    metrics = trainer.train_step()
    return grads, metrics, engine.calls


def test_dash_preemptive_sampling_gives_the_same_gradient_as_per_micro_batch_sampling(policy, tmp_path):
    base = [*SHORT, "rollout.prompts_per_step=4", "optim.grad_clip=0", f"train.output_dir={tmp_path}", "train.skip_zero_advantage=false"]
    train, _ = arithmetic_splits(1, 6, 4, 0)
    cfg_pre = load_config(None, [*base, "algorithm.dash.preemptive=true"])
    cfg_micro = load_config(None, [*base, "algorithm.dash.preemptive=false"])
    rollouts = recorded_rollouts(policy, cfg_pre, train)
    g_pre, m_pre, calls_pre = step_gradient(policy, cfg_pre, train, rollouts)
    g_micro, m_micro, calls_micro = step_gradient(policy, cfg_micro, train, rollouts)
    assert calls_pre == [16] and calls_micro == [4, 4, 4, 4]  # one inference call vs one per micro-batch
    assert m_pre["dash/inference_batch_size"] == 16 and m_micro["dash/inference_batch_size"] == 4
    total = math.sqrt(sum(float((g**2).sum()) for g in g_pre.values()))
    assert total > 0, "the recorded step has no learning signal"
    diff = math.sqrt(sum(float(((g_pre[n] - g_micro[n]) ** 2).sum()) for n in g_pre))
    assert diff <= 1e-5 * total
    assert m_pre["loss"] == pytest.approx(m_micro["loss"], rel=1e-5, abs=1e-8)


def test_dash_filtered_samples_get_no_forward_or_backward_pass(policy, tmp_path):
    base = [*SHORT, "rollout.prompts_per_step=4", f"train.output_dir={tmp_path}", "train.skip_zero_advantage=false"]
    train, _ = arithmetic_splits(1, 6, 4, 0)
    cfg = load_config(None, [*base, "algorithm.dash.filter_tau=0.1"])
    rollouts = recorded_rollouts(policy, cfg, train)
    model, tokenizer = policy
    rewards = [_score(s).reward for s in _samples(cfg, train, tokenizer, rollouts)]
    groups = [rewards[k : k + 4] for k in range(0, 16, 4)]
    kept = [i for i in range(16) if len(set(groups[i // 4])) > 1]
    kept_rows = len(kept)
    assert kept_rows < 16, "the recorded step has no group to filter"
    seen = []  # tokens reaching the LM head, per call
    handle = model.get_output_embeddings().register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    try:
        grads, metrics, _ = step_gradient(policy, cfg, train, rollouts)
    finally:
        handle.remove()
    assert sum(seen) == sum(len(rollouts[i].response_ids) for i in kept)  # exactly the kept samples' tokens, once (forward with backward)
    assert metrics["dash/filtered_fraction"] == pytest.approx(1 - kept_rows / 16)
    assert metrics["train/sequences_trained"] == kept_rows


def _samples(cfg, train, tokenizer, rollouts):
    from trainer.data.sampler import EpochSampler
    from trainer.prompts import with_response

    prompts = EpochSampler(train, cfg.train.seed).next_batch(cfg.rollout.prompts_per_step)
    texts = tokenizer.batch_decode([ro.response_ids for ro in rollouts], skip_special_tokens=True)
    return [with_response(prompts[i // cfg.rollout.group_size], t, f"#{i}") for i, t in enumerate(texts)]
