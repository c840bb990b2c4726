"""The PPO clipped surrogate (Schulman et al. 2017), as GRPO uses it, and DAPO's (arXiv 2503.14476).

Per token: r = exp(logp - logp_old); l = -min(r A, clip(r, 1 - eps_low, 1 + eps_high) A).
DAPO is the same surrogate with clip-higher (eps_high = 0.28 > eps_low = 0.2) and token-mean
aggregation; the config sets both, so one function serves both names.
"""

from __future__ import annotations

import torch

from trainer.algorithms.aggregation import aggregate
from trainer.algorithms.registry import register_policy_loss
from trainer.algorithms.types import PolicyLossInputs, PolicyLossOutput


@register_policy_loss("ppo_clip")
@register_policy_loss("dapo")
def ppo_clip_loss(inp: PolicyLossInputs) -> PolicyLossOutput:
    ratio = torch.exp(inp.logp - inp.old_logp)  # [batch, seq]
    unclipped = ratio * inp.advantages  # [batch, seq]
    clipped = ratio.clamp(1.0 - inp.eps_low, 1.0 + inp.eps_high) * inp.advantages  # [batch, seq]
    token_loss = -torch.minimum(unclipped, clipped)  # [batch, seq]
    loss = aggregate(token_loss, inp.mask, inp.agg, inp.normalizer)
    with torch.no_grad():
        was_clipped = (clipped < unclipped).float() * inp.mask  # [batch, seq]
    return PolicyLossOutput(loss=loss, metrics={"clip_fraction": was_clipped.sum()})
