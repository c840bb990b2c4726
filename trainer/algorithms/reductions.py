"""Statistics that declare how they reduce.

Every number an algorithm or the loop reports for a step is a :class:`Stat`: a running value plus
the rule that combines two of them. The rule is the same whether the two come from two
micro-batches, two passes over the batch or two processes, so a step's statistics add up the same
way on one process and on many:

- ``sum``:   a count or a total (sequences trained, seconds spent);
- ``mean``:  a weighted mean, kept as (sum of values, sum of weights) so that means over parts of
             different sizes combine exactly (per token: weight = tokens; per sample: samples);
- ``max``:   the largest value;
- ``first``: the value first recorded (one that every part agrees on, such as the learning rate);
- ``last``:  the value last recorded (the gradient norm of the step's last optimizer update);
- ``std`` / ``var``: the unbiased standard deviation / variance, kept as (n, sum, sum of squares);
- ``elapsed``: seconds, added up within a process; across processes the slowest one's (the step's
  wall-clock waits for it).

First and last across processes mean in rank order.

A mean over a zero weight is NaN (nothing was measured); the metrics writer leaves it out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class Reduce(str, Enum):
    SUM = "sum"
    MEAN = "mean"
    MAX = "max"
    FIRST = "first"
    LAST = "last"
    STD = "std"
    VAR = "var"
    ELAPSED = "elapsed"


_ADDITIVE = (Reduce.SUM, Reduce.MEAN, Reduce.STD, Reduce.VAR)


@dataclass
class Stat:
    """One statistic. ``total``: the value (sum, max, first, last) or the sum of values (mean, std,
    var); ``weight``: the sum of weights (mean) or of counts (std, var); ``squares``: the sum of
    squared values (std, var)."""

    reduce: Reduce
    total: float = 0.0
    weight: float = 0.0
    squares: float = 0.0

    def merge(self, other: Stat, across: bool = False) -> None:
        """Fold ``other`` (of the same rule) into this one; ``across``: ``other`` is another
        process's statistic of the same step, not another part of this process's."""
        if other.reduce != self.reduce:
            raise ValueError(f"cannot merge a {other.reduce.value} statistic into a {self.reduce.value} one")
        if self.reduce == Reduce.ELAPSED:
            self.total = max(self.total, other.total) if across else self.total + other.total
            self.weight += other.weight
        elif self.reduce in _ADDITIVE:
            self.total += other.total
            self.weight += other.weight
            self.squares += other.squares
        elif self.reduce == Reduce.MAX:
            self.total = max(self.total, other.total) if self.weight else other.total
            self.weight += other.weight
        elif self.reduce == Reduce.LAST or not self.weight:  # FIRST keeps its value once it has one
            self.total, self.weight = other.total, self.weight + other.weight

    @property
    def value(self) -> float:
        """The statistic's value: NaN when nothing was recorded (a mean over zero weight)."""
        if self.reduce in (Reduce.SUM, Reduce.ELAPSED):
            return self.total
        if self.reduce == Reduce.MEAN:
            return self.total / self.weight if self.weight else math.nan
        if self.reduce in (Reduce.STD, Reduce.VAR):
            n = self.weight
            if n < 2:  # the unbiased estimate needs two values
                return math.nan
            mean = self.total / n
            var = max(self.squares / n - mean * mean, 0.0) * n / max(n - 1, 1.0)
            return math.sqrt(var) if self.reduce == Reduce.STD else var
        return self.total if self.weight else math.nan


def Sum(value) -> Stat:
    """A count or total; ``value`` a number or a 0-d tensor."""
    return Stat(Reduce.SUM, float(value), 1.0)


def Mean(total, weight) -> Stat:
    """A weighted mean given as (sum of values, sum of weights), e.g. (sum over tokens, tokens)."""
    return Stat(Reduce.MEAN, float(total), float(weight))


def Max(value) -> Stat:
    return Stat(Reduce.MAX, float(value), 1.0)


def First(value) -> Stat:
    return Stat(Reduce.FIRST, float(value), 1.0)


def Last(value) -> Stat:
    return Stat(Reduce.LAST, float(value), 1.0)


def Elapsed(seconds: float) -> Stat:
    """Seconds spent: summed within a process, the slowest process's across processes."""
    return Stat(Reduce.ELAPSED, float(seconds), 1.0)


def Std(values: list[float]) -> Stat:
    """The unbiased standard deviation of ``values`` (an empty list records nothing)."""
    return Stat(Reduce.STD, float(sum(values)), float(len(values)), float(sum(v * v for v in values)))


def Var(values: list[float]) -> Stat:
    """The unbiased variance of ``values``."""
    return Stat(Reduce.VAR, float(sum(values)), float(len(values)), float(sum(v * v for v in values)))


class StepStats:
    """A step's statistics by name; :meth:`add` merges a new part into the one of the same name."""

    def __init__(self) -> None:
        self.stats: dict[str, Stat] = {}

    def add(self, name: str, stat: Stat, across: bool = False) -> None:
        """Merge ``stat`` into the statistic ``name`` (``across``: it is another process's)."""
        if name in self.stats:
            self.stats[name].merge(stat, across)
        else:
            self.stats[name] = Stat(stat.reduce, stat.total, stat.weight, stat.squares)

    def update(self, stats: dict[str, Stat], across: bool = False) -> None:
        for name, stat in stats.items():
            self.add(name, stat, across)

    def get(self, name: str) -> float:
        """The value of ``name`` (NaN when it was never recorded)."""
        return self.stats[name].value if name in self.stats else math.nan

    def values(self) -> dict[str, float]:
        """Every statistic's value, by name."""
        return {name: stat.value for name, stat in self.stats.items()}
