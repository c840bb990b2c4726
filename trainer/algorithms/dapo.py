"""DAPO's batch-level techniques (arXiv 2503.14476): overlong reward shaping and the group test of
dynamic sampling. (Clip-higher and token-level aggregation are options of the loss.)

Overlong shaping, with L_max = max_new_tokens and L_cache the buffer:
  penalty(L) = 0                                   if L <= L_max - L_cache
             = factor ((L_max - L_cache) - L) / L_cache   if L_max - L_cache < L <= L_max
Dynamic sampling keeps only groups whose rewards are not all equal (those carry no GRPO signal).
"""

from __future__ import annotations

import torch


def overlong_penalty(lengths: torch.Tensor, max_len: int, buffer: int, factor: float) -> torch.Tensor:
    """[batch] response lengths -> [batch] reward shaping terms (<= 0); buffer 0 = off."""
    if buffer <= 0:
        return torch.zeros(lengths.shape, dtype=torch.float32)
    start = max_len - buffer
    return (factor * (start - lengths.float()) / buffer).clamp(max=0.0)


def informative_groups(rewards: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """[batch] bool: the response's group has rewards that are not all equal."""
    _, inverse = torch.unique(group_ids, return_inverse=True)
    groups = int(inverse.max()) + 1 if len(inverse) else 0
    high = torch.full((groups,), -torch.inf, dtype=rewards.dtype).scatter_reduce(0, inverse, rewards, "amax")
    low = torch.full((groups,), torch.inf, dtype=rewards.dtype).scatter_reduce(0, inverse, rewards, "amin")
    return (high > low)[inverse]
