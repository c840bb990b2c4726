"""DPPO: Divergence Proximal Policy Optimization (arXiv 2602.04879).

Ratio clipping is replaced by a mask driven by an estimate D_t of the divergence between the
anchor policy mu (the rollout policy, or the recomputed old policy) and the current policy pi:
  loss_t = -A_t sg(min(r_t, C)) M_t log pi(y_t),   r_t = pi(y_t) / mu(y_t)
  M_t = 0 if A_t > 0 and pi(y_t) > mu(y_t) and D_t > delta   (moving further up, already far)
  M_t = 0 if A_t < 0 and pi(y_t) < mu(y_t) and D_t > delta   (moving further down, already far)
  M_t = 1 otherwise (detached).
Divergences, with p = pi(y_t) and q = mu(y_t):
  binary TV: |p - q|;   binary KL: q log(q/p) + (1-q) log((1-q)/(1-p))
  top-K: over mu's top-K ids (sampled token forced in) plus one "rest" bucket:
    TV = 1/2 (sum_k |pi_k - mu_k| + |pi_rest - mu_rest|);  KL = sum_k mu_k log(mu_k/pi_k) + mu_rest log(mu_rest/pi_rest).
Both approximations coarse-grain the vocabulary, so they are lower bounds of the full-vocabulary
divergences (data-processing inequality). Memory is O(K) per token.

The anchor mu is the rollout policy (its log-probs as the engine sampled) or the old policy the
trainer recomputes before the update; :func:`anchor` picks it from the loss inputs by ``anchor``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from pydantic import Field

from trainer.algorithms.reductions import Mean
from trainer.algorithms.registry import register_policy_loss
from trainer.algorithms.types import Needs, Params, PolicyLossInputs, PolicyLossOutput

PROB_FLOOR = 1e-12  # keeps logs finite; probabilities below it count as this


class DPPOParams(Params):
    """DPPO, Divergence Proximal Policy Optimization (arXiv 2602.04879): the trust region."""

    section = "dppo"
    anchor: Literal["rollout", "recompute"] = Field("rollout", description="DPPO: the policy mu of the trust region. rollout: the log-probs the rollout engine sampled with; recompute: the trainer's log-probs before the update (the first pass's, kept for the later passes).")
    tv_delta: float = Field(0.15, gt=0, description="DPPO: threshold delta of the TV divergence (dppo_tv_*): a token is masked when D_TV > delta and the update would move pi(y) further away from mu(y) in the direction of A.")
    kl_delta: float = Field(0.05, gt=0, description="DPPO: threshold delta of the KL divergence (dppo_kl_*).")
    is_cap: float = Field(10.0, gt=0, description="DPPO: cap C of the importance weight in loss = -A sg(min(pi(y)/mu(y), C)) M log pi(y).")
    top_k: int = Field(20, ge=1, description="DPPO top-K (dppo_*_topk): K of the rollout distribution's top-K ids and log-probs stored per token (the sampled token replaces the K-th when absent; the rest of the mass is one bucket).")


def binary_tv(logp: torch.Tensor, anchor_logp: torch.Tensor) -> torch.Tensor:
    """|p - q|, [batch, seq]."""
    return (torch.exp(logp) - torch.exp(anchor_logp)).abs()


def binary_kl(logp: torch.Tensor, anchor_logp: torch.Tensor) -> torch.Tensor:
    """KL(Bernoulli(q) || Bernoulli(p)) with q = mu(y), p = pi(y); [batch, seq]."""
    log_not_p = torch.log1p(-torch.exp(logp).clamp(max=1 - PROB_FLOOR))  # [batch, seq]
    q = torch.exp(anchor_logp)
    log_not_q = torch.log1p(-q.clamp(max=1 - PROB_FLOOR))
    return (q * (anchor_logp - logp) + (1 - q) * (log_not_q - log_not_p)).clamp(min=0.0)


def _with_rest(topk_logp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities of the K ids [..., K] and of the rest bucket [...] (clamped at 0)."""
    probs = torch.exp(topk_logp)  # [..., K]; -inf -> 0
    return probs, (1.0 - probs.sum(-1)).clamp(min=0.0)


def topk_tv(topk_logp: torch.Tensor, anchor_topk_logp: torch.Tensor) -> torch.Tensor:
    """[batch, seq, K] x2 -> [batch, seq]."""
    pi, pi_rest = _with_rest(topk_logp)
    mu, mu_rest = _with_rest(anchor_topk_logp)
    return 0.5 * ((pi - mu).abs().sum(-1) + (pi_rest - mu_rest).abs())


def topk_kl(topk_logp: torch.Tensor, anchor_topk_logp: torch.Tensor) -> torch.Tensor:
    """[batch, seq, K] x2 -> [batch, seq]; 0 log 0 = 0."""
    pi, pi_rest = _with_rest(topk_logp)
    mu, mu_rest = _with_rest(anchor_topk_logp)
    log_pi = torch.log(pi.clamp(min=PROB_FLOOR))
    log_mu = torch.log(mu.clamp(min=PROB_FLOOR))
    terms = torch.where(mu > 0, mu * (log_mu - log_pi), torch.zeros_like(mu)).sum(-1)  # [batch, seq]
    rest = torch.where(mu_rest > 0, mu_rest * (torch.log(mu_rest.clamp(min=PROB_FLOOR)) - torch.log(pi_rest.clamp(min=PROB_FLOOR))), torch.zeros_like(mu_rest))
    return (terms + rest).clamp(min=0.0)


