"""RLPT (arXiv 2602.03195): the support-renormalized log-probs against a float64 reference, K = |V|
equals the plain loss, zero gradient outside the support, and the two support sources."""

from __future__ import annotations

import math

import pytest
import torch

from tests.trainer.conftest import TinyTokenizer
from trainer.algorithms import POLICY_LOSSES
from trainer.algorithms.ppo import ClipParams
from trainer.algorithms.rlpt import force_in, nucleus_keep, rollout_support
from trainer.algorithms.types import LossNormalizer, PolicyLossInputs, Support
from trainer.logprobs import TokenBatch, response_logprobs
from trainer.rollout.base import SamplingParams
from trainer.rollout.hf import HFEngine
from trainer.support import reference_support

V = 64
PROMPTS, RESPONSES = [[1, 5, 6], [1, 9]], [[10, 11, 12], [13, 14]]


def full_logits(model, prompt, response, temperature=1.0):
    with torch.no_grad():
        return model(torch.tensor([prompt + response])).logits[0, len(prompt) - 1 : -1].double() / temperature  # [resp, vocab]


def random_support(batch: TokenBatch, k: int, seed: int) -> torch.Tensor:
    """[batch, max_response, k]: random distinct ids with the sampled token forced in, some -1."""
    g = torch.Generator().manual_seed(seed)
    b, s = batch.response_mask().shape
    ids = torch.stack([torch.stack([torch.randperm(V, generator=g)[:k] for _ in range(s)]) for _ in range(b)])  # [b, s, k]
    ids[..., 0][torch.rand(b, s, generator=g) < 0.3] = -1
    targets = torch.zeros(b, s, dtype=torch.long)
    for i in range(b):
        n = int(batch.response_len[i])
        targets[i, :n] = batch.input_ids[i, batch.response_start[i] : batch.response_start[i] + n]
    return force_in(ids, targets).to(torch.int32)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("k", [1, 4, 16])
def test_rlpt_masked_logprobs_match_float64_reference(tiny, k, temperature):
    batch = TokenBatch.build(PROMPTS, RESPONSES, 0)
    support = random_support(batch, k, seed=k)
    out = response_logprobs(tiny, batch, temperature, support_ids=support, with_sum_pi2=True)
    for i, (p, r) in enumerate(zip(PROMPTS, RESPONSES)):
        z = full_logits(tiny, p, r, temperature)
        for t, y in enumerate(r):
            ids = [v for v in support[i, t].tolist() if v >= 0]
            assert y in ids
            lse = math.log(sum(math.exp(z[t, v].item()) for v in ids))
            assert out.logp[i, t].item() == pytest.approx(z[t, y].item() - lse, rel=1e-6, abs=1e-9)
            assert out.sum_pi2[i, t].item() == pytest.approx(sum(math.exp(2 * (z[t, v].item() - lse)) for v in ids), rel=1e-6)
            full_lse = torch.logsumexp(z[t], -1).item()
            assert out.support_mass[i, t].item() == pytest.approx(math.exp(lse - full_lse), rel=1e-6)
            rank = int((z[t] > z[t, y]).sum())
            assert out.in_topk[i, t].item() == float(rank < k)


def test_rlpt_with_k_equal_to_vocabulary_is_the_plain_loss(tiny):
    batch = TokenBatch.build(PROMPTS, RESPONSES, 0)
    mask = batch.response_mask().double()
    everything = torch.arange(V, dtype=torch.int32).expand(*mask.shape, V).clone()
    adv = torch.tensor([[1.0], [-0.5]], dtype=torch.float64) * mask
    norm = LossNormalizer(float(mask.sum()), 2.0, 3)
    grads = []
    for support in (None, everything):
        tiny.zero_grad(set_to_none=True)
        out = response_logprobs(tiny, batch, support_ids=support)
        old = out.logp.detach() + 0.1 * mask
        loss = POLICY_LOSSES["ppo_clip"](PolicyLossInputs(logp=out.logp, old_logp=old, advantages=adv, mask=mask, normalizer=norm), ClipParams()).loss
        loss.backward()
        grads.append((loss.item(), out.logp.detach(), [p.grad.clone() for p in tiny.parameters()]))
    (l0, lp0, g0), (l1, lp1, g1) = grads
    assert l1 == pytest.approx(l0, rel=1e-9)
    assert torch.allclose(lp0, lp1, rtol=1e-9, atol=1e-12)
    assert all(torch.allclose(a, b, rtol=1e-7, atol=1e-12) for a, b in zip(g0, g1))
    tiny.zero_grad(set_to_none=True)


