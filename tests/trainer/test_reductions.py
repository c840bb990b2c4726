"""Statistics that declare how they reduce: merged over parts of any sizes, they equal the
statistic of the whole, computed independently in float64."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from trainer.algorithms.reductions import First, Last, Max, Mean, Reduce, Stat, Std, StepStats, Sum, Var


def split(values: list[float], rng: random.Random) -> list[list[float]]:
    """``values`` cut into parts of random sizes (some empty)."""
    cuts = sorted(rng.randint(0, len(values)) for _ in range(rng.randint(0, 5)))
    return [values[a:b] for a, b in zip([0, *cuts], [*cuts, len(values)])]


@pytest.mark.parametrize("seed", range(10))
def test_merged_parts_equal_the_whole(seed):
    rng = random.Random(seed)
    values = [rng.uniform(-3, 5) for _ in range(rng.randint(2, 40))]
    weights = [rng.randint(1, 9) for _ in values]
    stats = StepStats()
    start = 0
    for part in split(values, rng):
        w = weights[start : start + len(part)]
        start += len(part)
        stats.add("sum", Sum(sum(part)))
        stats.add("mean", Mean(sum(v * x for v, x in zip(part, w)), sum(w)))
        stats.add("std", Std(part))
        stats.add("var", Var(part))
        for v in part:
            stats.add("max", Max(v))
            stats.add("first", First(v))
            stats.add("last", Last(v))
    assert stats.get("sum") == pytest.approx(sum(values), rel=1e-12)
    assert stats.get("mean") == pytest.approx(sum(v * x for v, x in zip(values, weights)) / sum(weights), rel=1e-12)
    assert stats.get("std") == pytest.approx(statistics.stdev(values), rel=1e-9)
    assert stats.get("var") == pytest.approx(statistics.variance(values), rel=1e-9)
    assert (stats.get("max"), stats.get("first"), stats.get("last")) == (max(values), values[0], values[-1])


def test_nothing_measured_is_nan_not_zero():
    assert math.isnan(Stat(Reduce.MEAN).value) and math.isnan(Mean(0, 0).value)
    assert math.isnan(Std([1.0]).value) and math.isnan(Var([]).value)  # the unbiased estimate needs two values
    assert math.isnan(StepStats().get("never recorded"))
    assert Sum(0).value == 0


def test_statistics_of_different_rules_do_not_merge():
    stats = StepStats()
    stats.add("x", Sum(1))
    with pytest.raises(ValueError, match="cannot merge a mean statistic into a sum one"):
        stats.add("x", Mean(1, 1))


def test_a_recorded_statistic_is_copied_not_shared():
    part = Sum(2)
    stats = StepStats()
    stats.add("x", part)
    stats.add("x", Sum(3))
    assert part.total == 2 and stats.get("x") == 5
