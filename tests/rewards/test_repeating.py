"""Repeating decimals: every notation becomes the exact fraction, checked by long division."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.math.check import check_one
from rewards.math.repeating import repeating_to_fractions

digits = st.text(alphabet="0123456789", max_size=3)
period = st.text(alphabet="0123456789", min_size=1, max_size=4)


def expansion(number: Fraction, places: int) -> str:
    """The first ``places`` decimals of a non-negative fraction, by long division."""
    whole, rest = divmod(number.numerator, number.denominator)
    out = []
    for _ in range(places):
        rest *= 10
        digit, rest = divmod(rest, number.denominator)
        out.append(str(digit))
    return f"{whole}." + "".join(out)


def parse(latex: str) -> Fraction:
    if latex.startswith("\\frac{"):
        num, den = latex[len("\\frac{") : -1].split("}{")
        return Fraction(int(num), int(den))
    return Fraction(int(latex))


@settings(max_examples=300, deadline=None)
@given(whole=st.integers(0, 999), fixed=digits, rep=period, notation=st.sampled_from(["overline", "bar", "parens", "combining", "dots"]))
def test_every_notation_gives_the_fraction_whose_expansion_repeats(whole, fixed, rep, notation):
    written = {
        "overline": f"{whole}.{fixed}\\overline{{{rep}}}",
        "bar": f"{whole}.{fixed}\\bar{{{rep}}}",
        "parens": f"{whole}.{fixed}({rep})",
        "combining": f"{whole}.{fixed}" + "".join(d + "\u0305" for d in rep),
        "dots": f"{whole}.{fixed}\\dot{{{rep[0]}}}" + (f"{rep[1:-1]}\\dot{{{rep[-1]}}}" if len(rep) > 1 else ""),
    }[notation]
    number = parse(repeating_to_fractions(written))
    places = len(fixed) + 3 * len(rep)
    if set(rep) == {"9"}:  # 0.(9) is 1: its expansion is the next number's
        assert number == parse(repeating_to_fractions(f"{whole}.{fixed}({'0'})")) + Fraction(1, 10 ** len(fixed))
    else:
        assert expansion(number, places) == f"{whole}.{fixed}{rep * 3}"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("0.1666...", "\\frac{1}{6}"),
        ("0.142857142857\u2026", "\\frac{1}{7}"),
        ("-0.(3)", "-\\frac{1}{3}"),
        ("so x = 0.(3) here", "so x = \\frac{1}{3} here"),
        ("0.5...", "0.5..."),  # nothing repeated: left alone
        ("f(0.5) + 3.14", "f(0.5) + 3.14"),
    ],
)
def test_text_around_the_number_is_kept(text, expected):
    assert repeating_to_fractions(text) == expected


@pytest.mark.parametrize(
    "response,reference,status",
    [
        ("\\boxed{0.\\overline{3}}", "\\frac{1}{3}", "OK"),
        ("The answer is 0.(27).", "3/11", "OK"),
        ("\\boxed{\\frac{1}{6}}", "0.1\\overline{6}", "OK"),
        ("\\boxed{0.33}", "\\frac{1}{3}", "WRONG"),  # a rounded decimal is not the fraction
        ("\\boxed{0.\\overline{3}}", "0.3", "WRONG"),
    ],
)
def test_the_math_checker_compares_repeating_decimals_exactly(response, reference, status):
    assert check_one(response, reference)[0] == status
