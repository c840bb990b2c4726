"""Compare one extracted answer with a reference using math-verify. Runs inside worker processes.

math-verify's own timeouts use ``signal.alarm`` and only work on a main thread, so they are turned
off here and each sample gets its own soft deadline (``setitimer`` in the worker's main thread),
which stops pure-Python stalls (sympy). A stall inside C code holding the GIL (a huge integer power)
ignores signals; the parent's pool kills such a worker (the hard deadline, :mod:`rewards.math.service`).

Model output is only ever parsed as LaTeX (latex2sympy): never ``eval`` / sympy ``parse_expr``.
"""

from __future__ import annotations

import logging
import re
import signal
from functools import lru_cache

from math_verify import LatexExtractionConfig, parse, verify

from rewards.math.extract import extract_final_answer
from rewards.math.repeating import repeating_to_fractions

logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns that its own timeout is off: ours is on

MAX_ANSWER_CHARS = 1000
ANSWER_FORMS = ("any", "number")  # reference.form: any equivalent expression, or the number itself
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?|-?\\frac\{\d+\}\{\d+\}")
_LATEX_ONLY = [LatexExtractionConfig(boxed_match_priority=0)]
_DELIMITERS = ("$", "\\(", "\\[", "\\boxed")


class _DeadlinePassed(BaseException):
    """Raised by SIGALRM; a BaseException so math-verify's ``except Exception`` does not swallow it."""


def _on_alarm(signum, frame):
    raise _DeadlinePassed


def as_latex(text: str) -> str:
    """Wrap a bare answer in ``$...$`` so math-verify parses it as LaTeX."""
    return text if any(d in text for d in _DELIMITERS) else f"${text}$"


def _parse_latex(text: str):
    return parse(as_latex(text), extraction_config=_LATEX_ONLY, parsing_timeout=None)


@lru_cache(maxsize=4096)
def _parse_reference(reference: str):
    return _parse_latex(repeating_to_fractions(reference))


def check_one(response: str, reference: str, form: str = "any") -> tuple[str, float, str]:
    """(status, reward, detail) for one response; no deadline of its own. ``form`` "number": the
    final answer must be a number written out (an integer, a decimal or \\frac{p}{q}), so that an
    expression equal to the reference (the question's own "385 * 435") earns nothing."""
    extraction = extract_final_answer(repeating_to_fractions(response))
    if extraction is None:
        return "WRONG", 0.0, "no final answer found (looked for \\boxed{}, ####, 'the answer is', $...$, a final number)"
    answer = extraction.answer
    if len(answer) > MAX_ANSWER_CHARS:
        return "WRONG", 0.0, f"extracted answer ({extraction.source}) is {len(answer)} chars, over the {MAX_ANSWER_CHARS}-char limit"
    gold = _parse_reference(reference)
    if not gold:
        return "INVALID", 0.0, f"reference.answer {reference!r} does not parse as LaTeX: fix the reference"
    shown = answer if len(answer) <= 80 else answer[:77] + "..."
    if form == "number" and not _NUMBER.fullmatch(answer.strip()):
        return "WRONG", 0.0, f"extracted {shown!r} ({extraction.source}) is not a number: the reference asks for the number itself (reference.form = number)"
    pred = _parse_latex(answer)
    if not pred:
        return "WRONG", 0.0, f"extracted {shown!r} ({extraction.source}) does not parse as math"
    if verify(gold, pred, timeout_seconds=None):
        return "OK", 1.0, f"extracted {shown!r} ({extraction.source}) equals reference {reference!r}"
    return "WRONG", 0.0, f"extracted {shown!r} ({extraction.source}) differs from reference {reference!r}"


def check_batch(items: list[tuple[str, str, str]], deadline_s: float) -> list[tuple[str, float, str]]:
    """Check (response, reference, form) items one by one, each under a soft deadline of deadline_s."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    results = []
    try:
        for response, reference, form in items:
            signal.setitimer(signal.ITIMER_REAL, deadline_s)
            try:
                results.append(check_one(response, reference, form))
            except _DeadlinePassed:
                results.append(("TIMEOUT", 0.0, f"checking took longer than the {deadline_s:g}s deadline"))
            except RecursionError:
                results.append(("WRONG", 0.0, "answer nests too deeply to parse"))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return results


def warm_up() -> None:
    """Pool initializer: import and exercise the parser once so the first sample is not slow."""
    check_one("\\boxed{\\frac{1}{2}}", "0.5")
