"""Typed inputs and outputs of the algorithm functions, and what an algorithm declares it needs.

Shapes: ``batch`` sequences (a micro-batch's or the step's responses), ``seq`` response positions
(right-padded), ``K`` ids per token (top-K). ``mask`` is 1.0 on the response tokens the policy
generated and 0.0 on padding and on a tool's output inside a response (context the policy read,
never trained on); every per-token tensor is 0 where the mask is. Log-probs are natural-log probabilities of the
sampled tokens under the policy being optimized (renormalized on the per-token support when an
algorithm declares one, RLPT's), from logits divided by the sampling temperature.

An algorithm is a registered function (:mod:`trainer.algorithms.registry`) with these signatures:

- advantage estimator: ``fn(AdvantageInputs[, params]) -> AdvantageOutput``
- policy loss:         ``fn(PolicyLossInputs[, params]) -> PolicyLossOutput``
- transform:           ``fn(MicroBatch, params) -> TransformOutput``

``params`` is the instance of the parameter model it registered (a :class:`Params` subclass: its
own section of the ``algorithm`` config); a function registered without one takes the inputs alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict

from trainer.algorithms.aggregation import AGG_MODES, LossNormalizer, aggregate
from trainer.algorithms.reductions import Stat

# --- what an algorithm declares --------------------------------------------------------------


class Params(BaseModel):
    """Base of an algorithm's own parameter model. ``section`` is its key under ``algorithm`` in
    the config (``algorithm.dppo.tv_delta``); several algorithms may share one section."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    section: ClassVar[str]


@dataclass(frozen=True)
class Support:
    """A per-token support P_t on which the policy is renormalized (RLPT, arXiv 2602.03195): the
    top-``k`` ids of the rollout policy's or the frozen reference model's distribution at each
    position, intersected with the nucleus of mass ``top_p``, the sampled token always in."""

    source: Literal["rollout", "reference"]
    k: int
    top_p: float = 1.0


@dataclass(frozen=True)
class Needs:
    """What an algorithm asks of the loop. The step's needs are the union (``|``) of the needs of
    its advantage estimator, its loss and its active transforms; the loop provides exactly these."""

    #: K of the rollout distribution's top-K ids and log-probs, recorded by the engine per token;
    #: the loss receives :class:`TopKLogprobs` at those ids (0: none).
    rollout_topk: int = 0
    #: the algorithm compares the trained policy with the rollout policy mu token by token (mu's
    #: log-probs in the loss inputs); mu must then be the distribution the support renormalizes.
    rollout_policy: bool = False
    #: every micro-batch holds whole groups (statistics across a group's responses per position).
    whole_groups: bool = False
    #: the forward that yields the old log-probs also yields sum_v pi(v)^2 (``AdvantageInputs.policy``).
    policy_stats: bool = False
    #: the frozen initial policy's log-probs of the sampled tokens (``MicroBatch.ref_logp``).
    reference: bool = False
    #: samples whose advantages are all 0 still carry a loss term, so their forward is never skipped.
    trains_zero_advantage: bool = False
    #: the per-token support to renormalize on (None: the full vocabulary).
    support: Support | None = None
    #: sampling restricted to the top-k ids / the nucleus (0 / 1.0: as ``rollout`` configures).
    sample_top_k: int = 0
    sample_top_p: float = 1.0
    #: the loss aggregation the algorithm is defined with (None: any of AGG_MODES).
    loss_agg: str | None = None
    #: the fewest responses per prompt with which it learns anything (2 for an estimator that
    #: compares each response with the rest of its group: alone, every advantage is 0).
    min_group_size: int = 1

    @property
    def recorded_topk(self) -> int:
        """K of the top-K the rollout engine must record per token: the loss's, or a rollout support's."""
        from_support = self.support.k if self.support is not None and self.support.source == "rollout" else 0
        return max(self.rollout_topk, from_support)

    def __or__(self, other: Needs) -> Needs:
        def one(name: str, a, b):
            if a is not None and b is not None and a != b:
                raise ValueError(f"two algorithms need different {name}: {a} and {b}")
            return a if a is not None else b

        return Needs(
            rollout_topk=max(self.rollout_topk, other.rollout_topk),
            rollout_policy=self.rollout_policy or other.rollout_policy,
            whole_groups=self.whole_groups or other.whole_groups,
            policy_stats=self.policy_stats or other.policy_stats,
            reference=self.reference or other.reference,
            trains_zero_advantage=self.trains_zero_advantage or other.trains_zero_advantage,
            support=one("supports", self.support, other.support),
            sample_top_k=one("top-k sampling", self.sample_top_k or None, other.sample_top_k or None) or 0,
            sample_top_p=one("nucleus sampling", self.sample_top_p if self.sample_top_p < 1 else None, other.sample_top_p if other.sample_top_p < 1 else None) or 1.0,
            loss_agg=one("loss aggregations", self.loss_agg, other.loss_agg),
            min_group_size=max(self.min_group_size, other.min_group_size),
        )


