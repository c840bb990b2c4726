"""DAPO's overlong reward shaping (arXiv 2503.14476). (Clip-higher and token-level aggregation are
the ``dapo`` loss; dynamic sampling keeps the groups of :func:`trainer.algorithms.groups.informative_groups`.)

With L_max = max_new_tokens and L_cache the buffer:
  penalty(L) = 0                                   if L <= L_max - L_cache
             = factor ((L_max - L_cache) - L) / L_cache   if L_max - L_cache < L <= L_max
"""

from __future__ import annotations

import torch


def overlong_penalty(lengths: torch.Tensor, max_len: int, buffer: int, factor: float) -> torch.Tensor:
    """[batch] response lengths -> [batch] reward shaping terms (<= 0); buffer 0 = off."""
    if buffer <= 0:
        return torch.zeros(lengths.shape, dtype=torch.float32, device=lengths.device)
    start = max_len - buffer
    return (factor * (start - lengths.float()) / buffer).clamp(max=0.0)
