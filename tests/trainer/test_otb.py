"""OTB (arXiv 2602.07078): advantages against an independent float64 reference written with plain
Python loops, the listed properties, and sum pi^2 from the forward pass."""

from __future__ import annotations

import math
import random

import pytest
import torch
from transformers import LlamaForCausalLM

from trainer.algorithms import ADV_ESTIMATORS
from trainer.algorithms.otb import OTBParams
from trainer.algorithms.types import AdvantageInputs, Needs, PolicyStats
from trainer.logprobs import TokenBatch, response_logprobs


def otb(rewards, groups, mask, logp, sum_pi2, rollout=None, **params) -> torch.Tensor:
    """OTB's advantages [batch, seq] through the registry, with OTBParams(**params)."""
    policy = PolicyStats(logp=logp, sum_pi2=sum_pi2, rollout_logp=torch.zeros_like(logp) if rollout is None else rollout)
    return ADV_ESTIMATORS["otb"](AdvantageInputs(rewards=rewards, group_ids=torch.as_tensor(groups), mask=mask, policy=policy), OTBParams(**params)).advantages


def random_group_batch(seed: int, dtype=torch.float64):
    rng = random.Random(seed)
    g = torch.Generator().manual_seed(seed)
    groups = [i for i in range(4) for _ in range(rng.randint(1, 5))]
    b, t = len(groups), 8
    lengths = [rng.randint(1, t) for _ in range(b)]
    mask = torch.tensor([[1.0 if j < n else 0.0 for j in range(t)] for n in lengths], dtype=dtype)
    rewards = torch.tensor([rng.choice([0.0, 1.0, rng.random()]) for _ in range(b)], dtype=dtype)
    logp = -torch.rand(b, t, generator=g, dtype=dtype) * 4  # log pi_old(y)
    p = torch.exp(logp)
    sum_pi2 = p**2 + torch.rand(b, t, generator=g, dtype=dtype) * (1 - p) ** 2  # a valid sum of squares
    rollout = logp + torch.randn(b, t, generator=g, dtype=dtype) * 0.2
    return groups, lengths, mask, rewards, logp * mask, sum_pi2 * mask, rollout * mask


def ref_otb(groups, lengths, rewards, logp, sum_pi2, rollout, zero_tail: bool, cap: float | None) -> list[list[float]]:
    """Straight from the formulas: w, W, G, B_t, A, zero-tail; plain Python floats."""
    b = len(groups)
    w = []
    for i in range(b):
        row = []
        for t in range(lengths[i]):
            x = 1 - 2 * math.exp(logp[i][t]) + sum_pi2[i][t]
            if cap is not None:
                x *= min(math.exp(logp[i][t] - rollout[i][t]), cap) ** 2
            row.append(x)
        w.append(row)
    energy = [[sum(w[i][: t + 1]) for t in range(lengths[i])] for i in range(b)]
    out = []
    for i in range(b):
        members = [j for j in range(b) if groups[j] == groups[i]]
        ordered = sorted((lengths[j] for j in members), reverse=True)
        unique_longest = len(members) == 1 or ordered[0] > ordered[1]
        second = ordered[1] if len(members) > 1 else 0
        row = []
        for t in range(lengths[i]):
            active = [j for j in members if lengths[j] > t]
            baseline = sum(rewards[j] * energy[j][t] for j in active) / (sum(energy[j][t] for j in active) + 1e-8)
            if len(members) == 1 or (zero_tail and unique_longest and lengths[i] == ordered[0] and t >= second):
                baseline = 0.0
            row.append(rewards[i] - baseline)
        out.append(row)
    return out


