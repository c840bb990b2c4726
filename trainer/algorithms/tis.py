"""Truncated importance sampling for the trainer-inference mismatch (Yao et al. 2025, "Your
Efficient RL Framework Secretly Brings You Off-Policy RL Training").

The rollout engine (mu) and the trainer (pi_old) compute slightly different probabilities for the
same weights (kernels, precision), so the samples are a little off-policy. Each token's advantage
is reweighted by the truncated ratio, which corrects the gradient's expectation and bounds its
variance:

    A_t <- A_t * sg(min(pi_old(y_t) / mu(y_t), C))
"""

from __future__ import annotations

import torch
from pydantic import Field

from trainer.algorithms.reductions import Mean
from trainer.algorithms.registry import register_transform
from trainer.algorithms.types import MicroBatch, Needs, Params, TransformOutput


class TISParams(Params):
    """Truncated importance sampling of the trainer-inference mismatch."""

    section = "tis"
    cap: float = Field(0.0, ge=0, description="Truncated importance sampling for the trainer-inference mismatch (Yao et al. 2025, 'Your Efficient RL Framework Secretly Brings You Off-Policy RL Training'): every token's advantage is multiplied by sg(min(pi_old(y_t) / mu(y_t), C)), mu the rollout engine's probability, C = cap (2 is common). 0 = off.")


def truncated_is_weight(old_logp: torch.Tensor, rollout_logp: torch.Tensor, cap: float) -> torch.Tensor:
    """[batch, seq] log-probs of the trainer (pi_old) and the engine (mu) -> [batch, seq] weights
    min(pi_old / mu, cap), without gradient."""
    return torch.exp(old_logp.detach() - rollout_logp).clamp(max=cap)


@register_transform("tis", params=TISParams, active=lambda p: p.cap > 0, needs=Needs(rollout_policy=True))
def truncated_is(mb: MicroBatch, params: TISParams) -> TransformOutput:
    """A_t <- A_t * sg(min(pi_old(y_t) / mu(y_t), cap)); metrics: mean weight, capped fraction."""
    weight = truncated_is_weight(mb.old_logp, mb.rollout_logp, params.cap)  # [batch, seq]
    metrics = {}
    if mb.first_pass:
        tokens = mb.mask.sum()
        metrics = {"tis/weight": Mean((weight * mb.mask).sum(), tokens), "tis/capped": Mean(((weight >= params.cap) * mb.mask).sum(), tokens)}
    return TransformOutput(advantages=mb.advantages * weight, metrics=metrics)
