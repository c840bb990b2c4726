"""The registries: the one place where algorithm names, their parameters and their needs live.

Three tables:

- ``ADV_ESTIMATORS``: ``algorithm.advantage`` names one;
- ``POLICY_LOSSES``: ``algorithm.loss`` names one;
- ``TRANSFORMS``: every one is applied to each micro-batch while its parameters make it active.

A registration declares the function, its own parameter model (a :class:`~trainer.algorithms.types.Params`
subclass, whose ``section`` is its key under ``algorithm`` in the config) and its needs
(:class:`~trainer.algorithms.types.Needs`, or a function of its parameters). The config checks
names against these tables, the loop reads the needs and provides what they ask for; neither knows
any algorithm by name.

``algorithm.advantage`` and ``algorithm.loss`` also take an import path ``module:function`` of a
user's own module on ``PYTHONPATH``: a plain function of the documented signature (no parameters,
no needs), or one decorated with :func:`register_adv_est` / :func:`register_policy_loss`, which
brings its parameter model and needs along.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trainer.algorithms.types import Needs, Params

ADVANTAGE = "advantage estimator"
LOSS = "policy loss"
TRANSFORM = "transform"


@dataclass(frozen=True)
class Registration:
    """One registered algorithm function and what it declares."""

    kind: str  # ADVANTAGE, LOSS or TRANSFORM
    name: str  # the registered name, or the import path it was loaded from
    fn: Callable
    params: type[Params] | None = None
    needs_of: Callable[[Params | None], Needs] | None = None  # None: needs nothing
    active_of: Callable[[Params], bool] | None = None  # transforms: whether these parameters turn it on
    defaults: dict[str, Any] = field(default_factory=dict)  # this registration's defaults for fields of its parameter model
    #: estimators computed after the forward pass (policy_stats): ``(rewards [batch], group_ids [batch])``
    #: -> [batch] bool of samples whose advantages are provably all 0, so their forward can be skipped
    zero_before_forward: Callable | None = None

    def needs(self, params: Params | None) -> Needs:
        return self.needs_of(params) if self.needs_of else Needs()

    def active(self, params: Params | None) -> bool:
        return self.active_of(params) if self.active_of else True

    def __call__(self, inputs, params: Params | None = None):
        """Run the function: with its parameters when it registered a model, else on the inputs alone."""
        return self.fn(inputs, params) if self.params is not None else self.fn(inputs)

    @property
    def summary(self) -> str:
        """The first line of the function's docstring."""
        return (inspect.getdoc(self.fn) or "").split("\n", 1)[0]


ADV_ESTIMATORS: dict[str, Registration] = {}
POLICY_LOSSES: dict[str, Registration] = {}
TRANSFORMS: dict[str, Registration] = {}
_TABLES = {ADVANTAGE: ADV_ESTIMATORS, LOSS: POLICY_LOSSES, TRANSFORM: TRANSFORMS}


Declared = Needs | Callable[[Params | None], Needs] | None


def _register(kind: str, name: str, params: type[Params] | None, needs: Declared, active: Callable[[Params], bool] | None = None, defaults: dict[str, Any] | None = None, zero_before_forward: Callable | None = None) -> Callable[[Callable], Callable]:
    table = _TABLES[kind]
    needs_of = (lambda _params: needs) if isinstance(needs, Needs) else needs
    unknown = set(defaults or {}) - set(params.model_fields if params else ())
    if unknown:
        raise ValueError(f"{kind} '{name}': defaults for {', '.join(sorted(unknown))}, which its parameter model does not have")

    def decorate(fn: Callable) -> Callable:
        if name in table:
            raise ValueError(f"{kind} '{name}' is registered twice")
        table[name] = Registration(kind, name, fn, params, needs_of, active, dict(defaults or {}), zero_before_forward)
        if not hasattr(fn, "registration"):  # what an import path to this function brings along (its first registration)
            fn.registration = table[name]
        return fn

    return decorate


