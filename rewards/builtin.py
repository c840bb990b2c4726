"""The verifiers verity ships, by the name that samples route on and ``verity serve`` takes."""

from __future__ import annotations

from collections.abc import Callable

from rewards.verifier import Verifier


def _math(workers: int | None, deadline_s: float) -> Verifier:
    from rewards.math.service import MathVerifier

    return MathVerifier(workers=workers, deadline_s=deadline_s)


BUILTIN_VERIFIERS: dict[str, Callable[[int | None, float], Verifier]] = {"math": _math}


def make_verifier(name: str, workers: int | None = None, deadline_s: float = 1.0) -> Verifier:
    """Instantiate a built-in verifier; an unknown name raises an error listing the known ones."""
    if name not in BUILTIN_VERIFIERS:
        raise ValueError(f"unknown verifier '{name}': built-in ones are {', '.join(sorted(BUILTIN_VERIFIERS))}; for your own service pass --endpoint {name}=HOST:PORT")
    return BUILTIN_VERIFIERS[name](workers, deadline_s)
