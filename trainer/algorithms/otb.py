"""OTB: the Optimal Token Baseline (arXiv 2602.07078), with the logit-gradient proxy.

For response i of a group and token t (mask m, outcome reward R_i, old policy pi):
  w_{i,t} = ||e_y - pi_t||^2 = 1 - 2 pi_t(y_t) + sum_v pi_t(v)^2       (the logit-gradient proxy)
            (times rho^2, rho = min(pi_old(y) / mu(y), cap), with the rollout importance correction)
  W_{i,t} = sum_{j<=t} m_{i,j} w_{i,j}                                  (realized energy)
  G_{i,t} = R_i                                                         (return-to-go, outcome reward)
  B_t     = sum_i G_{i,t} W_{i,t} m_{i,t} / (sum_i W_{i,t} m_{i,t} + 1e-8)   (over the group)
  A_{i,t} = (G_{i,t} - B_t) m_{i,t}                                     (no std normalization)
Zero-tail rule: when exactly one response is the longest of its group, its baseline past the
second-longest length is 0 (else its advantage there is identically 0). A group of one has B = 0.
The proxy needs no extra backward pass: pi(y) and sum pi^2 come from the forward pass that yields
the old log-probs.

Metrics (per token of the step; the split into signal and noise is this project's definition):
total power P = mean(W A^2), the proxy of the policy-gradient's second moment; pure noise = the part
of P from groups whose rewards are all equal (their advantages say nothing about which response
was better, e.g. the zero-tail term); signal strength = P - pure noise.
"""

from __future__ import annotations

import torch
from pydantic import Field

from trainer.algorithms.groups import informative_groups
from trainer.algorithms.reductions import Mean
from trainer.algorithms.registry import register_adv_est
from trainer.algorithms.types import AdvantageInputs, AdvantageOutput, Needs, Params

BASELINE_EPS = 1e-8


class OTBParams(Params):
    """OTB, the Optimal Token Baseline (arXiv 2602.07078)."""

    section = "otb"
    zero_tail: bool = Field(True, description="OTB: when exactly one response is the longest of its group, its baseline past the second-longest length is 0 (its advantage there would otherwise be identically 0).")
    rollout_is: bool = Field(False, description="OTB: weight the proxy by the squared truncated importance weight, w <- w * min(pi_old(y) / mu(y), is_cap)^2, mu the rollout policy.")
    is_cap: float = Field(2.0, gt=0, description="OTB: truncation of the importance weight in rollout_is.")


def otb_needs(params: OTBParams) -> Needs:
    """pi_old(y) and sum pi^2 from the forward that yields the old log-probs, whole groups per
    micro-batch (the baseline is a per-position statistic of the group), and mu for rollout_is."""
    return Needs(policy_stats=True, whole_groups=True, rollout_policy=params.rollout_is, min_group_size=2)


def logit_gradient_proxy(logp: torch.Tensor, sum_pi2: torch.Tensor) -> torch.Tensor:
    """w = 1 - 2 pi(y) + sum_v pi(v)^2 = ||e_y - pi||^2 >= 0; [batch, seq] -> [batch, seq]."""
    return (1.0 - 2.0 * torch.exp(logp) + sum_pi2).clamp(min=0.0)


def zero_tail_mask(mask: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """[batch, seq] bool: positions where the baseline is set to 0 by the zero-tail rule.

    Those are the positions of a group's unique longest response past its second-longest length;
    for a group of one response, every position. A response's length is one past its last masked-in
    position (its token count, unless a tool's output leaves holes in the mask).
    """
    pos = torch.arange(mask.shape[1], device=mask.device)[None, :]  # [1, seq]
    lengths = ((mask > 0) * (pos + 1)).amax(-1)  # [batch] long
    out = torch.zeros(mask.shape, dtype=torch.bool, device=mask.device)
    for g in torch.unique(group_ids):
        members = (group_ids == g).nonzero().squeeze(1)  # [n]
        ordered = lengths[members].sort(descending=True).values  # [n]
        longest = ordered[0]
        second = ordered[1] if len(ordered) > 1 else lengths.new_zeros(())
        if longest > second:  # exactly one response is the longest
            i = members[lengths[members].argmax()]
            out[i] = (pos[0] >= second) & (mask[i] > 0)
    return out


def zero_reward_groups(rewards: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """[batch] bool: the samples of groups whose rewards are all 0. Their returns are 0 and every
    baseline is a weighted mean of returns, so their advantages are 0 before any forward pass."""
    return ~informative_groups(rewards, group_ids) & (rewards == 0)


@register_adv_est("otb", params=OTBParams, needs=otb_needs, zero_before_forward=zero_reward_groups)
def otb_advantages(inp: AdvantageInputs, params: OTBParams) -> AdvantageOutput:
    """OTB: A_{i,t} = G_{i,t} - B_t, B_t the group's returns weighted by the cumulative logit-gradient proxy."""
    m = inp.mask  # [batch, seq]
    w = logit_gradient_proxy(inp.policy.logp, inp.policy.sum_pi2)  # [batch, seq]
    if params.rollout_is:
        rho = torch.exp(inp.policy.logp - inp.policy.rollout_logp).clamp(max=params.is_cap)  # [batch, seq]
        w = w * rho**2
    energy = torch.cumsum(w * m, dim=1)  # [batch, seq]: W_{i,t}
    returns = inp.rewards[:, None].expand_as(m).to(energy.dtype)  # [batch, seq]: G_{i,t} = R_i
    _, inverse = torch.unique(inp.group_ids, return_inverse=True)  # [batch]
    groups = int(inverse.max()) + 1
    num = torch.zeros((groups, m.shape[1]), dtype=energy.dtype, device=m.device).index_add_(0, inverse, returns * energy * m)  # [groups, seq]
    den = torch.zeros((groups, m.shape[1]), dtype=energy.dtype, device=m.device).index_add_(0, inverse, energy * m)  # [groups, seq]
    baseline = num[inverse] / (den[inverse] + BASELINE_EPS)  # [batch, seq]: B_t of each response's group
    if params.zero_tail:
        baseline = baseline.masked_fill(zero_tail_mask(m, inp.group_ids), 0.0)
    else:
        sizes = torch.bincount(inverse)[inverse]  # [batch]
        baseline = baseline.masked_fill((sizes == 1)[:, None], 0.0)
    adv = (returns - baseline) * m  # [batch, seq]
    power = energy * adv**2  # [batch, seq]
    no_signal = ~informative_groups(inp.rewards, inp.group_ids)  # [batch]
    total, noise, tokens = power.sum(), power[no_signal].sum(), m.sum()
    metrics = {
        "otb/total_power": Mean(total, tokens),
        "otb/noise": Mean(noise, tokens),
        "otb/signal": Mean(total - noise, tokens),
        "otb/energy": Mean((energy * m).sum(), tokens),
    }
    return AdvantageOutput(adv, metrics)
