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
from torch.distributed.tensor import DTensor

from trainer.algorithms.reductions import Mean, Stat, Sum, Var


def _local(t: torch.Tensor) -> torch.Tensor:
    """This process's part of ``t``: its shard when ``t`` is a DTensor, else ``t`` itself."""
    return t.to_local() if isinstance(t, DTensor) else t


class GradientAccumulator:
    """Accumulates on each parameter's local tensor: the whole gradient, or this process's shard of
    it when the parameters are sharded (FSDP2's DTensors)."""

    def __init__(self, params) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.sum: list[torch.Tensor] | None = None  # allocated at the first collect of a pass
        self.micro_norms: list[float] = []

    def _buffers(self) -> list[torch.Tensor]:
        if self.sum is None:
            self.sum = [torch.zeros_like(_local(p)) for p in self.params]
        return self.sum

    def collect(self, divisor: float, reduce_norm: Callable[[list[float]], list[float]] | None = None) -> None:
        """Take the gradient left by one backward pass; ``divisor`` normalizes its norm.
        ``reduce_norm`` sums [squared norm, divisor] over the processes when each holds a shard of
        the same gradient."""
        grads = [_local(p.grad) if p.grad is not None else torch.zeros_like(_local(p)) for p in self.params]
        squared = sum(float(n) ** 2 for n in torch._foreach_norm(grads))
        if reduce_norm is not None:
            squared, divisor = reduce_norm([squared, divisor])
        self.micro_norms.append(math.sqrt(squared) / max(divisor, 1e-12))
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
            p.grad = DTensor.from_local(g, p.device_mesh, p.placements, shape=p.shape, stride=p.stride()) if isinstance(p, DTensor) else g
        self.sum = None

    def norm_stats(self) -> dict[str, Stat]:
        """The per-micro-batch gradient norms collected so far: their mean, their (unbiased)
        variance, and how many there were."""
        norms = self.micro_norms
        if not norms:
            return {}
        return {"grad_norm/micro_mean": Mean(sum(norms), len(norms)), "grad_norm/micro_batches": Sum(len(norms)), "grad_norm/micro_var": Var(norms)}
