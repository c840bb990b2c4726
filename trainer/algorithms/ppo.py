"""The PPO clipped surrogate (Schulman et al. 2017), as GRPO uses it, and DAPO's (arXiv 2503.14476).

Per token: r = exp(logp - logp_old); l = -min(r A, clip(r, 1 - eps_low, 1 + eps_high) A).
DAPO is the same surrogate with clip-higher (eps_high defaults to 0.28 > eps_low = 0.2) and the
token-mean aggregation it is defined with.
"""

from __future__ import annotations

import torch
from pydantic import Field

from trainer.algorithms.reductions import Mean
from trainer.algorithms.registry import register_policy_loss
from trainer.algorithms.types import Needs, Params, PolicyLossInputs, PolicyLossOutput


class ClipParams(Params):
    """The ratio clip range of ppo_clip and dapo: r is clipped to [1 - eps_low, 1 + eps_high]."""

    section = "clip"
    eps_low: float = Field(0.2, ge=0, description="Lower clip range of the ratio r = exp(logp - logp_old) (ppo_clip, dapo).")
    eps_high: float = Field(0.2, ge=0, description="Upper clip range of the ratio (ppo_clip, dapo). Unset: 0.2 for ppo_clip, DAPO's clip-higher 0.28 for dapo (arXiv 2503.14476).")


def clipped_surrogate(inp: PolicyLossInputs, params: ClipParams) -> PolicyLossOutput:
    """PPO clip: -min(r A, clip(r, 1 - eps_low, 1 + eps_high) A) per token; metric: clip_fraction."""
    ratio = torch.exp(inp.logp - inp.old_logp)  # [batch, seq]
    unclipped = ratio * inp.advantages  # [batch, seq]
    clipped = ratio.clamp(1.0 - params.eps_low, 1.0 + params.eps_high) * inp.advantages  # [batch, seq]
    token_loss = -torch.minimum(unclipped, clipped)  # [batch, seq]
    with torch.no_grad():
        was_clipped = (clipped < unclipped).to(inp.mask.dtype) * inp.mask  # [batch, seq]
    return PolicyLossOutput(loss=inp.aggregate(token_loss), metrics={"clip_fraction": Mean(was_clipped.sum(), inp.mask.sum())})


register_policy_loss("ppo_clip", params=ClipParams)(clipped_surrogate)


@register_policy_loss("dapo", params=ClipParams, defaults={"eps_high": 0.28}, needs=Needs(loss_agg="token-mean"))
def dapo_surrogate(inp: PolicyLossInputs, params: ClipParams) -> PolicyLossOutput:
    """DAPO: the PPO clip surrogate with clip-higher (eps_high 0.28) and token-mean aggregation."""
    return clipped_surrogate(inp, params)
