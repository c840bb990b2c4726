"""Typed inputs and outputs of the algorithm functions.

Shapes: ``batch`` sequences (the step's responses), ``seq`` response positions (right-padded);
``mask`` is 1.0 on response tokens and 0.0 on padding; ``K`` ids per token (top-K). Log-probs are
natural-log probabilities of the sampled tokens, under the policy being optimized (renormalized on
the RLPT support when RLPT is on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class PolicyStats:
    """What OTB needs from the forward pass that produced the old log-probs."""

    logp: torch.Tensor  # [batch, seq] log pi_old(y_t)
    sum_pi2: torch.Tensor  # [batch, seq] sum_v pi_old(v)^2 over the same logits
    rollout_logp: torch.Tensor | None = None  # [batch, seq] log mu(y_t), for the importance correction


@dataclass
class AdvantageInputs:
    rewards: torch.Tensor  # [batch] outcome reward R_i
    group_ids: torch.Tensor  # [batch] long: responses to the same prompt share an id
    mask: torch.Tensor  # [batch, seq]
    eps: float = 1e-6  # std normalization epsilon (GRPO)
    policy: PolicyStats | None = None  # estimators registered with needs_policy_stats get it
    zero_tail: bool = True  # OTB's zero-tail rule
    is_cap: float | None = None  # OTB: truncate the importance weight at this (None: no correction)


@dataclass
class AdvantageOutput:
    advantages: torch.Tensor  # [batch, seq]
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)  # sums over this batch's tokens


@dataclass
class LossNormalizer:
    """Global counts of the whole optimizer step, so that micro-batch losses add up exactly.

    ``LossNormalizer.unit()`` makes :func:`aggregate` return the un-normalized sum; the trainer
    accumulates such sums and divides the gradient by :meth:`divisor` once the step's counts are
    known (which, without preemptive sampling, is only after the last micro-batch).
    """

    tokens: float  # response tokens in the step's batch
    sequences: float  # sequences in the step's batch
    max_len: int  # generation budget L (seq-mean-token-sum-norm)

    @staticmethod
    def unit() -> "LossNormalizer":
        return LossNormalizer(1.0, 1.0, 1)

    def divisor(self, mode: str) -> float:
        """The denominator of aggregation ``mode``."""
        by_mode = {"token-mean": self.tokens, "seq-mean-token-mean": self.sequences, "seq-mean-token-sum-norm": self.sequences * self.max_len}
        if mode not in by_mode:
            raise ValueError(f"unknown loss aggregation '{mode}': use one of {', '.join(by_mode)}")
        return max(by_mode[mode], 1.0)


@dataclass
class DPPOParams:
    """Thresholds of the DPPO divergence mask and the importance-weight cap (arXiv 2602.04879)."""

    tv_delta: float = 0.15
    kl_delta: float = 0.05
    is_cap: float = 10.0


@dataclass
class PolicyLossInputs:
    logp: torch.Tensor  # [batch, seq] current policy, with grad
    old_logp: torch.Tensor  # [batch, seq] policy that the PPO ratio is taken against
    advantages: torch.Tensor  # [batch, seq]
    mask: torch.Tensor  # [batch, seq]
    normalizer: LossNormalizer
    agg: str = "token-mean"
    eps_low: float = 0.2
    eps_high: float = 0.2
    anchor_logp: torch.Tensor | None = None  # [batch, seq] DPPO's mu(y_t)
    topk_logp: torch.Tensor | None = None  # [batch, seq, K] current policy at mu's top-K ids (detached)
    anchor_topk_logp: torch.Tensor | None = None  # [batch, seq, K] mu at its top-K ids (-inf: no mass)
    dppo: DPPOParams = field(default_factory=DPPOParams)


@dataclass
class PolicyLossOutput:
    loss: torch.Tensor  # scalar; this micro-batch's share of the step loss
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)  # sums over this micro-batch's tokens
