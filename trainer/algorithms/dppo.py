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
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from trainer.algorithms.aggregation import aggregate
from trainer.algorithms.registry import register_policy_loss
from trainer.algorithms.types import PolicyLossInputs, PolicyLossOutput

PROB_FLOOR = 1e-12  # keeps logs finite; probabilities below it count as this


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


def dppo_loss(inp: PolicyLossInputs, divergence: torch.Tensor, delta: float) -> PolicyLossOutput:
    """The DPPO objective given the per-token divergence D_t ([batch, seq], detached)."""
    if inp.anchor_logp is None:
        raise ValueError("DPPO needs PolicyLossInputs.anchor_logp (mu's log-probs of the sampled tokens)")
    logp_now = inp.logp.detach()  # [batch, seq]
    keep = trust_region_mask(inp.advantages, logp_now, inp.anchor_logp, divergence, delta)  # [batch, seq]
    ratio = torch.exp(logp_now - inp.anchor_logp)  # [batch, seq]
    weight = ratio.clamp(max=inp.dppo.is_cap)  # sg(min(r, C))
    token_loss = -inp.advantages * weight * keep * inp.logp  # [batch, seq]
    loss = aggregate(token_loss, inp.mask, inp.agg, inp.normalizer)
    with torch.no_grad():
        m = inp.mask
        masked = (1 - keep) * m
        metrics = {
            "dppo/masked_pos": (masked * (inp.advantages > 0)).sum(),
            "dppo/masked_neg": (masked * (inp.advantages < 0)).sum(),
            "dppo/divergence": (divergence * m).sum(),
            "dppo/is_capped": ((ratio > inp.dppo.is_cap).to(m.dtype) * m).sum(),
        }
    return PolicyLossOutput(loss=loss, metrics=metrics)


def _binary(divergence: Callable, delta_of: Callable) -> Callable:
    def loss(inp: PolicyLossInputs) -> PolicyLossOutput:
        with torch.no_grad():
            d = divergence(inp.logp.detach(), inp.anchor_logp) * inp.mask  # [batch, seq]
        return dppo_loss(inp, d, delta_of(inp))

    return loss


def _topk(divergence: Callable, delta_of: Callable) -> Callable:
    def loss(inp: PolicyLossInputs) -> PolicyLossOutput:
        if inp.topk_logp is None or inp.anchor_topk_logp is None:
            raise ValueError("DPPO top-K needs the rollout's top-K ids and log-probs: the trainer asks the engine for them when algorithm.loss is dppo_*_topk")
        with torch.no_grad():
            d = divergence(inp.topk_logp, inp.anchor_topk_logp) * inp.mask  # [batch, seq]
        return dppo_loss(inp, d, delta_of(inp))

    return loss


def _tv_delta(inp: PolicyLossInputs) -> float:
    return inp.dppo.tv_delta


def _kl_delta(inp: PolicyLossInputs) -> float:
    return inp.dppo.kl_delta


register_policy_loss("dppo_tv_binary")(_binary(binary_tv, _tv_delta))
register_policy_loss("dppo_kl_binary")(_binary(binary_kl, _kl_delta))
register_policy_loss("dppo_tv_topk")(_topk(topk_tv, _tv_delta))
register_policy_loss("dppo_kl_topk")(_topk(topk_kl, _kl_delta))
