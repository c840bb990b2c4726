"""Function-call tests, run by the trusted harness (harness_tests.py) inside the sandbox.

``check_calls`` calls the candidate once per test and compares its result with the expected JSON
value: a tuple counts as a list, two numbers are equal within ``rel_tol`` / ``abs_tol``
(math.isclose), and with ``expected_in_list`` an expected ``[result]`` (as APPS stores it) also
accepts ``result``. It returns (passed, total); ``stop_at_failure`` raises at the first failing
call instead. Standard library only.
"""

import math


def same(got, expected, rel_tol=0.0, abs_tol=0.0):
    if isinstance(got, tuple):
        got = list(got)
    numbers = (int, float)
    if isinstance(got, numbers) and isinstance(expected, numbers):
        return got == expected or math.isclose(got, expected, rel_tol=rel_tol, abs_tol=abs_tol)
    if isinstance(got, list) and isinstance(expected, list):
        return len(got) == len(expected) and all(same(a, b, rel_tol, abs_tol) for a, b in zip(got, expected))
    return got == expected


def check_calls(candidate, calls, expected_in_list=False, rel_tol=0.0, abs_tol=0.0, stop_at_failure=True):
    passed = 0
    for i, call in enumerate(calls):
        expected = call["expected"]
        got = candidate(*call["args"])
        ok = same(got, expected, rel_tol, abs_tol)
        if not ok and expected_in_list and isinstance(expected, list) and len(expected) == 1:
            ok = same(got, expected[0], rel_tol, abs_tol)
        passed += ok
        if not ok and stop_at_failure:
            raise AssertionError("call %d: expected %.200r, got %.200r" % (i, expected, got))
    return passed, len(calls)
