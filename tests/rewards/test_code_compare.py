"""How outputs and call results are compared: each rule with a case it must accept and one it
must refuse."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewards.code.compare import outputs_match
from rewards.code.harness_calls import check_calls, same


@pytest.mark.parametrize(
    ("got", "expected", "ok"),
    [
        (b"3\n", b"3", True),  # a missing final newline never matters
        (b"1 2  \r\n3\n\n\n", b"1 2\n3\n", True),  # trailing spaces, \r\n, trailing blank lines
        (b"1  2\n", b"1 2\n", False),  # inner spacing counts in lines mode
        (b" 1\n", b"1\n", False),  # leading whitespace counts in lines mode
        (b"2.5000000000\n", b"2.5\n", False),  # lines mode compares text
    ],
)
def test_lines(got, expected, ok):
    assert outputs_match(got, expected, "lines") is ok


@pytest.mark.parametrize(
    ("got", "expected", "tol", "ok"),
    [
        (b"2.5000000000\n", b"2.5\n", {}, True),  # decimals: LiveCodeBench's rule
        (b"1  2\n3", b"1 2 3\n", {}, True),  # line breaks and spacing do not count
        (b"2.50001", b"2.5", {}, False),  # no tolerance: exact decimals
        (b"2.50001", b"2.5", {"rel_tol": 1e-5}, True),
        (b"2.5001", b"2.5", {"rel_tol": 1e-5}, False),
        (b"0.00000001", b"0", {"abs_tol": 1e-8}, True),
        (b"YES", b"yes", {}, False),  # words compare exactly
        (b"1 2", b"1 2 3", {}, False),  # a missing token
        (b"nan", b"nan", {}, True),
        (b"1e3", b"1000", {}, True),
        (b"0x10", b"16", {}, False),  # only decimal notation is a number
    ],
)
def test_tokens(got, expected, tol, ok):
    assert outputs_match(got, expected, "tokens", **tol) is ok


@given(st.lists(st.integers(-(10**30), 10**30), max_size=20), st.sampled_from([" ", "\n", "  ", "\t"]))
def test_tokens_accept_any_spacing_of_the_same_integers(values, sep):
    expected = " ".join(map(str, values)).encode()
    assert outputs_match(sep.join(map(str, values)).encode() + b"\n", expected, "tokens")
    if values:
        changed = values[:-1] + [values[-1] + 1]
        assert not outputs_match(" ".join(map(str, changed)).encode(), expected, "tokens")


@given(st.floats(-1e6, 1e6, allow_nan=False).filter(lambda v: abs(v) > 1e-3), st.floats(1e-9, 1e-2), st.one_of(st.floats(0, 0.9), st.floats(1.1, 3)))
def test_tokens_tolerance_agrees_with_isclose(x, rel, factor):
    """Against math.isclose in float64, on numbers printed with 17 significant digits, away from
    the tolerance's edge (where printing rounds)."""
    y = x * (1 + factor * rel)
    want = math.isclose(x, y, rel_tol=rel, abs_tol=0.0)
    got = outputs_match(f"{y:.17g}".encode(), f"{x:.17g}".encode(), "tokens", rel_tol=rel)
    assert got == want


def test_call_results_compare_as_their_datasets_do():
    assert same((1, 2), [1, 2])  # a tuple is a list
    assert same([1.0000001], [1.0], rel_tol=1e-6)
    assert not same([1.001], [1.0], rel_tol=1e-6)
    assert not same({"a": 1}, {"a": 2})
    assert same("x", "x") and not same("x", "y")


def test_check_calls_counts_and_stops():
    calls = [{"args": [1], "expected": [2]}, {"args": [2], "expected": [5]}, {"args": [3], "expected": [6]}]

    def double(x):
        return 2 * x

    assert check_calls(double, calls, expected_in_list=True, stop_at_failure=False) == (2, 3)
    with pytest.raises(AssertionError, match="call 1: expected"):
        check_calls(double, calls, expected_in_list=True)
    assert check_calls(double, calls, expected_in_list=False, stop_at_failure=False) == (0, 3)  # [2] is not 2
