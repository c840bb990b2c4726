"""GRPO advantages, the PPO clip loss, aggregation modes and KL estimators against independent
float64 references written with plain Python loops."""

from __future__ import annotations

import math
import random

import pytest
import torch

from trainer.algorithms import ADV_ESTIMATORS, POLICY_LOSSES, register_policy_loss
from trainer.algorithms.aggregation import aggregate
from trainer.algorithms.kl import kl_estimate
from trainer.algorithms.ppo import ClipParams
from trainer.algorithms.types import AdvantageInputs, LossNormalizer, PolicyLossInputs


def advantages(name: str, rewards, groups, mask, eps: float = 1e-6):
    return ADV_ESTIMATORS[name](AdvantageInputs(rewards=rewards, group_ids=torch.as_tensor(groups), mask=mask, eps=eps)).advantages


def loss_inputs(logp, old, adv, mask, norm, agg="token-mean"):
    return PolicyLossInputs(logp=logp, old_logp=old, advantages=adv, mask=mask, normalizer=norm, agg=agg)


def random_batch(seed: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    groups = [i for i in range(5) for _ in range(rng.randint(1, 6))]
    b, t = len(groups), 7
    lengths = [rng.randint(1, t) for _ in range(b)]
    mask = torch.tensor([[1.0 if j < n else 0.0 for j in range(t)] for n in lengths], dtype=dtype)
    rewards = torch.tensor([rng.choice([0.0, 1.0, rng.random()]) for _ in range(b)], dtype=dtype)
    logp = (torch.rand(b, t, generator=g, dtype=dtype) * -3).requires_grad_(True)
    old = logp.detach() + torch.randn(b, t, generator=g, dtype=dtype) * 0.3
    return groups, lengths, mask, rewards, logp, old


def ref_grpo(rewards: list[float], groups: list[int], eps: float, scale: bool) -> list[float]:
    out = []
    for i, gi in enumerate(groups):
        members = [rewards[j] for j, gj in enumerate(groups) if gj == gi]
        mean = sum(members) / len(members)
        var = sum((x - mean) ** 2 for x in members) / max(len(members) - 1, 1)
        out.append((rewards[i] - mean) / (math.sqrt(var) + eps) if scale else rewards[i] - mean)
    return out


@pytest.mark.parametrize("name,scale", [("grpo", True), ("dr_grpo", False)])
@pytest.mark.parametrize("seed", range(5))
def test_grpo_advantages_match_float64_reference(name, scale, seed):
    groups, lengths, mask, rewards, _, _ = random_batch(seed)
    adv = advantages(name, rewards, groups, mask)
    expected = ref_grpo(rewards.tolist(), groups, 1e-6, scale)
    for i, n in enumerate(lengths):
        assert torch.allclose(adv[i, :n], torch.full((n,), expected[i], dtype=torch.float64), rtol=1e-6, atol=1e-12)
        assert torch.all(adv[i, n:] == 0)


def test_grpo_float32_close_to_float64():
    groups, _, mask, rewards, _, _ = random_batch(11)
    a64 = advantages("grpo", rewards, groups, mask)
    a32 = advantages("grpo", rewards.float(), groups, mask.float())
    assert torch.allclose(a32.double(), a64, rtol=1e-4, atol=1e-5)


def test_grpo_single_response_group_and_equal_rewards_give_zero():
    rewards = torch.tensor([1.0, 1.0, 1.0, 0.5])
    adv = advantages("grpo", rewards, [0, 0, 0, 1], torch.ones(4, 3))
    assert torch.all(adv == 0)


def ref_rloo(rewards: list[float], groups: list[int]) -> list[float]:
    out = []
    for i, gi in enumerate(groups):
        others = [rewards[j] for j, gj in enumerate(groups) if gj == gi and j != i]
        out.append(rewards[i] - sum(others) / len(others) if others else 0.0)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_rloo_advantages_match_float64_reference(seed):
    groups, lengths, mask, rewards, _, _ = random_batch(seed)
    adv = advantages("rloo", rewards, groups, mask)
    expected = ref_rloo(rewards.tolist(), groups)
    for i, n in enumerate(lengths):
        assert torch.allclose(adv[i, :n], torch.full((n,), expected[i], dtype=torch.float64), rtol=1e-6, atol=1e-12)
        assert torch.all(adv[i, n:] == 0)


@pytest.mark.parametrize("seed", range(3))
def test_dapo_loss_is_the_clip_higher_surrogate(seed):
    from trainer.config import load_config

    alg = load_config(None, ["algorithm.loss=dapo"]).algorithm
    clip = alg.params(POLICY_LOSSES["dapo"])
    assert (clip.eps_low, clip.eps_high, alg.loss_agg) == (0.2, 0.28, "token-mean")
    groups, lengths, mask, rewards, logp, old = random_batch(seed)
    adv = advantages("grpo", rewards, groups, mask)
    norm = LossNormalizer(tokens=float(mask.sum()), sequences=float(len(lengths)), max_len=7)
    out = POLICY_LOSSES["dapo"](loss_inputs(logp, old, adv, mask, norm, alg.loss_agg), clip)
    per_tok = [[ref_ppo_token(logp[i, j].item(), old[i, j].item(), adv[i, j].item(), 0.2, 0.28)[0] for j in range(7)] for i in range(len(lengths))]
    assert out.loss.item() == pytest.approx(ref_aggregate(per_tok, lengths, "token-mean", 7), rel=1e-6)


def ref_ppo_token(logp: float, old: float, a: float, lo: float, hi: float) -> tuple[float, bool]:
    r = math.exp(logp - old)
    unclipped, clipped = r * a, min(max(r, 1 - lo), 1 + hi) * a
    return -min(unclipped, clipped), clipped < unclipped


def ref_aggregate(values: list[list[float]], lengths: list[int], mode: str, max_len: int) -> float:
    if mode == "token-mean":
        return sum(sum(v[:n]) for v, n in zip(values, lengths)) / sum(lengths)
    if mode == "seq-mean-token-mean":
        return sum(sum(v[:n]) / n for v, n in zip(values, lengths)) / len(lengths)
    return sum(sum(v[:n]) for v, n in zip(values, lengths)) / (len(lengths) * max_len)


MODES = ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(4))
def test_ppo_clip_loss_matches_float64_reference(mode, seed):
    groups, lengths, mask, rewards, logp, old = random_batch(seed)
    adv = advantages("grpo", rewards, groups, mask)
    norm = LossNormalizer(tokens=float(mask.sum()), sequences=float(len(lengths)), max_len=7)
    out = POLICY_LOSSES["ppo_clip"](loss_inputs(logp, old, adv, mask, norm, mode), ClipParams(eps_low=0.2, eps_high=0.28))
    per_tok = [[ref_ppo_token(logp[i, j].item(), old[i, j].item(), adv[i, j].item(), 0.2, 0.28) for j in range(7)] for i in range(len(lengths))]
    expected = ref_aggregate([[x[0] for x in row] for row in per_tok], lengths, mode, 7)
    assert out.loss.item() == pytest.approx(expected, rel=1e-6, abs=1e-12)
    clipped = sum(sum(x[1] for x in row[:n]) for row, n in zip(per_tok, lengths))
    assert out.metrics["clip_fraction"].total == clipped and out.metrics["clip_fraction"].weight == sum(lengths)


