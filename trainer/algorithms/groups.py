"""Statistics of a step's groups (the responses sampled for one prompt), shared by the advantage
estimators, DASH's filter, DAPO's dynamic sampling and OTB's metrics.

``rewards``: [batch] outcome rewards; ``group_ids``: [batch] long, equal within a group.
"""

from __future__ import annotations

import torch


def group_stats(rewards: torch.Tensor, group_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-response group mean, unbiased std and group size, each [batch]."""
    _, inverse, counts = torch.unique(group_ids, return_inverse=True, return_counts=True)  # inverse: [batch]
    sums = torch.zeros(len(counts), dtype=rewards.dtype, device=rewards.device).index_add_(0, inverse, rewards)  # [groups]
    mean = sums / counts  # [groups]
    sq = torch.zeros(len(counts), dtype=rewards.dtype, device=rewards.device).index_add_(0, inverse, (rewards - mean[inverse]) ** 2)  # [groups]
    std = torch.sqrt(sq / (counts - 1).clamp(min=1))  # [groups]
    return mean[inverse], std[inverse], counts[inverse]


def normalized_outcome_advantage(rewards: torch.Tensor, group_ids: torch.Tensor, eps: float) -> torch.Tensor:
    """[batch]: the group-normalized advantage (R_i - mean_j R_j) / (std_j R_j + eps)."""
    mean, std, _ = group_stats(rewards, group_ids)
    return (rewards - mean) / (std + eps)


def informative_groups(rewards: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """[batch] bool: the response's group has rewards that are not all equal (a group whose rewards
    are all equal carries no outcome signal)."""
    _, inverse = torch.unique(group_ids, return_inverse=True)
    groups = int(inverse.max()) + 1 if len(inverse) else 0
    high = torch.full((groups,), -torch.inf, dtype=rewards.dtype, device=rewards.device).scatter_reduce(0, inverse, rewards, "amax")
    low = torch.full((groups,), torch.inf, dtype=rewards.dtype, device=rewards.device).scatter_reduce(0, inverse, rewards, "amin")
    return (high > low)[inverse]
