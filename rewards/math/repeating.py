"""Repeating decimals as exact fractions, so ``0.\\overline{3}`` equals a reference of ``1/3``.

Notations read: ``0.\\overline{3}`` and ``0.\\bar{3}`` (LaTeX), ``0.1\\dot{6}`` and
``0.\\dot{1}4285\\dot{7}`` (dots over the first and last repeating digit), ``0.(3)`` and
``0.1(6)`` (parentheses), combining overlines ``0.3\u0305``, and an explicit repetition with an
ellipsis, ``0.1666...`` or ``0.142857142857...`` (the repeated block written at least twice).
"""

from __future__ import annotations

import re
from fractions import Fraction

_SIGN_INT = r"(?<![\w.\\])(-?)(\d*)\."
_LATEX_BAR = re.compile(_SIGN_INT + r"(\d*)\\(?:overline|bar)\s*\{(\d+)\}")
_DOTS = re.compile(_SIGN_INT + r"(\d*)\\dot\s*\{(\d)\}(?:(\d*)\\dot\s*\{(\d)\})?")
_PARENS = re.compile(_SIGN_INT + r"(\d*)\((\d+)\)")
_COMBINING = re.compile(_SIGN_INT + r"(\d*?)((?:\d\u0305)+)")
_ELLIPSIS = re.compile(_SIGN_INT + r"(\d*?)(\d+?)\4+(?:\.\.\.|\u2026|\\(?:ldots|cdots|dots))")


def value(whole: str, fixed: str, period: str) -> Fraction:
    """whole.fixed(period)(period)... as a fraction: whole + (fixed·period - fixed) / (10^|fixed| (10^|period| - 1))."""
    repeat = Fraction(int(fixed + period) - int(fixed or "0"), 10 ** len(fixed) * (10 ** len(period) - 1))
    return int(whole or "0") + repeat


def as_latex(sign: str, number: Fraction) -> str:
    number = -number if sign else number
    return str(number.numerator) if number.denominator == 1 else f"{'-' if number < 0 else ''}\\frac{{{abs(number.numerator)}}}{{{number.denominator}}}"


def _dotted(m: re.Match[str]) -> str:
    """One dotted digit repeats alone; two dots mark the first and last digit of the period."""
    period = m[4] + m[5] + m[6] if m[6] else m[4]
    return as_latex(m[1], value(m[2], m[3], period))


def repeating_to_fractions(text: str) -> str:
    """``text`` with every repeating decimal it writes replaced by ``\\frac{p}{q}`` (or an integer)."""
    if "." not in text:
        return text
    text = _LATEX_BAR.sub(lambda m: as_latex(m[1], value(m[2], m[3], m[4])), text)
    text = _DOTS.sub(_dotted, text)
    text = _PARENS.sub(lambda m: as_latex(m[1], value(m[2], m[3], m[4])), text)
    text = _COMBINING.sub(lambda m: as_latex(m[1], value(m[2], m[3], m[4].replace("\u0305", ""))), text)
    return _ELLIPSIS.sub(lambda m: as_latex(m[1], value(m[2], m[3], m[4])), text)