# --- advantage estimators ----------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyStats:
    """What an estimator that declares ``policy_stats`` gets from the forward pass that produced
    the old log-probs (OTB's logit-gradient proxy)."""

    logp: torch.Tensor  # [batch, seq] log pi_old(y_t)
    sum_pi2: torch.Tensor  # [batch, seq] sum_v pi_old(v)^2 over the same logits
    rollout_logp: torch.Tensor  # [batch, seq] log mu(y_t) of the rollout policy


@dataclass(frozen=True, kw_only=True)
class AdvantageInputs:
    rewards: torch.Tensor  # [batch] outcome reward R_i
    group_ids: torch.Tensor  # [batch] long: responses to the same prompt share an id
    mask: torch.Tensor  # [batch, seq]
    eps: float = 1e-6  # the epsilon of a std normalization (algorithm.adv_eps)
    policy: PolicyStats | None = None  # estimators that declare policy_stats get it


@dataclass
class AdvantageOutput:
    advantages: torch.Tensor  # [batch, seq]
    metrics: dict[str, Stat] = field(default_factory=dict)


# --- policy losses -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TopKLogprobs:
    """Log-probs at the rollout distribution's top-K ids per token (needs ``rollout_topk``): the
    ids are mu's K most likely, the sampled token forced in (it replaces the K-th when absent).
    Every tensor is [batch, seq, K] and detached; -inf where an id has no mass."""

    rollout: torch.Tensor  # mu at its top-K ids
    old: torch.Tensor  # the old policy at the same ids
    current: torch.Tensor  # the policy being optimized, at the same ids


@dataclass(frozen=True, kw_only=True)
class PolicyLossInputs:
    """One micro-batch's inputs of a policy loss. The first five fields are given to every loss;
    the rest only to losses whose needs ask for them."""

    logp: torch.Tensor  # [batch, seq] log pi(y_t), with gradient
    old_logp: torch.Tensor  # [batch, seq] log pi_old(y_t), detached: what the PPO ratio is taken against
    advantages: torch.Tensor  # [batch, seq]
    mask: torch.Tensor  # [batch, seq]
    normalizer: LossNormalizer  # the step's counts (LossNormalizer.unit() while they are not known)
    agg: str = "token-mean"  # the aggregation mode (algorithm.loss_agg), one of AGG_MODES
    rollout_logp: torch.Tensor | None = None  # [batch, seq] log mu(y_t) (needs rollout_policy)
    topk: TopKLogprobs | None = None  # (needs rollout_topk)

    def aggregate(self, token_loss: torch.Tensor) -> torch.Tensor:
        """[batch, seq] per-token losses -> this micro-batch's share of the step loss (scalar)."""
        return aggregate(token_loss, self.mask, self.agg, self.normalizer)


@dataclass
class PolicyLossOutput:
    loss: torch.Tensor  # scalar; this micro-batch's share of the step loss
    metrics: dict[str, Stat] = field(default_factory=dict)


# --- transforms --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MicroBatch:
    """One micro-batch after its forward pass, as transforms see it (before the loss)."""

    logp: torch.Tensor  # [batch, seq] log pi(y_t), with gradient
    old_logp: torch.Tensor  # [batch, seq] log pi_old(y_t), detached
    rollout_logp: torch.Tensor  # [batch, seq] log mu(y_t) of the rollout policy
    advantages: torch.Tensor  # [batch, seq]
    mask: torch.Tensor  # [batch, seq]
    normalizer: LossNormalizer
    agg: str
    first_pass: bool  # the step's first pass over these samples (metrics measured once)
    ref_logp: torch.Tensor | None = None  # [batch, seq] frozen initial policy, same support (needs reference)
    in_topk: torch.Tensor | None = None  # [batch, seq] 1 where y_t is in the full policy's top-K (needs support)
    support_mass: torch.Tensor | None = None  # [batch, seq] mass of the support under the full softmax (needs support)

    def aggregate(self, token_loss: torch.Tensor) -> torch.Tensor:
        """[batch, seq] -> this micro-batch's share of the step loss, as the policy loss aggregates."""
        return aggregate(token_loss, self.mask, self.agg, self.normalizer)


@dataclass
class TransformOutput:
    advantages: torch.Tensor | None = None  # [batch, seq] replacing the micro-batch's (None: unchanged)
    loss: torch.Tensor | None = None  # a scalar term added to the policy loss (None: none)
    metrics: dict[str, Stat] = field(default_factory=dict)


__all__ = [
    "AGG_MODES", "AdvantageInputs", "AdvantageOutput", "LossNormalizer", "MicroBatch", "Needs", "Params", "PolicyLossInputs",
    "PolicyLossOutput", "PolicyStats", "Support", "TopKLogprobs", "TransformOutput",
]  # fmt: skip
