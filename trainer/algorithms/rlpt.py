"""RLPT: Reinforcement Learning with Promising Tokens (arXiv 2602.03195), the support P_t.

P_t = {v : rank(v | s_t) <= K} of the rollout policy (its top-k sampling support) or of the frozen
reference model at the same positions, optionally intersected with the nucleus of mass top_p, with
the sampled token always forced in. It is stored as K int32 ids per token (-1 = no id), never as a
|V|-wide mask. The policy is renormalized on P_t for both the current and the old policy,
log pi~(y_t) = z_t[y_t] - logsumexp_{v in P_t} z_t[v] (the forward pass does it, given the ids),
and the ratio r = exp(log pi~_new - log pi~_old) goes into the unchanged GRPO / DAPO / DPPO loss.

As an algorithm RLPT is a transform: it declares the support (and, with the rollout support,
top-k sampling) as its needs, and reports how the support sits in the full distribution.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from trainer.algorithms.reductions import Mean
from trainer.algorithms.registry import register_transform
from trainer.algorithms.types import MicroBatch, Needs, Params, Support, TransformOutput


class RLPTParams(Params):
    """RLPT, Reinforcement Learning with Promising Tokens (arXiv 2602.03195)."""

    section = "rlpt"
    top_k: int = Field(0, ge=0, description="RLPT (arXiv 2602.03195): K of the promising-token set P_t = TopK(z_t, K), the sampled token always forced in; the policy is renormalized on it: log pi~(y_t) = z_t[y_t] - logsumexp_{v in P_t} z_t[v], used for the new and the old policy. 0 = off; 16 is the reconstruction's default.")
    support: Literal["rollout", "reference"] = Field("rollout", description="RLPT: whose logits choose P_t. rollout: the sampling policy (sampling is then restricted to P_t, i.e. top-k sampling); reference: the frozen initial model at the same positions (one extra forward without gradient).")
    top_p: float = Field(1.0, gt=0, le=1, description="RLPT: intersect P_t with the nucleus {smallest prefix of the sorted distribution with mass >= top_p} (1 = off).")


def rlpt_needs(params: RLPTParams) -> Needs:
    """The support; from the rollout, that is top-k (and nucleus) sampling, whose top-k ids the
    engine records."""
    support = Support(params.support, params.top_k, params.top_p)
    if params.support == "reference":
        return Needs(support=support)
    return Needs(support=support, sample_top_k=params.top_k, sample_top_p=params.top_p)


@register_transform("rlpt", params=RLPTParams, active=lambda p: p.top_k > 0, needs=rlpt_needs)
def rlpt_metrics(mb: MicroBatch, params: RLPTParams) -> TransformOutput:
    """Coverage (y_t in the full policy's top-K) and the support's mass under the full softmax."""
    if not mb.first_pass:
        return TransformOutput()
    tokens = mb.mask.sum()
    return TransformOutput(metrics={"rlpt/coverage": Mean((mb.in_topk * mb.mask).sum(), tokens), "rlpt/support_mass": Mean((mb.support_mass * mb.mask).sum(), tokens)})


def nucleus_keep(sorted_logp: torch.Tensor, top_p: float) -> torch.Tensor:
    """[..., K] log-probs sorted in decreasing order -> bool [..., K]: the smallest prefix whose mass
    reaches top_p (the first entry is always kept)."""
    probs = torch.exp(sorted_logp)
    before = torch.cumsum(probs, dim=-1) - probs  # mass strictly before each entry
    return before < top_p


def force_in(ids: torch.Tensor, sampled: torch.Tensor) -> torch.Tensor:
    """Put ``sampled`` ([...]) into ``ids`` ([..., K]), replacing the last entry where it is absent."""
    ids = ids.clone()
    absent = ~(ids == sampled[..., None]).any(-1)
    ids[..., -1] = torch.where(absent, sampled.to(ids.dtype), ids[..., -1])
    return ids


def rollout_support(topk_ids: torch.Tensor, topk_logprobs: torch.Tensor, k: int, sampled: torch.Tensor) -> torch.Tensor:
    """The sampling distribution's top-k ids restricted to the ids it could sample, sampled token in.

    topk_ids, topk_logprobs: [batch, seq, K_engine >= k] (sorted); sampled: [batch, seq] ->
    [batch, seq, k] int32, -1 where the id had probability 0 (removed by top-k / top-p). With
    RLPT's own top-k sampling the sampled token is always among them already.
    """
    ids, logp = topk_ids[..., :k], topk_logprobs[..., :k]
    ids = torch.where(torch.isfinite(logp), ids, torch.full_like(ids, -1))
    return force_in(ids, sampled).to(torch.int32)


def logits_support(logits: torch.Tensor, k: int, top_p: float, sampled: torch.Tensor) -> torch.Tensor:
    """P_t from a distribution's logits: [tokens, vocab] and sampled [tokens] -> [tokens, k] ids,
    the top-k, -1 outside the nucleus, the sampled token forced in."""
    values, ids = logits.topk(k, dim=-1)  # [tokens, k], sorted
    keep = nucleus_keep(values - torch.logsumexp(logits, -1, keepdim=True), top_p)  # [tokens, k]
    ids = torch.where(keep, ids, torch.full_like(ids, -1))
    return force_in(ids, sampled)
