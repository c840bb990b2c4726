"""Outcome-reward group advantages: GRPO (DeepSeekMath, arXiv 2402.03300), Dr.GRPO (arXiv
2503.20783) and RLOO (Ahmadian et al., arXiv 2402.14740).

GRPO: A_i = (R_i - mean_j R_j) / (std_j R_j + eps) over the responses j of the same prompt,
broadcast to every token of response i; std is the unbiased sample std (as in TRL and verl); a
group of one response has std 0 and advantage 0. Dr.GRPO drops the division. RLOO: A_i = R_i -
mean_{j != i} R_j = n / (n - 1) (R_i - mean_j R_j); a group of one has advantage 0.
"""

from __future__ import annotations

import torch

from trainer.algorithms.groups import group_stats, normalized_outcome_advantage
from trainer.algorithms.registry import register_adv_est
from trainer.algorithms.types import AdvantageInputs, AdvantageOutput, Needs

GROUP_RELATIVE = Needs(min_group_size=2)  # each response is compared with the rest of its group


@register_adv_est("grpo", needs=GROUP_RELATIVE)
def grpo_advantages(inp: AdvantageInputs) -> AdvantageOutput:
    """GRPO: A_i = (R_i - mean_j R_j) / (std_j R_j + eps), eps = algorithm.adv_eps."""
    adv = normalized_outcome_advantage(inp.rewards, inp.group_ids, inp.eps)  # [batch]
    return AdvantageOutput(adv[:, None] * inp.mask)  # [batch, seq]


@register_adv_est("dr_grpo", needs=GROUP_RELATIVE)
def dr_grpo_advantages(inp: AdvantageInputs) -> AdvantageOutput:
    """Dr.GRPO: A_i = R_i - mean_j R_j (no std division)."""
    mean, _, _ = group_stats(inp.rewards, inp.group_ids)  # [batch]
    return AdvantageOutput((inp.rewards - mean)[:, None] * inp.mask)  # [batch, seq]


@register_adv_est("rloo", needs=GROUP_RELATIVE)
def rloo_advantages(inp: AdvantageInputs) -> AdvantageOutput:
    """RLOO: A_i = R_i - mean_{j != i} R_j (leave-one-out baseline)."""
    mean, _, n = group_stats(inp.rewards, inp.group_ids)  # [batch] each
    adv = torch.where(n > 1, (inp.rewards - mean) * n / (n - 1).clamp(min=1), torch.zeros_like(mean))  # [batch]
    return AdvantageOutput(adv[:, None] * inp.mask)  # [batch, seq]
