"""Gradient accumulation over micro-batches that also measures each micro-batch's gradient norm.

Micro-batch losses are un-normalized sums; after each backward the fresh gradient is measured and
moved into an accumulator (one extra parameter-sized buffer), and :meth:`finish` divides the sum by
the step's loss divisor once the step's counts are known. The variance of the per-micro-batch norms
(each normalized by its own micro-batch's divisor, so every one is a full-size gradient estimate)
is the gradient-noise metric reported for every run.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from trainer.algorithms.reductions import Mean, Stat, Sum, Var


class GradientAccumulator:
    def __init__(self, params) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.sum: list[torch.Tensor] | None = None  # allocated at the first collect of a pass
        self.micro_norms: list[float] = []

    def _buffers(self) -> list[torch.Tensor]:
        if self.sum is None:
            self.sum = [torch.zeros_like(p) for p in self.params]
        return self.sum

    def collect(self, divisor: float) -> None:
        """Take the gradient left by one backward pass; ``divisor`` normalizes its norm."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        norms = torch._foreach_norm(grads)
        self.micro_norms.append(math.sqrt(sum(float(n) ** 2 for n in norms)) / max(divisor, 1e-12))
        torch._foreach_add_(self._buffers(), grads)
        for p in self.params:
            p.grad = None

    def finish(self, divisor: float, reduce: Callable[[list[torch.Tensor]], None] | None = None) -> None:
        """Hand the accumulated sum / divisor to the parameters' ``.grad`` (zeros if nothing ran);
        ``reduce`` first sums the accumulated gradients over the processes, in place."""
        total = self._buffers()
        if reduce is not None:
            reduce(total)
        torch._foreach_mul_(total, 1.0 / max(divisor, 1e-12))
        for p, g in zip(self.params, total):
            p.grad = g
        self.sum = None

    def norm_stats(self) -> dict[str, Stat]:
        """The per-micro-batch gradient norms collected so far: their mean, their (unbiased)
        variance, and how many there were."""
        norms = self.micro_norms
        if not norms:
            return {}
        return {"grad_norm/micro_mean": Mean(sum(norms), len(norms)), "grad_norm/micro_batches": Sum(len(norms)), "grad_norm/micro_var": Var(norms)}
