"""Loss aggregation modes. Each returns this micro-batch's share of the step loss, so that the sum
over micro-batches equals the aggregate over the whole step's batch (exact gradient accumulation).

- token-mean: sum_{i,t} l_{i,t} m_{i,t} / (tokens in the step)          (DAPO)
- seq-mean-token-mean: sum_i [sum_t l m / sum_t m] / (sequences in the step)  (GRPO paper)
- seq-mean-token-sum-norm: sum_{i,t} l m / (sequences x L)               (Dr.GRPO, L = max_new_tokens)
"""

from __future__ import annotations

import torch

from trainer.algorithms.types import LossNormalizer

AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")


def aggregate(token_loss: torch.Tensor, mask: torch.Tensor, mode: str, norm: LossNormalizer) -> torch.Tensor:
    """token_loss, mask: [batch, seq] -> scalar."""
    masked = token_loss * mask  # [batch, seq]
    if mode == "seq-mean-token-mean":
        total = (masked.sum(-1) / mask.sum(-1).clamp(min=1.0)).sum()  # sum over sequences of token means
    else:
        total = masked.sum()
    return total / norm.divisor(mode)
