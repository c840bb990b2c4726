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


def register_adv_est(name: str) -> Callable[[Callable], Callable]:
    """Register ``fn(AdvantageInputs) -> Tensor[batch, seq]`` under ``algorithm.advantage: name``."""
    return _register(ADV_ESTIMATORS, "advantage estimator", name)


def register_policy_loss(name: str) -> Callable[[Callable], Callable]:
    """Register ``fn(PolicyLossInputs) -> PolicyLossOutput`` under ``algorithm.loss: name``."""
    return _register(POLICY_LOSSES, "policy loss", name)
