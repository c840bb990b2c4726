"""DASH's filter (arXiv 2505.17218) and DAPO's batch techniques (arXiv 2503.14476) against float64
references, and the trainer's choice of what to forward, before any forward pass."""

from __future__ import annotations

import math
import random

import pytest
import torch

from trainer.algorithms.dapo import overlong_penalty
from trainer.algorithms.dash import keep_after_filter
from trainer.algorithms.groups import informative_groups
from trainer.algorithms.reductions import StepStats
from trainer.gradients import GradientAccumulator


def ref_normalized(rewards, groups, eps):
    out = []
    for i, g in enumerate(groups):
        xs = [rewards[j] for j, h in enumerate(groups) if h == g]
        mean = sum(xs) / len(xs)
        std = math.sqrt(sum((x - mean) ** 2 for x in xs) / max(len(xs) - 1, 1))
        out.append((rewards[i] - mean) / (std + eps))
    return out


@pytest.mark.parametrize("tau", [0.0, 0.1, 0.5, 1.2])
@pytest.mark.parametrize("seed", range(4))
def test_dash_filter_keeps_samples_above_tau(seed, tau):
    rng = random.Random(seed)
    groups = [g for g in range(6) for _ in range(4)]
    rewards = [rng.choice([0.0, 1.0, round(rng.random(), 2)]) for _ in groups]
    keep = keep_after_filter(torch.tensor(rewards, dtype=torch.float64), torch.tensor(groups), tau, 1e-6)
    expected = [True] * len(groups) if tau == 0 else [abs(a) > tau for a in ref_normalized(rewards, groups, 1e-6)]
    assert keep.tolist() == expected


def test_dash_filter_with_binary_rewards_drops_exactly_the_all_equal_groups():
    groups = torch.tensor([0] * 8 + [1] * 8 + [2] * 8)
    rewards = torch.tensor([1.0] * 8 + [0.0] * 8 + [1.0] + [0.0] * 7)
    keep = keep_after_filter(rewards, groups, 0.1, 1e-6)
    assert keep.tolist() == [False] * 16 + [True] * 8


@pytest.mark.parametrize("length,expected", [(10, 0.0), (24, 0.0), (25, -1 / 8), (28, -0.5), (32, -1.0)])
def test_dapo_overlong_penalty_matches_the_formula(length, expected):
    # L_max = 32, L_cache = 8: no penalty up to 24 tokens, then linear down to -1 at 32
    assert overlong_penalty(torch.tensor([length]), 32, 8, 1.0).item() == pytest.approx(expected)
    assert overlong_penalty(torch.tensor([length]), 32, 8, 0.5).item() == pytest.approx(expected / 2)
    assert overlong_penalty(torch.tensor([length]), 32, 0, 1.0).item() == 0.0


def test_dapo_informative_groups():
    groups = torch.tensor([0, 0, 1, 1, 1, 2])
    rewards = torch.tensor([1.0, 1.0, 0.0, 0.5, 0.0, 1.0])
    assert informative_groups(rewards, groups).tolist() == [False, False, True, True, True, False]


def test_dash_gradient_accumulator_sums_micro_batches_and_measures_their_norms():
    g = torch.Generator().manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5, generator=g, dtype=torch.float64))
    acc = GradientAccumulator([w])
    xs = [torch.randn(5, generator=g, dtype=torch.float64) for _ in range(3)]
    divisors = [2.0, 3.0, 4.0]
    for x in xs:
        (w * x).sum().backward()
        acc.collect(divisors[len(acc.micro_norms)])
        assert w.grad is None
    acc.finish(10.0)
    assert torch.allclose(w.grad, sum(xs) / 10.0)
    norms = [float(x.norm()) / d for x, d in zip(xs, divisors)]
    mean = sum(norms) / 3
    stats = acc.norm_stats()
    assert stats["grad_norm/micro_mean"].value == pytest.approx(mean)
    assert stats["grad_norm/micro_var"].value == pytest.approx(sum((n - mean) ** 2 for n in norms) / 2)
    assert stats["grad_norm/micro_batches"].value == 3


