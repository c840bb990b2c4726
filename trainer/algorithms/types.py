"""Typed inputs and outputs of the algorithm functions.

Shapes: ``batch`` sequences (the step's responses), ``seq`` response positions (right-padded);
``mask`` is 1.0 on response tokens and 0.0 on padding. Log-probs are natural-log probabilities
of the sampled tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class AdvantageInputs:
    rewards: torch.Tensor  # [batch] outcome reward R_i
    group_ids: torch.Tensor  # [batch] long: responses to the same prompt share an id
    mask: torch.Tensor  # [batch, seq]
    eps: float = 1e-6  # std normalization epsilon (GRPO)


@dataclass
class LossNormalizer:
    """Global counts of the whole optimizer step, so that micro-batch losses add up exactly."""

    tokens: float  # response tokens in the step's batch
    sequences: float  # sequences in the step's batch
    max_len: int  # generation budget L (seq-mean-token-sum-norm)


@dataclass
class PolicyLossInputs:
    logp: torch.Tensor  # [batch, seq] current policy, with grad
    old_logp: torch.Tensor  # [batch, seq] policy that the ratio is taken against
    advantages: torch.Tensor  # [batch, seq]
    mask: torch.Tensor  # [batch, seq]
    normalizer: LossNormalizer
    agg: str = "token-mean"
    eps_low: float = 0.2
    eps_high: float = 0.2


@dataclass
class PolicyLossOutput:
    loss: torch.Tensor  # scalar; this micro-batch's share of the step loss
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)  # sums over this micro-batch's tokens
