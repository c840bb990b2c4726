"""Tool episodes train only the policy's own tokens: a tool's output is context, never a target.

Random episodes (responses with tool-output spans inside) on the tiny float64 Llama: the step's
gradient equals an independent float64 reference that predicts only the model's tokens; whatever
the trainer holds at tool positions (rollout log-probs, top-K ids, supports) never reaches the
gradient, for every shipped algorithm; and an episode with no tool call trains exactly as a
single-turn rollout.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from tests.trainer.conftest import TinyTokenizer
from trainer.algorithms.reductions import StepStats
from trainer.config import load_config
from trainer.data.arithmetic import arithmetic_splits
from trainer.experience import Experience
from trainer.gradients import GradientAccumulator
from trainer.logprobs import TokenBatch, response_logprobs
from trainer.loop import Trainer
from trainer.rollout.base import Rollout
from trainer.rollout.hf import HFEngine
from trainer.support import support_ids

ROOT = Path(__file__).resolve().parents[2]
K = 4
ALGORITHMS = ["grpo", "dapo", "otb", "dppo", "dppo_topk", "rlpt", "dash", "combined"]


def random_episodes(seed: int, tools: bool = True, groups: int = 2, group_size: int = 4) -> tuple[list[Rollout], torch.Tensor, torch.Tensor]:
    """Rollouts whose responses hold one or two tool spans (unless ``tools`` is false), with
    rollout log-probs and top-K rows as an engine records them (0 and -1 at tool positions),
    rewards that differ within each group, and group ids."""
    rng = random.Random(seed)
    rollouts, rewards, group_ids = [], [], []
    for g in range(groups):
        prompt = [rng.randrange(3, 64) for _ in range(rng.randint(3, 6))]
        for j in range(group_size):
            n = rng.randint(6, 14)
            ids = [rng.randrange(3, 64) for _ in range(n)]
            tool = [False] * n
            if tools:
                for _ in range(rng.randint(1, 2)):
                    start = rng.randint(1, n - 3)
                    for t in range(start, min(n - 1, start + rng.randint(1, 4))):
                        tool[t] = True  # the model writes the first and the last token
            logprobs = [0.0 if tool[t] else -rng.uniform(0.1, 4.0) for t in range(n)]
            topk_ids = torch.full((n, K), -1, dtype=torch.int32)
            topk_logprobs = torch.zeros((n, K))
            for t in range(n):
                if not tool[t]:
                    others = rng.sample([v for v in range(64) if v != ids[t]], K - 1)
                    topk_ids[t] = torch.tensor([ids[t], *others], dtype=torch.int32)
                    topk_logprobs[t] = torch.tensor([logprobs[t]] + sorted((-rng.uniform(0.1, 6.0) for _ in range(K - 1)), reverse=True))
            rollouts.append(Rollout(prompt, ids, logprobs, True, topk_ids, topk_logprobs, tool_mask=tool if tools else None))
            rewards.append(float(j % 2 == 0) if rng.random() < 0.8 else rng.random())
            group_ids.append(g)
    return rollouts, torch.tensor(rewards, dtype=torch.float64), torch.tensor(group_ids)


def make_trainer(tiny, tmp_path, algorithm: str) -> Trainer:
    cfg = load_config(str(ROOT / "configs" / f"{algorithm}.yaml"), ["train.micro_batch_size=8", "algorithm.dash.filter_tau=0", f"train.output_dir={tmp_path}", "train.skip_zero_advantage=false"])
    train = arithmetic_splits(test_size=4)[0]  # the sampler's; these tests hand the trainer its experience
    return Trainer(cfg, tiny, TinyTokenizer(), HFEngine(tiny, TinyTokenizer()), None, train, [], ref_model=tiny)


def step_gradient(trainer: Trainer, exp: Experience) -> list[torch.Tensor]:
    """The first pass's gradient of one step on ``exp``, divided by the step's loss divisor."""
    if trainer.needs.support is not None:
        exp.support_ids = support_ids(exp, trainer.needs.support, trainer.ref_model, trainer.cfg.rollout.temperature, 4)
    plan = trainer.plan(exp)
    acc = GradientAccumulator(trainer.model.parameters())
    trainer.backward_pass(plan, acc, StepStats(), first=True)
    acc.finish(plan.counts.divisor(trainer.cfg.algorithm.loss_agg))
    grads = [p.grad.clone() for p in trainer.model.parameters()]
    trainer.model.zero_grad(set_to_none=True)
    return grads


def reference_logp(model, rollout: Rollout) -> torch.Tensor:
    """[response_len] float64 log pi(y_t) from one full forward and a full log-softmax."""
    ids = torch.tensor([rollout.prompt_ids + rollout.response_ids])
    logits = model(ids).logits[0, len(rollout.prompt_ids) - 1 : -1].double()  # [response_len, vocab]
    return logits.log_softmax(-1).gather(1, torch.tensor(rollout.response_ids)[:, None]).squeeze(1)


@pytest.mark.parametrize("seed", range(3))
def test_log_probs_are_taken_at_the_models_tokens_only(tiny, seed):
    rollouts, _, _ = random_episodes(seed)
    batch = TokenBatch.build([r.prompt_ids for r in rollouts], [r.response_ids for r in rollouts], 0, [r.tool_mask for r in rollouts])
    out = response_logprobs(tiny, batch, with_entropy=True, with_sum_pi2=True)
    for i, r in enumerate(rollouts):
        tool = torch.tensor(r.tool_mask)
        ref = reference_logp(tiny, r)
        n = len(r.response_ids)
        torch.testing.assert_close(out.logp[i, :n][~tool], ref[~tool].to(out.logp.dtype), rtol=1e-10, atol=1e-10)
        assert torch.all(out.logp[i, :n][tool] == 0) and torch.all(out.entropy[i, :n][tool] == 0) and torch.all(out.sum_pi2[i, :n][tool] == 0)


@pytest.mark.parametrize("seed", range(3))
def test_a_grpo_step_on_tool_episodes_matches_a_float64_reference(tiny, tmp_path, seed):
    """On policy, PPO-clip's gradient is -(1/T) sum over the model's tokens of A_i grad log pi(y_t),
    T the model's tokens in the step, A_i the group-normalized reward (unbiased std); the reference
    runs each full row through the model on its own."""
    rollouts, rewards, groups = random_episodes(seed)
    trainer = make_trainer(tiny, tmp_path, "grpo")
    exp = Experience.build(rollouts, rewards, groups, 0)
    got = step_gradient(trainer, exp)

    loss, tokens = 0.0, 0
    for i, r in enumerate(rollouts):
        members = rewards[groups == groups[i]]
        advantage = (rewards[i] - members.mean()) / (members.std() + 1e-6)
        own = ~torch.tensor(r.tool_mask)
        loss = loss - advantage * reference_logp(tiny, r)[own].sum()
        tokens += int(own.sum())
    want = torch.autograd.grad(loss / tokens, list(tiny.parameters()))
    for g, w in zip(got, want):  # Llama's RMSNorm computes in float32 whatever the dtype: sums in another order differ at that precision
        assert (g - w).norm() <= 1e-5 * w.norm()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_what_the_trainer_holds_at_tool_positions_never_reaches_the_gradient(tiny, tmp_path, algorithm):
    """Garbage in the rollout's log-probs and top-K rows at tool positions: the same gradient, bit for bit."""
    rollouts, rewards, groups = random_episodes(7)
    trainer = make_trainer(tiny, tmp_path, algorithm)
    clean = step_gradient(trainer, Experience.build(rollouts, rewards, groups, 0))
    rng = torch.Generator().manual_seed(1)
    for r in rollouts:
        for t, by_tool in enumerate(r.tool_mask):
            if by_tool:
                r.logprobs[t] = -float(torch.rand((), generator=rng)) * 9
                r.topk_ids[t] = torch.randint(0, 64, (K,), generator=rng, dtype=torch.int32)
                r.topk_logprobs[t] = -torch.rand(K, generator=rng) * 9
    dirty = step_gradient(trainer, Experience.build(rollouts, rewards, groups, 0))
    assert any(g.abs().sum() > 0 for g in clean)
    for a, b in zip(clean, dirty):
        assert torch.isfinite(a).all() and torch.equal(a, b)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_an_episode_without_a_tool_call_trains_exactly_as_a_single_turn_rollout(tiny, tmp_path, algorithm):
    rollouts, rewards, groups = random_episodes(11, tools=False)
    plain = Experience.build(rollouts, rewards, groups, 0)
    for r in rollouts:
        r.tool_mask = [False] * len(r.response_ids)
    episode = Experience.build(rollouts, rewards, groups, 0)
    assert episode.tokens.tool_mask is None and torch.equal(plain.mask, episode.mask)
    trainer = make_trainer(tiny, tmp_path, algorithm)
    for a, b in zip(step_gradient(trainer, plain), step_gradient(trainer, episode)):
        assert torch.equal(a, b)
