"""Registries that map config names (``algorithm.advantage``, ``algorithm.loss``) to functions."""

from __future__ import annotations

from collections.abc import Callable

ADV_ESTIMATORS: dict[str, Callable] = {}
POLICY_LOSSES: dict[str, Callable] = {}


def _register(table: dict[str, Callable], kind: str, name: str) -> Callable[[Callable], Callable]:
    def decorate(fn: Callable) -> Callable:
        if name in table:
            raise ValueError(f"{kind} '{name}' is registered twice")
        table[name] = fn
        return fn

    return decorate


def register_adv_est(name: str, needs_policy_stats: bool = False) -> Callable[[Callable], Callable]:
    """Register ``fn(AdvantageInputs) -> AdvantageOutput`` under ``algorithm.advantage: name``.

    ``needs_policy_stats``: the estimator reads ``AdvantageInputs.policy`` (old log-probs and sum
    pi^2), so the trainer computes it from the forward pass that yields the old log-probs, with each
    micro-batch holding whole groups.
    """

    def decorate(fn: Callable) -> Callable:
        fn.needs_policy_stats = needs_policy_stats
        return _register(ADV_ESTIMATORS, "advantage estimator", name)(fn)

    return decorate


def register_policy_loss(name: str) -> Callable[[Callable], Callable]:
    """Register ``fn(PolicyLossInputs) -> PolicyLossOutput`` under ``algorithm.loss: name``."""
    return _register(POLICY_LOSSES, "policy loss", name)