def trust_region_mask(advantages: torch.Tensor, logp: torch.Tensor, anchor_logp: torch.Tensor, divergence: torch.Tensor, delta: float) -> torch.Tensor:
    """M_t (1 keep, 0 masked), [batch, seq] float; detached inputs."""
    far = divergence > delta
    up = (advantages > 0) & (logp > anchor_logp) & far
    down = (advantages < 0) & (logp < anchor_logp) & far
    return (~(up | down)).to(logp.dtype)


def anchor(inp: PolicyLossInputs, params: DPPOParams) -> tuple[torch.Tensor, torch.Tensor | None]:
    """mu's log-probs of the sampled tokens [batch, seq] and, for the top-K losses, at the top-K ids
    [batch, seq, K]: the rollout policy's, or the recomputed old policy's."""
    top = inp.topk
    if params.anchor == "rollout":
        return inp.rollout_logp, top.rollout if top is not None else None
    return inp.old_logp, top.old if top is not None else None


def dppo_loss(inp: PolicyLossInputs, params: DPPOParams, divergence: torch.Tensor, delta: float) -> PolicyLossOutput:
    """The DPPO objective given the per-token divergence D_t ([batch, seq], detached)."""
    anchor_logp, _ = anchor(inp, params)  # [batch, seq]
    logp_now = inp.logp.detach()  # [batch, seq]
    keep = trust_region_mask(inp.advantages, logp_now, anchor_logp, divergence, delta)  # [batch, seq]
    ratio = torch.exp(logp_now - anchor_logp)  # [batch, seq]
    weight = ratio.clamp(max=params.is_cap)  # sg(min(r, C))
    token_loss = -inp.advantages * weight * keep * inp.logp  # [batch, seq]
    with torch.no_grad():
        m = inp.mask
        tokens = m.sum()
        masked = (1 - keep) * m
        metrics = {
            "dppo/masked_pos": Mean((masked * (inp.advantages > 0)).sum(), tokens),
            "dppo/masked_neg": Mean((masked * (inp.advantages < 0)).sum(), tokens),
            "dppo/divergence": Mean((divergence * m).sum(), tokens),
            "dppo/is_capped": Mean(((ratio > params.is_cap).to(m.dtype) * m).sum(), tokens),
        }
    return PolicyLossOutput(loss=inp.aggregate(token_loss), metrics=metrics)


def binary_needs(params: DPPOParams) -> Needs:
    """The rollout policy's log-probs of the sampled tokens when it is the anchor (the old policy's
    are always given)."""
    return Needs(rollout_policy=params.anchor == "rollout")


def topk_needs(params: DPPOParams) -> Needs:
    """As binary_needs, plus the rollout distribution's top-K ids and log-probs per token."""
    return binary_needs(params) | Needs(rollout_topk=params.top_k)


def _binary(divergence: Callable, delta_of: Callable[[DPPOParams], float], doc: str) -> Callable:
    def loss(inp: PolicyLossInputs, params: DPPOParams) -> PolicyLossOutput:
        anchor_logp, _ = anchor(inp, params)
        with torch.no_grad():
            d = divergence(inp.logp.detach(), anchor_logp) * inp.mask  # [batch, seq]
        return dppo_loss(inp, params, d, delta_of(params))

    loss.__doc__ = doc
    return loss


def _topk(divergence: Callable, delta_of: Callable[[DPPOParams], float], doc: str) -> Callable:
    def loss(inp: PolicyLossInputs, params: DPPOParams) -> PolicyLossOutput:
        _, anchor_topk = anchor(inp, params)
        with torch.no_grad():
            d = divergence(inp.topk.current, anchor_topk) * inp.mask  # [batch, seq]
        return dppo_loss(inp, params, d, delta_of(params))

    loss.__doc__ = doc
    return loss


def _tv_delta(params: DPPOParams) -> float:
    return params.tv_delta


def _kl_delta(params: DPPOParams) -> float:
    return params.kl_delta


register_policy_loss("dppo_tv_binary", params=DPPOParams, needs=binary_needs)(_binary(binary_tv, _tv_delta, "DPPO with the binary TV divergence |pi(y) - mu(y)|."))
register_policy_loss("dppo_kl_binary", params=DPPOParams, needs=binary_needs)(_binary(binary_kl, _kl_delta, "DPPO with the binary KL divergence of Bernoulli(mu(y)) and Bernoulli(pi(y))."))
register_policy_loss("dppo_tv_topk", params=DPPOParams, needs=topk_needs)(_topk(topk_tv, _tv_delta, "DPPO with the TV divergence over mu's top-K ids plus a rest bucket."))
register_policy_loss("dppo_kl_topk", params=DPPOParams, needs=topk_needs)(_topk(topk_kl, _kl_delta, "DPPO with the KL divergence over mu's top-K ids plus a rest bucket."))
