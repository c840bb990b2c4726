"""Outcome-reward group advantages: GRPO (DeepSeekMath, arXiv 2402.03300), Dr.GRPO (arXiv
2503.20783) and RLOO (Ahmadian et al., arXiv 2402.14740).

GRPO: A_i = (R_i - mean_j R_j) / (std_j R_j + eps) over the responses j of the same prompt,
broadcast to every token of response i; std is the unbiased sample std (as in TRL and verl); a
group of one response has std 0 and advantage 0. Dr.GRPO drops the division. RLOO: A_i = R_i -
mean_{j != i} R_j = n / (n - 1) (R_i - mean_j R_j); a group of one has advantage 0.
"""

from __future__ import annotations

import torch

from trainer.algorithms.registry import register_adv_est
from trainer.algorithms.types import AdvantageInputs, AdvantageOutput


def group_stats(rewards: torch.Tensor, group_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-response group mean, unbiased std and group size, each [batch]."""
    _, inverse, counts = torch.unique(group_ids, return_inverse=True, return_counts=True)  # inverse: [batch]
    sums = torch.zeros(len(counts), dtype=rewards.dtype).index_add_(0, inverse, rewards)  # [groups]
    mean = sums / counts  # [groups]
    sq = torch.zeros(len(counts), dtype=rewards.dtype).index_add_(0, inverse, (rewards - mean[inverse]) ** 2)  # [groups]
    std = torch.sqrt(sq / (counts - 1).clamp(min=1))  # [groups]
    return mean[inverse], std[inverse], counts[inverse]


def normalized_outcome_advantage(rewards: torch.Tensor, group_ids: torch.Tensor, eps: float) -> torch.Tensor:
    """[batch]: (R_i - mean_j R_j) / (std_j R_j + eps)."""
    mean, std, _ = group_stats(rewards, group_ids)
    return (rewards - mean) / (std + eps)


@register_adv_est("grpo")
def grpo_advantages(inp: AdvantageInputs) -> AdvantageOutput:
    adv = normalized_outcome_advantage(inp.rewards, inp.group_ids, inp.eps)  # [batch]
    return AdvantageOutput(adv[:, None] * inp.mask)  # [batch, seq]


@register_adv_est("dr_grpo")
def dr_grpo_advantages(inp: AdvantageInputs) -> AdvantageOutput:
    mean, _, _ = group_stats(inp.rewards, inp.group_ids)  # [batch]
    return AdvantageOutput((inp.rewards - mean)[:, None] * inp.mask)  # [batch, seq]


@register_adv_est("rloo")
def rloo_advantages(inp: AdvantageInputs) -> AdvantageOutput:
    mean, _, n = group_stats(inp.rewards, inp.group_ids)  # [batch] each
    adv = torch.where(n > 1, (inp.rewards - mean) * n / (n - 1).clamp(min=1), torch.zeros_like(mean))  # [batch]
    return AdvantageOutput(adv[:, None] * inp.mask)  # [batch, seq]
