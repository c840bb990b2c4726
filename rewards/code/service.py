"""The code verifier: extracts the program from a response and runs it in the sandbox service.

stdin/stdout cases go to the sandbox in ExecuteBatch calls (each one isolated environment) of
growing size: 8 cases, then 16, 32..., so a problem with hundreds of cases costs a few calls, and
in all-or-nothing mode the run stops at the first failing case (the sandbox stops at a crash or a
timeout; a wrong output ends the calls). Per problem at most ``max_tests`` cases run and at most
``max_seconds`` of their wall time is spent: a call holds no more cases than would fit in the
budget left were each to run to its wall limit, so the budget holds whatever the program does; a
problem whose budget runs out before its cases do is a TIMEOUT. Function-call and HumanEval-style
samples are one Execute of the trusted harness (harness_tests.py), which runs the solution in a
separate process and prints a per-sample nonce only when ``check`` returned, so success is read
from that line, never from an exit code.

Each score's components count what it cost: ``cases_run``, ``sandbox_calls``, ``sandbox_s``
(wall seconds of those calls, waiting for a free slot included), ``run_s`` (wall seconds the
program ran, as the sandbox measured it) and ``runtime_error`` (1 when the program crashed). A
sandbox that cannot be reached, or that fails, gives ERROR (dropped by the trainer).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import grpc

from contract.schema import Score, Status
from contract.v1 import sandbox_pb2 as pb
from contract.v1 import sandbox_pb2_grpc as pb_grpc
from rewards.code.compare import outputs_match
from rewards.code.extract import extract_program
from rewards.code.reference import CallReference, CodeReferenceError, FunctionReference, IOReference, parse_reference
from rewards.verifier import Request, Verifier
from serving.client import ClientOptions, Replicas, RpcFailed

HERE = Path(__file__).parent
HARNESS_FILES = {name: (HERE / name).read_bytes() for name in ("harness_wire.py", "harness_worker.py", "harness_calls.py")}
HARNESS_MAIN = (HERE / "harness_tests.py").read_bytes()
MiB = 1024 * 1024
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)  # down, or every slot busy
FIRST_CALL_CASES = 8  # cases in the first ExecuteBatch of a sample; each next call doubles it


def _snippet(data: bytes, limit: int = 200) -> str:
    text = data.decode(errors="replace")
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass
class Cost:
    """What scoring one sample took from the sandbox."""

    cases_run: int = 0
    sandbox_calls: int = 0
    sandbox_s: float = 0.0  # wall seconds of the sandbox calls as this verifier waited for them
    run_s: float = 0.0  # wall seconds the program ran, as the sandbox measured it
    runtime_error: bool = False

    def components(self) -> dict[str, float]:
        return {"cases_run": float(self.cases_run), "sandbox_calls": float(self.sandbox_calls), "sandbox_s": self.sandbox_s, "run_s": self.run_s, "runtime_error": float(self.runtime_error)}


class CodeVerifier(Verifier):
    name = "code"
    version = "2"
    reference_schema = {
        "oneOf": [IOReference.model_json_schema(), CallReference.model_json_schema(), FunctionReference.model_json_schema()],
    }
    max_batch_size = 1024

    def __init__(self, sandbox: list[str], reward: Literal["all", "fraction"] = "all", max_tests: int | None = None, max_seconds: float = 60.0, max_in_flight: int = 16, options: ClientOptions | None = None, sandbox_token: str | None = None):
        """sandbox: addresses of Sandbox service replicas; reward: "all" (1 only when every case
        passes) or "fraction" (the share of cases passed); max_tests: the most cases a problem
        runs (its first ones; None: all); max_seconds: the most wall seconds its cases may take
        together; sandbox_token: the token the sandbox requires (when ``options`` is not given)."""
        if reward not in ("all", "fraction"):
            raise ValueError(f"reward must be 'all' or 'fraction', not {reward!r}")
        if max_tests is not None and max_tests < 1:
            raise ValueError(f"max_tests must be at least 1 (or None for every case), not {max_tests}")
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, not {max_seconds}")
        self.sandbox_addresses = sandbox
        self.reward_mode = reward
        self.max_tests, self.max_seconds = max_tests, max_seconds
        self.options = options or ClientOptions(max_in_flight=max_in_flight, deadline_s=600.0, auth_token=sandbox_token)
        self._replicas: Replicas | None = None

    async def start(self) -> None:
        if self._replicas is None:
            self._replicas = Replicas(self.sandbox_addresses, self.options, pb_grpc.SandboxStub, retryable=RETRYABLE)

    async def close(self) -> None:
        if self._replicas is not None:
            await self._replicas.close()
            self._replicas = None

    async def score(self, requests: list[Request]) -> list[Score]:
        await self.start()
        return list(await asyncio.gather(*(self._score_one(r) for r in requests)))

    async def _score_one(self, req: Request) -> Score:
        try:
            ref = parse_reference(req.reference)
        except CodeReferenceError as e:
            return Score(req.id, 0.0, Status.INVALID, str(e))
        program = extract_program(req.response, ref.language)
        if program is None:
            fence = "```python" if ref.language == "python" else "```cpp"
            return Score(req.id, 0.0, Status.WRONG, f"no program in the response: no {fence} block" + (", and the response does not parse as Python" if ref.language == "python" else ""))
        if getattr(ref, "prelude", ""):  # the imports a dataset's own harness puts before a solution
            program = f"{ref.prelude}\n{program}"
        cost = Cost()
        try:
            if isinstance(ref, IOReference):
                score = await self._run_io(req.id, program, ref, cost)
            else:
                score = await self._run_harness(req.id, program, ref, cost)
        except RpcFailed as e:
            score = Score(req.id, 0.0, Status.ERROR, f"sandbox: {e}")
        score.components.update(cost.components())
        return score

    async def _call(self, method: str, request, timeout_s: float, cost: Cost):
        start = time.monotonic()
        try:
            return await self._replicas.call(method, request, timeout_s=timeout_s)
        finally:
            cost.sandbox_calls += 1
            cost.sandbox_s += time.monotonic() - start

    async def _run_io(self, sample_id: str, program: str, ref: IOReference, cost: Cost) -> Score:
        """The first ``max_tests`` cases, in ExecuteBatch calls of 8, 16, 32... cases (no more than
        fit in the budget left at their wall limit of 2 * time_limit_s + 1 s), until every case
        has run, or, in all-or-nothing mode, one has failed, or the budget is spent."""
        tests = ref.tests[: self.max_tests]
        case_wall = 2 * ref.time_limit_s + 1  # the wall limit of one case, in seconds
        stop_at_failure = self.reward_mode == "all"
        passed, first_failure, timed_out, spent, size = 0, "", False, 0.0, FIRST_CALL_CASES
        while cost.cases_run < len(tests) and not (stop_at_failure and first_failure):
            left = self.max_seconds - spent
            if left <= 0:
                first_failure = first_failure or f"; the problem's budget of {self.max_seconds:g} s was spent after {cost.cases_run} of {len(tests)} cases"
                timed_out = True
                break
            wall = min(case_wall, left)
            budget_cut = wall < case_wall  # a case of this call that times out ran out of budget
            fits = max(1, int(left // wall))  # were each case to run to its wall limit, the budget would still hold
            chunk = tests[cost.cases_run : cost.cases_run + min(size, fits)]
            size *= 2
            limits = pb.Limits(cpu_time_s=min(ref.time_limit_s, wall), wall_time_s=wall, memory_bytes=ref.memory_mb * MiB)
            request = pb.ExecuteBatchRequest(code=program.encode(), language=ref.language, limits=limits, cases=[pb.TestCase(stdin=t.stdin.encode()) for t in chunk], stop_on_failure=stop_at_failure)
            result = await self._call("ExecuteBatch", request, len(chunk) * wall + 120, cost)
            if result.HasField("compile") and result.compile.status != pb.EXEC_STATUS_OK:
                return self._failed_run(sample_id, result.compile, "compile")
            if not result.results:
                return Score(sample_id, 0.0, Status.ERROR, "the sandbox returned no results")
            if len(result.results) < len(chunk) and result.results[-1].status == pb.EXEC_STATUS_OK:
                return Score(sample_id, 0.0, Status.ERROR, f"the sandbox returned {len(result.results)} results for {len(chunk)} cases")
            for test, r in zip(chunk, result.results):
                i = cost.cases_run
                cost.cases_run += 1
                spent += r.wall_time_s
                cost.run_s += r.wall_time_s
                if r.status == pb.EXEC_STATUS_ERROR:
                    return Score(sample_id, 0.0, Status.ERROR, f"sandbox failed on case {i}: {r.detail}")
                ok = r.status == pb.EXEC_STATUS_OK and outputs_match(r.stdout, test.stdout.encode(), ref.compare, ref.rel_tol, ref.abs_tol)
                passed += ok
                timed_out |= r.status == pb.EXEC_STATUS_TIMEOUT
                cost.runtime_error |= r.status in (pb.EXEC_STATUS_RUNTIME_ERROR, pb.EXEC_STATUS_MEMORY_LIMIT)
                if r.status == pb.EXEC_STATUS_TIMEOUT and budget_cut and not first_failure:
                    first_failure = f"; the problem's budget of {self.max_seconds:g} s was spent in case {i} (of {len(tests)})"
                if not ok and not first_failure:
                    how = f"expected {_snippet(test.stdout.encode())!r}, got {_snippet(r.stdout)!r}" if r.status == pb.EXEC_STATUS_OK else f"{pb.ExecStatus.Name(r.status).removeprefix('EXEC_STATUS_')}: {r.detail} {_snippet(r.stderr[-300:])}"
                    first_failure = f"; case {i}: {how}"
        total = len(tests)
        reward = passed / total if self.reward_mode == "fraction" else float(passed == total)
        status = Status.OK if passed == total else (Status.TIMEOUT if timed_out else Status.WRONG)
        ran = "" if cost.cases_run == total else f" ({cost.cases_run} run)"
        return Score(sample_id, reward, status, f"{passed}/{total} cases passed{ran}{first_failure}", {"passed": float(passed), "total": float(total)})

    async def _run_harness(self, sample_id: str, program: str, ref: CallReference | FunctionReference, cost: Cost) -> Score:
        """One Execute of the trusted harness: HumanEval's ``check(candidate)``, or function-call
        tests turned into one (harness_calls.py)."""
        nonce = secrets.token_hex(16)
        time_limit_s = min(ref.time_limit_s, self.max_seconds)
        if isinstance(ref, CallReference):
            calls = [c.model_dump() for c in ref.calls[: self.max_tests]]
            options = {"expected_in_list": ref.expected_in_list, "rel_tol": ref.rel_tol, "abs_tol": ref.abs_tol, "stop_at_failure": self.reward_mode == "all"}
            test_code = f"import json\nfrom harness_calls import check_calls\n\ndef check(candidate):\n    return check_calls(candidate, json.loads({json.dumps(calls)!r}), **{options!r})\n"
            secret = {"test_code": test_code, "setup_code": "", "entry_point": ref.entry_point}
            cost.cases_run = len(calls)
        else:
            secret = {"test_code": ref.test_code, "setup_code": ref.setup_code, "entry_point": ref.entry_point}
            cost.cases_run = 1
        files = [pb.File(path=name, content=content) for name, content in HARNESS_FILES.items()]
        files += [pb.File(path="solution.py", content=program.encode()), pb.File(path="secret.json", content=json.dumps({"nonce": nonce, **secret}).encode())]
        limits = pb.Limits(cpu_time_s=time_limit_s, wall_time_s=time_limit_s + 1, memory_bytes=ref.memory_mb * MiB)
        r = await self._call("Execute", pb.ExecuteRequest(code=HARNESS_MAIN, language="python", files=files, limits=limits), limits.wall_time_s + 120, cost)
        cost.run_s += r.wall_time_s
        lines = r.stdout.split(b"\n")
        if (nonce + " PASS").encode() in lines:
            return Score(sample_id, 1.0, Status.OK, "check(candidate) passed")
        counted = [line.split() for line in lines if line.startswith((nonce + " PASSED ").encode())]
        if counted and len(counted[0]) == 4:
            passed, total = int(counted[0][2]), int(counted[0][3])
            reward = passed / total if self.reward_mode == "fraction" else float(passed == total)
            return Score(sample_id, reward, Status.OK if passed == total else Status.WRONG, f"{passed}/{total} calls passed", {"passed": float(passed), "total": float(total)})
        cost.runtime_error = r.status == pb.EXEC_STATUS_RUNTIME_ERROR and b"AssertionError" not in r.stderr
        return self._failed_run(sample_id, r, "check")

    @staticmethod
    def _failed_run(sample_id: str, r: pb.ExecuteResult, what: str) -> Score:
        """A run that did not pass: TIMEOUT, ERROR (the sandbox's fault) or WRONG."""
        name = pb.ExecStatus.Name(r.status).removeprefix("EXEC_STATUS_")
        tail = _snippet(r.stderr.strip().split(b"\n")[-1] if r.stderr.strip() else b"", 300)
        detail = f"{what}: {name} {r.detail} {tail}".strip()
        status = {pb.EXEC_STATUS_TIMEOUT: Status.TIMEOUT, pb.EXEC_STATUS_ERROR: Status.ERROR}.get(r.status, Status.WRONG)
        return Score(sample_id, 0.0, status, detail)