@pytest.mark.parametrize("mode", MODES)
def test_micro_batch_losses_sum_to_the_whole_batch_loss(mode):
    groups, lengths, mask, rewards, logp, old = random_batch(3)
    adv = advantages("grpo", rewards, groups, mask)
    norm = LossNormalizer(tokens=float(mask.sum()), sequences=float(len(lengths)), max_len=7)
    full = POLICY_LOSSES["ppo_clip"](loss_inputs(logp, old, adv, mask, norm, mode), ClipParams()).loss
    (g_full,) = torch.autograd.grad(full, logp)
    parts = [torch.arange(0, 3), torch.arange(3, len(lengths))]
    total = sum(POLICY_LOSSES["ppo_clip"](loss_inputs(logp[p], old[p], adv[p], mask[p], norm, mode), ClipParams()).loss for p in parts)
    (g_parts,) = torch.autograd.grad(total, logp)
    assert total.item() == pytest.approx(full.item(), rel=1e-12)
    assert torch.allclose(g_parts, g_full, rtol=1e-10, atol=1e-14)


def test_on_policy_gradient_is_advantage_weighted_score_function():
    groups, lengths, mask, rewards, logp, _ = random_batch(5)
    adv = advantages("grpo", rewards, groups, mask)
    norm = LossNormalizer(tokens=float(mask.sum()), sequences=float(len(lengths)), max_len=7)
    loss = POLICY_LOSSES["ppo_clip"](loss_inputs(logp, logp.detach(), adv, mask, norm), ClipParams()).loss
    (grad,) = torch.autograd.grad(loss, logp)
    assert torch.allclose(grad, -adv * mask / mask.sum(), rtol=1e-10, atol=1e-14)


def test_float32_loss_close_to_float64():
    groups, lengths, mask, rewards, logp, old = random_batch(8)
    adv = advantages("grpo", rewards, groups, mask)
    norm = LossNormalizer(tokens=float(mask.sum()), sequences=float(len(lengths)), max_len=7)
    l64 = POLICY_LOSSES["ppo_clip"](loss_inputs(logp, old, adv, mask, norm), ClipParams()).loss
    l32 = POLICY_LOSSES["ppo_clip"](loss_inputs(logp.float(), old.float(), adv.float(), mask.float(), norm), ClipParams()).loss
    assert l32.item() == pytest.approx(l64.item(), rel=1e-4)


def test_unknown_aggregation_is_rejected():
    with pytest.raises(ValueError, match="token-mean"):
        aggregate(torch.ones(1, 1), torch.ones(1, 1), "mean", LossNormalizer(1, 1, 1))


@pytest.mark.parametrize("est", ["k1", "k2", "k3"])
def test_kl_estimators_match_reference(est):
    g = torch.Generator().manual_seed(0)
    logp, ref = torch.rand(4, 5, generator=g, dtype=torch.float64) * -4, torch.rand(4, 5, generator=g, dtype=torch.float64) * -4
    got = kl_estimate(logp, ref, est)
    for i in range(4):
        for j in range(5):
            d = ref[i, j].item() - logp[i, j].item()
            want = {"k1": -d, "k2": d * d / 2, "k3": math.exp(d) - d - 1}[est]
            assert got[i, j].item() == pytest.approx(want, rel=1e-9, abs=1e-12)
    if est == "k3":
        assert torch.all(got >= 0)


def test_registering_a_name_twice_fails():
    with pytest.raises(ValueError, match="twice"):
        register_policy_loss("ppo_clip")(lambda inp: None)