def test_rlpt_logits_outside_the_support_get_exactly_zero_gradient(tiny):
    batch = TokenBatch.build(PROMPTS, RESPONSES, 0)
    support = random_support(batch, 6, seed=1)
    captured = {}

    def keep_logits(module, inputs, output):
        output.retain_grad()
        captured["logits"] = output  # [tokens, vocab], in response order

    handle = tiny.lm_head.register_forward_hook(keep_logits)
    try:
        out = response_logprobs(tiny, batch, support_ids=support)
        (out.logp * torch.randn(out.logp.shape, dtype=torch.float64)).sum().backward()
    finally:
        handle.remove()
        tiny.zero_grad(set_to_none=True)
    grad = captured["logits"].grad  # [tokens, vocab]
    rows, cols = batch.response_mask().bool().nonzero(as_tuple=True)
    for n, (i, t) in enumerate(zip(rows.tolist(), cols.tolist())):
        inside = set(v for v in support[i, t].tolist() if v >= 0)
        outside = [v for v in range(V) if v not in inside]
        assert torch.all(grad[n, outside] == 0)
        assert grad[n, sorted(inside)].abs().sum() > 0


def test_rlpt_rollout_support_forces_in_a_sampled_token_beyond_its_k():
    ids = torch.tensor([[[7, 3, 9, 5]]], dtype=torch.int32)
    logp = torch.tensor([[[-0.5, -1.0, -float("inf"), -3.0]]])
    assert rollout_support(ids, logp, 3, torch.tensor([[3]])).tolist() == [[[7, 3, -1]]]
    assert rollout_support(ids, logp, 3, torch.tensor([[5]])).tolist() == [[[7, 3, 5]]]


def test_rlpt_nucleus_and_force_in():
    logp = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert nucleus_keep(logp, 0.7).tolist() == [[True, True, False, False]]
    assert nucleus_keep(logp, 0.1).tolist() == [[True, False, False, False]]
    assert nucleus_keep(logp, 1.0).tolist() == [[True, True, True, True]]
    ids = torch.tensor([[3, 4, 5], [3, 4, 5]])
    assert force_in(ids, torch.tensor([4, 9])).tolist() == [[3, 4, 5], [3, 4, 9]]


def test_rlpt_reference_support_is_the_reference_top_k_with_the_sampled_token(tiny):
    batch = TokenBatch.build(PROMPTS, RESPONSES, 0)
    support = reference_support(tiny, batch, Support("reference", 5, 0.9), 1.0)
    assert support.shape == (2, 3, 5) and support.dtype == torch.int32
    for i, (p, r) in enumerate(zip(PROMPTS, RESPONSES)):
        z = full_logits(tiny, p, r)
        probs = torch.softmax(z, -1)
        for t, y in enumerate(r):
            ids = [v for v in support[i, t].tolist() if v >= 0]
            top = probs[t].topk(5).indices.tolist()
            mass, nucleus = 0.0, []
            for v in top:
                if mass >= 0.9:
                    break
                nucleus.append(v)
                mass += probs[t, v].item()
            expected = set(nucleus) if y in nucleus else set(nucleus[:4]) | {y} if len(nucleus) == 5 else set(nucleus) | {y}
            assert set(ids) == expected
    assert torch.all(support[1, 2] == -1)  # padding


def test_rlpt_rollout_support_is_the_top_k_sampling_support(tiny):
    torch.manual_seed(3)
    params = SamplingParams(8, temperature=1.0, top_k=4, top_p=0.8, topk_logprobs=6)
    rollouts = HFEngine(tiny, TinyTokenizer()).generate([[1, 5, 6], [1, 7]] * 2, params)
    for r in rollouts:
        support = rollout_support(r.topk_ids[None], r.topk_logprobs[None], 4, torch.tensor([r.response_ids]))[0]  # [resp, 4]
        z = full_logits(tiny, r.prompt_ids, r.response_ids)
        for t, y in enumerate(r.response_ids):
            ids = [v for v in support[t].tolist() if v >= 0]
            assert y in ids and len(ids) <= 4
            probs = torch.softmax(z[t], -1)
            top4 = probs.topk(4).indices.tolist()
            assert set(ids) <= set(top4)
            kept = torch.softmax(z[t, torch.tensor(ids)], -1)
            assert r.logprobs[t] == pytest.approx(math.log(kept[ids.index(y)].item()), rel=1e-5, abs=1e-6)
