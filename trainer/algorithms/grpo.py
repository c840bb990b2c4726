"""GRPO group advantages (DeepSeekMath, arXiv 2402.03300) and Dr.GRPO (arXiv 2503.20783).

A_i = (R_i - mean_j R_j) / (std_j R_j + eps) over the responses j of the same prompt, broadcast to
every token of response i. std is the unbiased sample std (as in TRL and verl); a group of one
response has std 0 and advantage 0. Dr.GRPO drops the division.
"""

from __future__ import annotations

import torch

from trainer.algorithms.registry import register_adv_est
from trainer.algorithms.types import AdvantageInputs


def group_stats(rewards: torch.Tensor, group_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-response group mean and unbiased std, both [batch]."""
    _, inverse, counts = torch.unique(group_ids, return_inverse=True, return_counts=True)  # inverse: [batch]
    sums = torch.zeros(len(counts), dtype=rewards.dtype).index_add_(0, inverse, rewards)  # [groups]
    mean = sums / counts  # [groups]
    sq = torch.zeros(len(counts), dtype=rewards.dtype).index_add_(0, inverse, (rewards - mean[inverse]) ** 2)  # [groups]
    std = torch.sqrt(sq / (counts - 1).clamp(min=1))  # [groups]
    return mean[inverse], std[inverse]


@register_adv_est("grpo")
def grpo_advantages(inp: AdvantageInputs) -> torch.Tensor:
    mean, std = group_stats(inp.rewards, inp.group_ids)  # [batch]
    adv = (inp.rewards - mean) / (std + inp.eps)  # [batch]
    return adv[:, None] * inp.mask  # [batch, seq]


@register_adv_est("dr_grpo")
def dr_grpo_advantages(inp: AdvantageInputs) -> torch.Tensor:
    mean, _ = group_stats(inp.rewards, inp.group_ids)  # [batch]
    return (inp.rewards - mean)[:, None] * inp.mask  # [batch, seq]
