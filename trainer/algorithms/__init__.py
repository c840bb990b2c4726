"""Algorithms as small registered functions of tensors: advantage estimators, policy losses and
transforms, each with its own parameter model and declared needs (:mod:`.registry`).

Importing this package registers the built-in ones. Add an algorithm by writing one function
decorated with :func:`register_adv_est`, :func:`register_policy_loss` or :func:`register_transform`
in a module imported here, or, without editing verity, in your own module given to the config as
``algorithm.loss: my_module:my_loss`` (docs/algorithms.md).
"""

from trainer.algorithms import dppo, grpo, kl, otb, ppo, rlpt, tis  # noqa: F401  (registers)
from trainer.algorithms.reductions import Mean, Stat, Sum
from trainer.algorithms.registry import ADV_ESTIMATORS, POLICY_LOSSES, TRANSFORMS, Registration, register_adv_est, register_policy_loss, register_transform, resolve
from trainer.algorithms.types import AdvantageInputs, AdvantageOutput, MicroBatch, Needs, Params, PolicyLossInputs, PolicyLossOutput, TransformOutput

__all__ = [
    "ADV_ESTIMATORS", "POLICY_LOSSES", "TRANSFORMS", "AdvantageInputs", "AdvantageOutput", "Mean", "MicroBatch", "Needs", "Params",
    "PolicyLossInputs", "PolicyLossOutput", "Registration", "Stat", "Sum", "TransformOutput", "register_adv_est", "register_policy_loss",
    "register_transform", "resolve",
]  # fmt: skip