class ScriptedEngine:
    """Fault-free stand-in for sampling in a test of the refill rule: answers every group of a call
    with a scripted pattern of right (1) and wrong (0) boxed answers to 'What is a + b?'."""

    def __init__(self, tokenizer, patterns):
        self.tokenizer, self.patterns, self.calls = tokenizer, list(patterns), []

    def generate(self, prompts, params, seeds=None):
        import re

        from trainer.rollout.base import Rollout

        pattern = self.patterns.pop(0)
        self.calls.append(len(prompts))
        group = len(prompts) // len(pattern)
        out = []
        for i, p in enumerate(prompts):
            a, b = map(int, re.findall(r"What is (\d+) \+ (\d+)\?", self.tokenizer.decode(p))[-1])
            right = pattern[i // group][i % group]
            ids = self.tokenizer(f"\\boxed{{{a + b if right else a + b + 1}}}")["input_ids"] + [self.tokenizer.eos_token_id]
            out.append(Rollout(p, ids, [0.0] * len(ids), True))
        return out


def scripted_collector(patterns, *overrides):
    from contract.schema import Score, Status
    from rewards.math.check import check_one
    from trainer.collect import Collector
    from trainer.config import load_config
    from trainer.data.arithmetic import arithmetic_splits
    from trainer.data.sampler import EpochSampler
    from trainer.model import load_tokenizer
    from trainer.tools.episodes import EpisodeRunner

    cfg = load_config(None, ["rollout.prompts_per_step=2", "rollout.group_size=4", "algorithm.dapo.dynamic_sampling=true", *overrides])
    needs = cfg.algorithm.needs()
    tokenizer = load_tokenizer(cfg.model.path)

    def score(samples):
        return [Score(s.id, r, Status(st), d) for s in samples for st, r, d in [check_one(s.response, s.reference["answer"])]]

    engine = ScriptedEngine(tokenizer, patterns)
    return Collector(cfg, EpisodeRunner(engine, tokenizer), score, EpochSampler(arithmetic_splits()[0], 0), needs), engine


def test_dapo_dynamic_sampling_refills_until_enough_groups_carry_a_signal():
    all_right, mixed = [1, 1, 1, 1], [1, 0, 0, 1]
    collector, engine = scripted_collector([[all_right, mixed], [all_right], [mixed]], "algorithm.dapo.max_sampling_rounds=3")
    stats = StepStats()
    exp = collector.collect(collector.sampler.next_batch(2), stats)
    assert engine.calls == [8, 4, 4]  # the full batch, then one prompt per extra round
    assert len(exp) == 8 and len(exp.group_ids.unique()) == 2
    assert stats.get("dapo/sampling_rounds") == 2 and stats.get("dapo/groups_kept") == 2
    reward = stats.stats["reward/mean"]  # rewards of everything scored
    assert reward.weight == 16 and reward.total == 4 + 2 + 4 + 2
    assert exp.rewards.tolist() == [1.0, 0.0, 0.0, 1.0] * 2


def test_dapo_dynamic_sampling_stops_at_its_cap():
    same = [[1, 1, 1, 1], [0, 0, 0, 0]]
    collector, engine = scripted_collector([same, same[:1] * 2, same[:1] * 2], "algorithm.dapo.max_sampling_rounds=2")
    stats = StepStats()
    assert collector.collect(collector.sampler.next_batch(2), stats) is None  # nothing with a signal: no update
    assert engine.calls == [8, 8, 8] and stats.get("dapo/sampling_rounds") == 2 and stats.get("dapo/groups_kept") == 0


def test_micro_batches_keep_groups_together_within_the_size():
    from trainer.loop import micro_batches

    gen = torch.Generator().manual_seed(0)
    for _ in range(100):
        group_size = int(torch.randint(1, 9, (1,), generator=gen))
        groups = int(torch.randint(1, 9, (1,), generator=gen))
        size = int(torch.randint(1, 17, (1,), generator=gen))
        group_ids = torch.arange(groups).repeat_interleave(group_size)
        lengths = torch.randint(1, 40, (len(group_ids),), generator=gen)
        rows = [i for i in range(len(group_ids)) if torch.rand(1, generator=gen) < 0.7]
        for whole in (False, True):
            micro = micro_batches(group_ids, lengths, rows, size, whole_groups=whole)
            assert sorted(int(i) for m in micro for i in m) == rows
            for m in micro:
                assert len(m) <= (max(size, group_size) if whole else size)
            per_group = {int(g): {j for j, m in enumerate(micro) if any(group_ids[int(i)] == g for i in m)} for g in group_ids[rows].tolist()}
            if whole or group_size <= size:  # a group is split only when it does not fit
                assert all(len(where) == 1 for where in per_group.values())
