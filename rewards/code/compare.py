"""How a program's stdout is compared with a test's expected output (the trusted side).

- ``lines``: the whole output, with trailing whitespace of each line and trailing blank lines
  ignored (``\r\n`` read as ``\n``);
- ``tokens``: the whitespace-separated tokens, one by one, line breaks not counted; two tokens that
  are both numbers are compared as decimals, so ``2.5000000000`` equals ``2.5``, and within
  ``rel_tol`` / ``abs_tol`` when those are set (|a - b| <= max(rel_tol * max(|a|, |b|), abs_tol)).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Literal

_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def normalize_lines(out: bytes) -> bytes:
    """Trailing whitespace of each line and trailing blank lines do not count."""
    return b"\n".join(line.rstrip() for line in out.replace(b"\r\n", b"\n").split(b"\n")).rstrip(b"\n")


def _decimal(token: bytes) -> Decimal | None:
    if not _NUMBER.fullmatch(token):
        return None
    try:
        return Decimal(token.decode())
    except InvalidOperation:
        return None


def tokens_match(a: bytes, b: bytes, rel_tol: float = 0.0, abs_tol: float = 0.0) -> bool:
    """Two tokens are equal as text, or as numbers (within the tolerances)."""
    if a == b:
        return True
    x, y = _decimal(a), _decimal(b)
    if x is None or y is None:
        return False
    return abs(x - y) <= max(Decimal(rel_tol) * max(abs(x), abs(y)), Decimal(abs_tol))


def outputs_match(got: bytes, expected: bytes, compare: Literal["lines", "tokens"] = "lines", rel_tol: float = 0.0, abs_tol: float = 0.0) -> bool:
    if compare == "lines":
        return normalize_lines(got) == normalize_lines(expected)
    got_tokens, expected_tokens = got.split(), expected.split()
    return len(got_tokens) == len(expected_tokens) and all(tokens_match(a, b, rel_tol, abs_tol) for a, b in zip(got_tokens, expected_tokens))
