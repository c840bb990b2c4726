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


def truncated_is_weight(old_logp: torch.Tensor, rollout_logp: torch.Tensor, cap: float) -> torch.Tensor:
    """[batch, seq] log-probs of the trainer (pi_old) and the engine (mu) -> [batch, seq] weights
    min(pi_old / mu, cap), without gradient."""
    return torch.exp(old_logp.detach() - rollout_logp).clamp(max=cap)
