"""Sampling noise per response: a response depends on its seed and its prompt alone, and the
per-row Gumbel-max draw samples exactly from the engine's distribution."""

from __future__ import annotations

import math

import pytest
import torch

from tests.trainer.conftest import TinyTokenizer
from trainer.collect import sample_seed
from trainer.rollout.base import SamplingParams
from trainer.rollout.hf import HFEngine, gumbel_sample


@pytest.mark.parametrize("params", [SamplingParams(10, temperature=1.4), SamplingParams(10, temperature=0.9, top_k=6, topk_logprobs=4)], ids=["plain", "topk"])
def test_a_response_depends_on_its_seed_and_prompt_alone(tiny, params):
    engine = HFEngine(tiny, TinyTokenizer(), batch_size=64)
    prompts, seeds = [[1, 5, 6], [1, 7], [1, 5, 6], [1, 9, 9, 4]], [11, 12, 13, 14]
    together = engine.generate(prompts, params, seeds)
    torch.manual_seed(123)  # the global generator plays no part
    alone = [engine.generate([p], params, [s])[0] for p, s in zip(prompts, seeds)]
    reordered = HFEngine(tiny, TinyTokenizer(), batch_size=2).generate(prompts[::-1] + [[1, 3]], params, seeds[::-1] + [99])[:4][::-1]
    for a, b, c in zip(together, alone, reordered):
        assert a.response_ids == b.response_ids == c.response_ids
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-12) and a.logprobs == pytest.approx(c.logprobs, abs=1e-12)
    assert together[0].response_ids != together[2].response_ids  # the same prompt, another seed: another draw


def test_gumbel_max_samples_from_the_softmax():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(1, 6, generator=g, dtype=torch.float64) * 1.5
    scores[0, 4] = -math.inf  # removed by a warper: never drawn
    n = 20_000
    generators = [torch.Generator().manual_seed(s) for s in range(n)]
    draws = torch.cat([gumbel_sample(scores, [gen]) for gen in generators])
    freq = torch.bincount(draws, minlength=6).double() / n
    p = torch.softmax(scores[0], -1)
    assert freq[4] == 0
    assert torch.all((freq - p).abs() <= 4 * torch.sqrt(p * (1 - p) / n) + 1e-12)  # within 4 standard errors


def test_sample_seeds_differ_by_every_part_and_fit_in_62_bits():
    base = sample_seed(0, 3, 0, "arith-17", 5)
    variants = [sample_seed(1, 3, 0, "arith-17", 5), sample_seed(0, 4, 0, "arith-17", 5), sample_seed(0, 3, 1, "arith-17", 5), sample_seed(0, 3, 0, "arith-18", 5), sample_seed(0, 3, 0, "arith-17", 6)]
    assert base == sample_seed(0, 3, 0, "arith-17", 5) and len({base, *variants}) == 6
    assert all(0 <= s < 2**62 for s in (base, *variants))