def register_adv_est(name: str, *, params: type[Params] | None = None, needs: Declared = None, defaults: dict[str, Any] | None = None, zero_before_forward: Callable | None = None) -> Callable[[Callable], Callable]:
    """Register ``fn(AdvantageInputs[, params]) -> AdvantageOutput`` as ``algorithm.advantage: name``.

    params: its parameter model (the config section ``algorithm.<params.section>``); needs: a
    :class:`Needs` or a function of the parameters; defaults: values this name gives to fields of
    the parameter model that the config leaves unset; zero_before_forward: for an estimator that
    needs the forward pass (policy_stats), ``(rewards, group_ids) -> [batch] bool`` of the samples
    whose advantages are provably 0 before it (their forward and backward are then skipped).
    """
    return _register(ADVANTAGE, name, params, needs, defaults=defaults, zero_before_forward=zero_before_forward)


def register_policy_loss(name: str, *, params: type[Params] | None = None, needs: Declared = None, defaults: dict[str, Any] | None = None) -> Callable[[Callable], Callable]:
    """Register ``fn(PolicyLossInputs[, params]) -> PolicyLossOutput`` as ``algorithm.loss: name``
    (arguments as for :func:`register_adv_est`)."""
    return _register(LOSS, name, params, needs, defaults=defaults)


def register_transform(name: str, *, params: type[Params], active: Callable[[Params], bool], needs: Declared = None) -> Callable[[Callable], Callable]:
    """Register ``fn(MicroBatch, params) -> TransformOutput``, applied to every micro-batch while
    ``active(params)``."""
    return _register(TRANSFORM, name, params, needs, active)


class UnknownAlgorithm(ValueError):
    """A name that is not registered, or an import path that gives no usable function."""


def resolve(kind: str, name: str) -> Registration:
    """The registration ``name`` refers to: a registered name, or ``module:function``."""
    if ":" in name:
        return _from_import_path(kind, name)
    table = _TABLES[kind]
    if name not in table:
        close = difflib.get_close_matches(name, list(table), n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UnknownAlgorithm(f"unknown {kind} '{name}': registered ones are {', '.join(sorted(table))}{hint} (or give your own as module:function)")
    return table[name]


def _from_import_path(kind: str, path: str) -> Registration:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise UnknownAlgorithm(f"'{path}' is not an import path: write module:function, e.g. my_losses:clipped_loss")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # the user's module may fail to import for any reason: say which
        raise UnknownAlgorithm(f"'{path}': module '{module_name}' does not import ({type(e).__name__}: {e}); put its folder on PYTHONPATH") from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise UnknownAlgorithm(f"'{path}': module '{module_name}' has no function '{attr}'")
    if not callable(fn):
        raise UnknownAlgorithm(f"'{path}' is a {type(fn).__name__}, not a function")
    registration = getattr(fn, "registration", None)
    if registration is None:
        registration = Registration(kind, path, fn)
    elif registration.kind != kind:
        raise UnknownAlgorithm(f"'{path}' is registered as a {registration.kind}, not as a {kind}")
    _check_signature(registration, path)
    return registration


def _check_signature(registration: Registration, path: str) -> None:
    arguments = ("inputs", "params") if registration.params is not None else ("inputs",)
    try:
        inspect.signature(registration.fn).bind(*arguments)
    except TypeError:
        raise UnknownAlgorithm(
            f"'{path}' takes {inspect.signature(registration.fn)}: a {registration.kind} is called as fn({', '.join(arguments)})"
            + ("" if registration.params is not None else "; register it with params=YourParams to receive parameters")
        ) from None
    except ValueError:  # a builtin without a signature: let the call tell
        pass


def registered() -> dict[str, dict[str, Registration]]:
    """Every table, by kind (what ``verity train --check`` lists)."""
    return dict(_TABLES)
