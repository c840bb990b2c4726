"""DASH (arXiv 2505.17218): gradient filtering. (Preemptive sampling is the trainer's generation
plan: ``algorithm.dash.preemptive``.)

A sample is dropped before any forward or backward work when its group-normalized outcome advantage
|(R_i - mean_j R_j) / (std_j R_j + eps)| <= tau (the authors use tau = 0.1; with 0/1 rewards this
drops exactly the groups whose rewards are all equal). The statistic is the outcome advantage for
every estimator, so it is known before the forward pass (OTB's per-token advantages are not).
Renormalization: dropped samples leave the loss normalizer too, so the step's size is that of the
kept samples alone (the loss is a mean over kept tokens / sequences).
"""

from __future__ import annotations

import torch

from trainer.algorithms.groups import normalized_outcome_advantage


def keep_after_filter(rewards: torch.Tensor, group_ids: torch.Tensor, tau: float, eps: float) -> torch.Tensor:
    """[batch] bool: samples that pass the filter (all of them when tau = 0)."""
    if tau <= 0:
        return torch.ones(rewards.shape, dtype=torch.bool, device=rewards.device)
    return normalized_outcome_advantage(rewards, group_ids, eps).abs() > tau
