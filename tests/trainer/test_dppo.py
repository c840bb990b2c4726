"""DPPO (arXiv 2602.04879): divergences, the directional mask and the loss against independent
float64 references; binary and top-K divergences as lower bounds of the exact full-vocabulary
ones; the hf engine's top-K of the sampling distribution."""

from __future__ import annotations

import math

import pytest
import torch

from tests.trainer.conftest import TinyTokenizer
from trainer.algorithms import POLICY_LOSSES
from trainer.algorithms.dppo import DPPOParams, binary_kl, binary_tv, topk_kl, topk_tv, trust_region_mask
from trainer.algorithms.types import LossNormalizer, Needs, PolicyLossInputs, TopKLogprobs
from trainer.rollout.base import SamplingParams
from trainer.rollout.hf import HFEngine

V = 50


def random_pair(seed: int, sharp: float = 2.0):
    g = torch.Generator().manual_seed(seed)
    z_pi = torch.randn(V, generator=g, dtype=torch.float64) * sharp
    z_mu = z_pi + torch.randn(V, generator=g, dtype=torch.float64) * 0.7
    return torch.softmax(z_pi, -1), torch.softmax(z_mu, -1)


def ref_topk_parts(pi: list[float], mu: list[float], y: int, k: int) -> tuple[list[int], float, float]:
    """mu's top-k ids with y forced in (replacing the k-th), and the two rest masses."""
    ids = sorted(range(len(mu)), key=lambda v: -mu[v])[:k]
    if y not in ids:
        ids[-1] = y
    return ids, 1 - sum(pi[v] for v in ids), 1 - sum(mu[v] for v in ids)


def ref_topk_tv(pi, mu, y, k):
    ids, pr, mr = ref_topk_parts(pi, mu, y, k)
    return 0.5 * (sum(abs(pi[v] - mu[v]) for v in ids) + abs(pr - mr))


def ref_topk_kl(pi, mu, y, k):
    ids, pr, mr = ref_topk_parts(pi, mu, y, k)
    return sum(mu[v] * math.log(mu[v] / pi[v]) for v in ids) + (mr * math.log(mr / pr) if mr > 0 else 0.0)


def as_topk_logps(pi: torch.Tensor, mu: torch.Tensor, y: int, k: int):
    ids, _, _ = ref_topk_parts(pi.tolist(), mu.tolist(), y, k)
    idx = torch.tensor(ids)
    return torch.log(pi[idx]), torch.log(mu[idx])


