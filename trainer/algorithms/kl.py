"""A KL penalty to the frozen initial policy (Schulman, "Approximating KL divergence", 2020).

With d = logp_ref - logp per token: k1 = -d, k2 = d^2 / 2, k3 = exp(d) - d - 1 (unbiased, >= 0).
The penalty coef * aggregate(k) is added to the policy loss, aggregated as the loss is.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from trainer.algorithms.reductions import Mean
from trainer.algorithms.registry import register_transform
from trainer.algorithms.types import MicroBatch, Needs, Params, TransformOutput


class KLParams(Params):
    """A KL penalty to the frozen initial policy (off by default; DASH finding iii)."""

    section = "kl"
    coef: float = Field(0.0, ge=0, description="Weight of a KL penalty to the frozen initial policy (0 = off, no reference model is loaded; DASH finding iii).")
    estimator: Literal["k1", "k2", "k3"] = Field("k3", description="KL estimator per token with d = logp_ref - logp: k1 = -d, k2 = d^2 / 2, k3 = exp(d) - d - 1 (Schulman 2020).")


def kl_estimate(logp: torch.Tensor, ref_logp: torch.Tensor, estimator: str) -> torch.Tensor:
    """[batch, seq] -> [batch, seq]."""
    d = ref_logp - logp  # [batch, seq]
    if estimator == "k1":
        return -d
    if estimator == "k2":
        return 0.5 * d**2
    if estimator == "k3":
        return torch.exp(d) - d - 1.0
    raise ValueError(f"unknown KL estimator '{estimator}': use k1, k2 or k3")


@register_transform("kl", params=KLParams, active=lambda p: p.coef > 0, needs=Needs(reference=True, trains_zero_advantage=True))
def kl_penalty(mb: MicroBatch, params: KLParams) -> TransformOutput:
    """Adds coef * aggregate(KL estimate) to the loss; metric: kl, the mean estimate per token."""
    kl_tok = kl_estimate(mb.logp, mb.ref_logp, params.estimator)  # [batch, seq]
    return TransformOutput(loss=params.coef * mb.aggregate(kl_tok), metrics={"kl": Mean((kl_tok.detach() * mb.mask).sum(), mb.mask.sum())})
