"""The verifiers verity ships, by the name that samples route on and ``verity serve`` takes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rewards.verifier import Verifier


@dataclass(frozen=True)
class VerifierOptions:
    """What ``verity serve NAME`` passes to the verifier it builds."""

    workers: int | None = None  # math: worker processes (default: cores)
    deadline_s: float = 1.0  # math: per-sample checking deadline
    sandbox: tuple[str, ...] = ()  # code: addresses of Sandbox service replicas
    sandbox_token: str | None = None  # code: the token its Sandbox service requires, if any
    code_reward: str = "all"  # code: "all" (every case must pass) or "fraction" (share of cases passed)
    code_max_tests: int | None = None  # code: the most cases a problem runs (None: all)
    code_max_seconds: float = 60.0  # code: the most wall seconds a problem's cases take together


def code_serve_args(reward: str, max_tests: int | None, max_seconds: float) -> list[str]:
    """The code verifier's reward mode and budgets as ``verity serve code`` arguments."""
    return ["--code-reward", reward, "--max-seconds", str(max_seconds)] + (["--max-tests", str(max_tests)] if max_tests else [])


def _math(o: VerifierOptions) -> Verifier:
    from rewards.math.service import MathVerifier

    return MathVerifier(workers=o.workers, deadline_s=o.deadline_s)


def _code(o: VerifierOptions) -> Verifier:
    from rewards.code.service import CodeVerifier

    if not o.sandbox:
        raise ValueError("the code verifier needs a Sandbox service: pass --sandbox HOST:PORT")
    return CodeVerifier(list(o.sandbox), reward=o.code_reward, max_tests=o.code_max_tests, max_seconds=o.code_max_seconds, sandbox_token=o.sandbox_token)


def _telecom(o: VerifierOptions) -> Verifier:
    from rewards.telecom.service import TelecomVerifier

    return TelecomVerifier()


BUILTIN_VERIFIERS: dict[str, Callable[[VerifierOptions], Verifier]] = {"math": _math, "code": _code, "telecom": _telecom}


def make_verifier(name: str, options: VerifierOptions | None = None) -> Verifier:
    """Instantiate a built-in verifier; an unknown name raises an error listing the known ones."""
    if name not in BUILTIN_VERIFIERS:
        raise ValueError(f"unknown verifier '{name}': built-in ones are {', '.join(sorted(BUILTIN_VERIFIERS))}; for your own service pass --endpoint {name}=HOST:PORT")
    return BUILTIN_VERIFIERS[name](options or VerifierOptions())
