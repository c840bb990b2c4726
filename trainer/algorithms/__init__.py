"""Algorithms as small registered functions: advantage estimators and policy losses.

Importing this package registers the built-in ones; add an algorithm by writing one function
decorated with :func:`register_adv_est` or :func:`register_policy_loss` in a module imported here.
"""

from trainer.algorithms.registry import ADV_ESTIMATORS, POLICY_LOSSES, register_adv_est, register_policy_loss
from trainer.algorithms import dppo, grpo, otb, ppo  # noqa: F401  (registers)

__all__ = ["ADV_ESTIMATORS", "POLICY_LOSSES", "register_adv_est", "register_policy_loss"]
