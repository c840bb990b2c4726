"""Budgets for long tails: a problem's cases go to the sandbox in calls of 8, 16, 32... cases; in
all-or-nothing mode a failing case ends the run; ``max_tests`` and ``max_seconds`` bound what one
problem may cost. Real code verifier, real sandbox."""

from __future__ import annotations

import pytest

from contract.schema import Sample, Status
from rewards.code.service import CodeVerifier
from tests.conftest import ServerThread
from tests.rewards.test_code_verifier import score

pytestmark = pytest.mark.sandbox
CASES = 300
LONG_TAIL = {"tests": [{"stdin": f"{i}\n", "stdout": f"{2 * i}\n"} for i in range(CASES)], "time_limit_s": 2}
DOUBLE = "print(2 * int(input()))"
WRONG_FROM_0 = "print(2 * int(input()) + 1)"
WRONG_AT_100 = "n = int(input())\nprint(2 * n if n != 100 else 0)"
CRASHES = "n = int(input())\nprint(2 * n if n < 5 else 1 // 0)"


def sample(name: str, program: str, reference=None) -> Sample:
    return Sample(id=name, verifier="code", reference=reference or LONG_TAIL, response=f"```python\n{program}\n```")


@pytest.fixture(scope="module")
def servers(sandbox_server):
    made = {
        "all": ServerThread(CodeVerifier([sandbox_server.address])).start(),
        "fraction": ServerThread(CodeVerifier([sandbox_server.address], reward="fraction")).start(),
        "ten": ServerThread(CodeVerifier([sandbox_server.address], max_tests=10)).start(),
        "one_second": ServerThread(CodeVerifier([sandbox_server.address], max_seconds=1.0)).start(),
    }
    yield made
    for server in made.values():
        server.stop()


def test_a_300_case_problem_stops_at_its_first_failure(servers):
    right, wrong, late, crash = score(servers["all"], [sample("r", DOUBLE), sample("w", WRONG_FROM_0), sample("l", WRONG_AT_100), sample("c", CRASHES)])
    # a case may take 2 * 2 + 1 = 5 s of wall time, so a call holds at most (60 s - spent) / 5 = 12 cases, fewer as the budget goes
    assert right.status is Status.OK and right.components["cases_run"] == CASES and 1 + 25 <= right.components["sandbox_calls"] <= 40
    assert wrong.status is Status.WRONG and wrong.components["cases_run"] == 8 and wrong.components["sandbox_calls"] == 1
    assert late.status is Status.WRONG and 101 <= late.components["cases_run"] <= 8 + 9 * 12 and "case 100" in late.detail
    assert crash.status is Status.WRONG and crash.components["runtime_error"] == 1.0 and crash.components["cases_run"] == 6  # the sandbox stops at the crash
    assert right.components["sandbox_s"] > 0


def test_fraction_mode_runs_every_case(servers):
    wrong, late = score(servers["fraction"], [sample("w", WRONG_FROM_0), sample("l", WRONG_AT_100)])
    assert wrong.components["cases_run"] == CASES and wrong.reward == 0.0
    assert late.components["cases_run"] == CASES and late.reward == pytest.approx((CASES - 1) / CASES)


def test_max_tests_runs_the_first_cases_only(servers):
    late, wrong = score(servers["ten"], [sample("l", WRONG_AT_100), sample("w", WRONG_FROM_0)])
    assert late.status is Status.OK and late.components["total"] == 10 and late.components["cases_run"] == 10  # case 100 is never run
    assert wrong.status is Status.WRONG


def test_max_seconds_ends_a_slow_problem_as_a_timeout(servers):
    slow = "import time\ntime.sleep(0.3)\nprint(2 * int(input()))"
    stuck = "while True:\n    pass"
    fast = {"tests": [{"stdin": f"{i}\n", "stdout": f"{2 * i}\n"} for i in range(10)], "time_limit_s": 0.1}  # 1.2 s of wall per case at most
    slow_result, stuck_result, fast_result = score(servers["one_second"], [sample("s", slow), sample("t", stuck), sample("f", DOUBLE, fast)])
    assert slow_result.status is Status.TIMEOUT and slow_result.reward == 0.0 and "budget of 1 s" in slow_result.detail, slow_result
    assert stuck_result.status is Status.TIMEOUT
    for result in (slow_result, stuck_result):  # the budget holds: the cases' own wall time stays within it
        assert result.components["run_s"] <= 1.0 + 0.5, result
    assert fast_result.status is Status.OK and fast_result.components["sandbox_calls"] == 10  # one case per call fits a 1 s budget


def test_function_calls_count_in_fraction_mode_and_stop_in_all_mode(servers):
    reference = {"calls": [{"args": [i], "expected": 2 * i} for i in range(20)], "entry_point": "f"}
    program = "def f(x):\n    return 2 * x if x < 15 else -1"
    (all_mode,) = score(servers["all"], [sample("a", program, reference)])
    (fraction,) = score(servers["fraction"], [sample("f", program, reference)])
    (capped,) = score(servers["ten"], [sample("t", program, reference)])
    assert all_mode.status is Status.WRONG and "call 15" in all_mode.detail
    assert fraction.status is Status.WRONG and fraction.reward == pytest.approx(15 / 20) and fraction.components["passed"] == 15
    assert capped.status is Status.OK and capped.components["cases_run"] == 10