@pytest.mark.parametrize("zero_tail", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_otb_matches_float64_reference(seed, zero_tail):
    groups, lengths, mask, rewards, logp, sum_pi2, rollout = random_group_batch(seed)
    adv = otb(rewards, groups, mask, logp, sum_pi2, rollout, zero_tail=zero_tail)
    ref = ref_otb(groups, lengths, rewards.tolist(), logp.tolist(), sum_pi2.tolist(), rollout.tolist(), zero_tail, None)
    for i, n in enumerate(lengths):
        assert torch.allclose(adv[i, :n], torch.tensor(ref[i], dtype=torch.float64), rtol=1e-6, atol=1e-9)
        assert torch.all(adv[i, n:] == 0)


def ref_otb_with_holes(groups, mask, rewards, logp, sum_pi2) -> list[list[float]]:
    """The formulas with a mask that has holes (a tool's output inside a response): W sums w over
    the masked-in positions only, B_t averages over the responses masked in at t, and a response's
    length for the zero-tail rule is one past its last masked-in position."""
    b, seq = len(groups), len(mask[0])
    energy = [[sum(mask[i][j] * (1 - 2 * math.exp(logp[i][j]) + sum_pi2[i][j]) for j in range(t + 1)) for t in range(seq)] for i in range(b)]
    extent = [max((t + 1 for t in range(seq) if mask[i][t]), default=0) for i in range(b)]
    out = []
    for i in range(b):
        members = [j for j in range(b) if groups[j] == groups[i]]
        ordered = sorted((extent[j] for j in members), reverse=True)
        second = ordered[1] if len(members) > 1 else 0
        row = []
        for t in range(seq):
            if not mask[i][t]:
                row.append(0.0)
                continue
            active = [j for j in members if mask[j][t]]
            baseline = sum(rewards[j] * energy[j][t] for j in active) / (sum(energy[j][t] for j in active) + 1e-8)
            if len(members) == 1 or (ordered[0] > second and extent[i] == ordered[0] and t >= second):
                baseline = 0.0
            row.append(rewards[i] - baseline)
        out.append(row)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_otb_skips_a_tools_output_in_the_cumulative_proxy(seed):
    groups, lengths, mask, rewards, logp, sum_pi2, _ = random_group_batch(seed)
    rng = random.Random(100 + seed)
    for i, n in enumerate(lengths):  # a tool's output inside the longer responses
        if n >= 4:
            start = rng.randint(1, n - 3)
            mask[i, start : start + rng.randint(1, 2)] = 0
    logp, sum_pi2 = logp * mask, sum_pi2 * mask
    adv = otb(rewards, groups, mask, logp, sum_pi2)
    ref = ref_otb_with_holes(groups, mask.tolist(), rewards.tolist(), logp.tolist(), sum_pi2.tolist())
    assert torch.allclose(adv, torch.tensor(ref, dtype=torch.float64), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_otb_rollout_importance_correction_matches_reference(seed):
    groups, lengths, mask, rewards, logp, sum_pi2, rollout = random_group_batch(seed)
    adv = otb(rewards, groups, mask, logp, sum_pi2, rollout, rollout_is=True, is_cap=1.1)
    ref = ref_otb(groups, lengths, rewards.tolist(), logp.tolist(), sum_pi2.tolist(), rollout.tolist(), True, 1.1)
    for i, n in enumerate(lengths):
        assert torch.allclose(adv[i, :n], torch.tensor(ref[i], dtype=torch.float64), rtol=1e-6, atol=1e-9)


def test_otb_float32_close_to_float64():
    groups, _, mask, rewards, logp, sum_pi2, rollout = random_group_batch(9)
    a64 = otb(rewards, groups, mask, logp, sum_pi2)
    a32 = otb(rewards.float(), groups, mask.float(), logp.float(), sum_pi2.float())
    assert torch.allclose(a32.double(), a64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_otb_equal_proxies_reduce_to_the_mean_of_active_returns(seed):
    """With w equal everywhere, W_{i,t} = w (t + 1) is the same for every active response, so B_t is
    the plain mean of G over the responses still active at t."""
    groups, lengths, mask, rewards, _, _, _ = random_group_batch(seed)
    logp = torch.full(mask.shape, math.log(0.3), dtype=torch.float64)
    sum_pi2 = torch.full(mask.shape, 0.2, dtype=torch.float64)  # w = 1 - 0.6 + 0.2 everywhere
    adv = otb(rewards, groups, mask, logp, sum_pi2, zero_tail=False)
    for i, n in enumerate(lengths):
        members = [j for j, g in enumerate(groups) if g == groups[i]]
        for t in range(n):
            active = [rewards[j].item() for j in members if lengths[j] > t]
            baseline = 0.0 if len(members) == 1 else sum(active) / len(active)
            assert adv[i, t].item() == pytest.approx(rewards[i].item() - baseline, abs=1e-7)


def test_otb_single_response_and_zero_tail():
    mask = torch.tensor([[1.0, 1, 1, 0], [1.0, 1, 1, 1], [1.0, 1, 0, 0], [1.0, 0, 0, 0]])
    rewards = torch.tensor([1.0, 1.0, 0.0, 0.7])
    groups = torch.tensor([0, 0, 0, 1])
    logp, sum_pi2 = torch.full((4, 4), -1.0) * mask, torch.full((4, 4), 0.3) * mask
    adv = otb(rewards, groups, mask, logp, sum_pi2)
    assert adv[3, 0].item() == pytest.approx(0.7)  # N = 1: B = 0
    assert adv[1, 3].item() == pytest.approx(1.0)  # unique longest, past the second-longest: B = 0
    no_tail = otb(rewards, groups, mask, logp, sum_pi2, zero_tail=False)
    assert abs(no_tail[1, 3].item()) < 1e-6  # without the rule its advantage there is identically 0


def test_otb_all_zero_returns_give_exactly_zero_advantages():
    adv = otb(torch.zeros(3), torch.zeros(3, dtype=torch.long), torch.ones(3, 5), -torch.rand(3, 5), torch.rand(3, 5))
    assert torch.all(adv == 0)  # the trainer skips such groups before any forward pass


@pytest.mark.parametrize("seed", range(6))
def test_otb_samples_it_calls_zero_before_the_forward_have_exactly_zero_advantages(seed):
    groups, _, mask, rewards, logp, sum_pi2, rollout = random_group_batch(seed)
    rewards = torch.where(torch.tensor(groups) % 2 == 0, torch.zeros_like(rewards), rewards)  # some all-zero groups
    flagged = ADV_ESTIMATORS["otb"].zero_before_forward(rewards, torch.tensor(groups))
    assert flagged.any()
    for zero_tail in (True, False):
        adv = otb(rewards, groups, mask, logp, sum_pi2, rollout, zero_tail=zero_tail)
        assert torch.all(adv[flagged] == 0)


def test_otb_declares_its_needs():
    assert ADV_ESTIMATORS["otb"].needs(OTBParams()) == Needs(policy_stats=True, whole_groups=True, min_group_size=2)
    assert ADV_ESTIMATORS["otb"].needs(OTBParams(rollout_is=True)).rollout_policy


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_otb_sum_pi2_comes_from_the_same_logits_as_the_old_logprobs(tiny, temperature):
    prompts, responses = [[1, 5, 6], [1, 9]], [[10, 11, 12], [13, 14]]
    out = response_logprobs(tiny, TokenBatch.build(prompts, responses, 0), temperature, with_sum_pi2=True)
    for i, (p, r) in enumerate(zip(prompts, responses)):
        with torch.no_grad():
            probs = torch.softmax(tiny(torch.tensor([p + r])).logits[0, len(p) - 1 : -1].double() / temperature, -1)  # [resp, vocab]
        assert torch.allclose(out.sum_pi2[i, : len(r)].double(), (probs**2).sum(-1), rtol=1e-6)
        assert torch.allclose(out.logp[i, : len(r)].double().exp(), probs.gather(1, torch.tensor(r)[:, None]).squeeze(1), rtol=1e-6)


def test_otb_proxy_is_bounded_and_advantages_finite_for_extreme_logits(tiny):
    big = LlamaForCausalLM(tiny.config).double().eval()
    with torch.no_grad():
        big.lm_head.weight.mul_(1e4)  # near one-hot distributions
    batch = TokenBatch.build([[1, 5], [1, 5]], [[7, 8, 9], [7, 8]], 0)
    for model in (tiny, big):
        out = response_logprobs(model, batch, with_sum_pi2=True)
        m = batch.response_mask()
        s = out.sum_pi2[m.bool()]
        assert torch.all(s >= 1 / 64 - 1e-12) and torch.all(s <= 1 + 1e-12)
        adv = otb(torch.tensor([1.0, 0.0]), [0, 0], m, out.logp.detach(), out.sum_pi2)
        assert torch.all(torch.isfinite(adv))


def test_otb_sum_pi2_is_the_same_with_and_without_entropy(tiny):
    batch = TokenBatch.build([[1, 5, 6], [1, 9]], [[10, 11, 12], [13, 14]], 0)
    a = response_logprobs(tiny, batch, 0.8, with_entropy=True, with_sum_pi2=True).sum_pi2
    b = response_logprobs(tiny, batch, 0.8, with_entropy=False, with_sum_pi2=True).sum_pi2
    assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
