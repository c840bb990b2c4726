"""KL penalty estimators to a frozen reference policy (Schulman, "Approximating KL divergence", 2020).

With d = logp_ref - logp per token: k1 = -d, k2 = d^2 / 2, k3 = exp(d) - d - 1 (unbiased, >= 0).
"""

from __future__ import annotations

import torch


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