@pytest.mark.parametrize("seed", range(8))
def test_dppo_divergences_match_float64_reference(seed):
    pi, mu = random_pair(seed)
    y = seed % V
    p, q = pi[y].item(), mu[y].item()
    lp, lq = torch.tensor([math.log(p)], dtype=torch.float64), torch.tensor([math.log(q)], dtype=torch.float64)
    assert binary_tv(lp, lq).item() == pytest.approx(abs(p - q), rel=1e-9)
    assert binary_kl(lp, lq).item() == pytest.approx(q * math.log(q / p) + (1 - q) * math.log((1 - q) / (1 - p)), rel=1e-6)
    for k in (1, 5, 20):
        a, b = as_topk_logps(pi, mu, y, k)
        assert topk_tv(a[None], b[None]).item() == pytest.approx(ref_topk_tv(pi.tolist(), mu.tolist(), y, k), rel=1e-6, abs=1e-12)
        assert topk_kl(a[None], b[None]).item() == pytest.approx(ref_topk_kl(pi.tolist(), mu.tolist(), y, k), rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("sharp", [0.5, 2.0, 6.0])
@pytest.mark.parametrize("seed", range(10))
def test_dppo_binary_and_topk_divergences_are_lower_bounds_of_the_exact_ones(seed, sharp):
    pi, mu = random_pair(seed, sharp)
    exact_tv = 0.5 * (pi - mu).abs().sum().item()
    exact_kl = (mu * (mu / pi).log()).sum().item()
    for y in (0, int(mu.argmax()), int(mu.argmin())):
        lp, lq = pi[y].log()[None], mu[y].log()[None]
        assert binary_tv(lp, lq).item() <= exact_tv + 1e-12
        assert binary_kl(lp, lq).item() <= exact_kl + 1e-12
        for k in (1, 4, 20, V):
            a, b = as_topk_logps(pi, mu, y, k)
            assert topk_tv(a[None], b[None]).item() <= exact_tv + 1e-12
            assert topk_kl(a[None], b[None]).item() <= exact_kl + 1e-9
        a, b = as_topk_logps(pi, mu, y, V)  # all ids: the exact values
        assert topk_tv(a[None], b[None]).item() == pytest.approx(exact_tv, rel=1e-9)
        assert topk_kl(a[None], b[None]).item() == pytest.approx(exact_kl, rel=1e-6)


def test_dppo_mask_four_direction_cases():
    far, near = torch.tensor([0.5]), torch.tensor([0.01])
    up, down = torch.tensor([math.log(0.6)]), torch.tensor([math.log(0.2)])
    mu = torch.tensor([math.log(0.4)])

    def keep(a, logp, d):
        return trust_region_mask(torch.tensor([a]), logp, mu, d, 0.15).item()

    assert keep(1.0, up, far) == 0  # A > 0, pi > mu, far: masked
    assert keep(-1.0, down, far) == 0  # A < 0, pi < mu, far: masked
    assert keep(1.0, down, far) == 1  # A > 0 but pi < mu: moving back toward mu is allowed
    assert keep(-1.0, up, far) == 1  # A < 0 but pi > mu: allowed
    assert keep(1.0, up, near) == 1 and keep(-1.0, down, near) == 1  # inside the trust region
    assert keep(0.0, up, far) == 1


def ref_dppo_token(logp, mu_logp, a, d, delta, cap):
    """Loss value and d loss / d logp of one token."""
    p, q = math.exp(logp), math.exp(mu_logp)
    masked = (a > 0 and p > q and d > delta) or (a < 0 and p < q and d > delta)
    coef = 0.0 if masked else -a * min(p / q, cap)
    return coef * logp, coef


@pytest.mark.parametrize("name", ["dppo_tv_binary", "dppo_kl_binary"])
@pytest.mark.parametrize("seed", range(4))
def test_dppo_binary_loss_and_gradient_match_float64_reference(name, seed):
    g = torch.Generator().manual_seed(seed)
    b, t = 5, 6
    mask = (torch.rand(b, t, generator=g) > 0.2).double()
    mu_logp = torch.log(torch.rand(b, t, generator=g, dtype=torch.float64) * 0.9 + 0.05)
    logp = (mu_logp + torch.randn(b, t, generator=g, dtype=torch.float64) * 0.6).clamp(max=-1e-3).requires_grad_(True)
    adv = torch.randn(b, t, generator=g, dtype=torch.float64) * mask
    params = DPPOParams(tv_delta=0.15, kl_delta=0.05, is_cap=1.5)
    norm = LossNormalizer(float(mask.sum()), float(b), t)
    out = POLICY_LOSSES[name](PolicyLossInputs(logp=logp, old_logp=mu_logp, advantages=adv, mask=mask, normalizer=norm, rollout_logp=mu_logp), params)
    (grad,) = torch.autograd.grad(out.loss, logp)
    total, masked_pos = 0.0, 0
    for i in range(b):
        for j in range(t):
            if not mask[i, j]:
                continue
            lp, lq = logp[i, j].item(), mu_logp[i, j].item()
            p, q = math.exp(lp), math.exp(lq)
            d = abs(p - q) if "tv" in name else q * math.log(q / p) + (1 - q) * math.log((1 - q) / (1 - p))
            delta = 0.15 if "tv" in name else 0.05
            value, coef = ref_dppo_token(lp, lq, adv[i, j].item(), d, delta, 1.5)
            total += value
            masked_pos += coef == 0 and adv[i, j].item() > 0
            assert grad[i, j].item() == pytest.approx(coef / mask.sum().item(), rel=1e-6, abs=1e-12)
    assert out.loss.item() == pytest.approx(total / mask.sum().item(), rel=1e-6)
    assert out.metrics["dppo/masked_pos"].total == masked_pos and out.metrics["dppo/masked_pos"].weight == mask.sum().item()


@pytest.mark.parametrize("anchor", ["rollout", "recompute"])
def test_dppo_losses_declare_what_their_anchor_and_divergence_need(anchor):
    params = DPPOParams(anchor=anchor, top_k=7)
    binary = POLICY_LOSSES["dppo_tv_binary"].needs(params)
    assert binary == Needs(rollout_policy=anchor == "rollout")  # the old policy's log-probs are always given
    assert POLICY_LOSSES["dppo_kl_topk"].needs(params) == binary | Needs(rollout_topk=7)


def test_dppo_recompute_anchor_compares_with_the_old_policy_not_the_rollout():
    g = torch.Generator().manual_seed(1)
    logp = (-torch.rand(2, 3, generator=g, dtype=torch.float64) - 0.1).requires_grad_(True)  # p in (0.33, 0.9)
    old, far = logp.detach() - 0.01, logp.detach() - 3.0  # the old policy next to pi; the rollout far below it
    adv, mask = torch.ones(2, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64)
    inputs = PolicyLossInputs(logp=logp, old_logp=old, advantages=adv, mask=mask, normalizer=LossNormalizer(6.0, 2.0, 3), rollout_logp=far)
    recompute = POLICY_LOSSES["dppo_tv_binary"](inputs, DPPOParams(anchor="recompute"))
    (grad,) = torch.autograd.grad(recompute.loss, logp)
    assert recompute.metrics["dppo/masked_pos"].total == 0
    assert torch.allclose(grad, -adv * torch.exp(logp.detach() - old) / 6.0)  # weight pi / pi_old, nothing masked
    rollout = POLICY_LOSSES["dppo_tv_binary"](inputs, DPPOParams(anchor="rollout"))
    assert rollout.metrics["dppo/masked_pos"].total == 6 and rollout.loss.item() == 0  # pi far above mu, A > 0: all masked


def test_dppo_on_policy_equals_the_plain_policy_gradient():
    g = torch.Generator().manual_seed(3)
    logp = (-torch.rand(3, 4, generator=g, dtype=torch.float64)).requires_grad_(True)
    adv, mask = torch.randn(3, 4, generator=g, dtype=torch.float64), torch.ones(3, 4, dtype=torch.float64)
    norm = LossNormalizer(12.0, 3.0, 4)
    out = POLICY_LOSSES["dppo_tv_binary"](PolicyLossInputs(logp=logp, old_logp=logp.detach(), advantages=adv, mask=mask, normalizer=norm, rollout_logp=logp.detach()), DPPOParams())
    (grad,) = torch.autograd.grad(out.loss, logp)
    assert torch.allclose(grad, -adv / 12.0)


@pytest.mark.parametrize("params", [SamplingParams(10, temperature=1.3, topk_logprobs=5), SamplingParams(10, temperature=0.8, top_k=3, topk_logprobs=6)], ids=["full", "topk-sampling"])
def test_dppo_engine_returns_topk_of_the_sampling_distribution_with_the_sampled_token_forced_in(tiny, params):
    torch.manual_seed(2)
    rollouts = HFEngine(tiny, TinyTokenizer()).generate([[1, 5, 6], [1, 7], [1, 8, 9]] * 3, params)
    forced = 0
    for r in rollouts:
        k = params.topk_logprobs
        assert r.topk_ids.shape == r.topk_logprobs.shape == (len(r.response_ids), k) and r.topk_ids.dtype == torch.int32
        with torch.no_grad():
            logits = tiny(torch.tensor([r.prompt_ids + r.response_ids])).logits[0, len(r.prompt_ids) - 1 : -1].double() / params.temperature
        if params.top_k:
            kth = logits.topk(params.top_k, -1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        logp = torch.log_softmax(logits, -1)  # [resp, vocab]
        for t, y in enumerate(r.response_ids):
            ids = r.topk_ids[t].tolist()
            assert y in ids
            top = logp[t].topk(k).indices.tolist()
            if y in top:
                assert ids == top or set(ids) == set(top)
            else:
                forced += 1
                assert ids[:-1] == top[:-1] and ids[-1] == y
            expected = logp[t, torch.tensor(ids)]
            got = r.topk_logprobs[t].double()
            finite = torch.isfinite(expected)
            assert torch.equal(finite, torch.isfinite(got))
            assert torch.allclose(got[finite], expected[finite], rtol=1e-5, atol=1e-6)
    if not params.top_k:
        assert forced > 0  # at temperature 1.3 some sampled tokens fall outside the top 5


@pytest.mark.parametrize("name", ["dppo_tv_binary", "dppo_kl_binary", "dppo_tv_topk", "dppo_kl_topk"])
def test_dppo_float32_close_to_float64(name):
    g = torch.Generator().manual_seed(5)
    b, t, k = 4, 5, 6
    z_pi = torch.randn(b, t, V, generator=g, dtype=torch.float64)
    z_mu = z_pi + 0.5 * torch.randn(b, t, V, generator=g, dtype=torch.float64)
    ids = z_mu.topk(k, -1).indices  # [b, t, k]; the sampled token is the first id
    lp_all, lq_all = torch.log_softmax(z_pi, -1), torch.log_softmax(z_mu, -1)
    logp, mu_logp = lp_all.gather(2, ids[..., :1]).squeeze(2), lq_all.gather(2, ids[..., :1]).squeeze(2)
    adv, mask = torch.randn(b, t, generator=g, dtype=torch.float64), torch.ones(b, t, dtype=torch.float64)
    losses = []
    for dtype in (torch.float64, torch.float32):
        topk = TopKLogprobs(rollout=lq_all.gather(2, ids).to(dtype), old=lq_all.gather(2, ids).to(dtype), current=lp_all.gather(2, ids).to(dtype))
        inp = PolicyLossInputs(logp=logp.to(dtype), old_logp=mu_logp.to(dtype), advantages=adv.to(dtype), mask=mask.to(dtype), normalizer=LossNormalizer(float(b * t), float(b), t), rollout_logp=mu_logp.to(dtype), topk=topk)
        losses.append(POLICY_LOSSES[name](inp, DPPOParams()).loss.item())
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
