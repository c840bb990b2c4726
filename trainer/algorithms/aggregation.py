"""Loss aggregation modes. Each returns this micro-batch's share of the step loss, so that the sum
over micro-batches equals the aggregate over the whole step's batch (exact gradient accumulation).

- token-mean: sum_{i,t} l_{i,t} m_{i,t} / (tokens in the step)          (DAPO)
- seq-mean-token-mean: sum_i [sum_t l m / sum_t m] / (sequences in the step)  (GRPO paper)
- seq-mean-token-sum-norm: sum_{i,t} l m / (sequences x L)               (Dr.GRPO, L = max_new_tokens)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")


@dataclass
class LossNormalizer:
    """Global counts of the whole optimizer step, so that micro-batch losses add up exactly.

    ``LossNormalizer.unit()`` makes :func:`aggregate` return the un-normalized sum; the trainer
    accumulates such sums and divides the gradient by :meth:`divisor` once the step's counts are
    known (which, without preemptive sampling, is only after the last micro-batch).
    """

    tokens: float  # response tokens in the step's batch
    sequences: float  # sequences in the step's batch
    max_len: int  # generation budget L (seq-mean-token-sum-norm)

    @staticmethod
    def unit() -> LossNormalizer:
        return LossNormalizer(1.0, 1.0, 1)

    def divisor(self, mode: str) -> float:
        """The denominator of aggregation ``mode``."""
        by_mode = {"token-mean": self.tokens, "seq-mean-token-mean": self.sequences, "seq-mean-token-sum-norm": self.sequences * self.max_len}
        if mode not in by_mode:
            raise ValueError(f"unknown loss aggregation '{mode}': use one of {', '.join(by_mode)}")
        return max(by_mode[mode], 1.0)


def aggregate(token_loss: torch.Tensor, mask: torch.Tensor, mode: str, norm: LossNormalizer) -> torch.Tensor:
    """token_loss, mask: [batch, seq] -> scalar."""
    masked = token_loss * mask  # [batch, seq]
    if mode == "seq-mean-token-mean":
        total = (masked.sum(-1) / mask.sum(-1).clamp(min=1.0)).sum()  # sum over sequences of token means
    else:
        total = masked.sum()
    return total / norm.divisor(mode)
