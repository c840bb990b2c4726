"""The code verifier: extracts the program from a response and runs it in the sandbox service.

One sandbox run per sample: all stdin/stdout cases of a sample go in one ExecuteBatch (one
isolated environment, every case run and scored); a HumanEval-style sample is one Execute of the
trusted harness (harness_tests.py), which runs the solution in a separate process and prints a
per-sample nonce only when ``check`` returned, so success is read from that line, never from an
exit code. A sandbox that cannot be reached, or that fails, gives ERROR (dropped by the trainer).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Literal

import grpc

from contract.schema import Score, Status
from contract.v1 import sandbox_pb2 as pb
from contract.v1 import sandbox_pb2_grpc as pb_grpc
from rewards.code.extract import extract_program
from rewards.code.reference import CodeReferenceError, FunctionReference, IOReference, parse_reference
from rewards.verifier import Request, Verifier
from serving.client import ClientOptions, Replicas, RpcFailed

HERE = Path(__file__).parent
HARNESS_FILES = {name: (HERE / name).read_bytes() for name in ("harness_wire.py", "harness_worker.py")}
HARNESS_MAIN = (HERE / "harness_tests.py").read_bytes()
MiB = 1024 * 1024
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)  # down, or every slot busy


def normalize_output(out: bytes) -> bytes:
    """Trailing whitespace of each line and trailing blank lines do not count."""
    return b"\n".join(line.rstrip() for line in out.replace(b"\r\n", b"\n").split(b"\n")).rstrip(b"\n")


def _snippet(data: bytes, limit: int = 200) -> str:
    text = data.decode(errors="replace")
    return text if len(text) <= limit else text[:limit] + "..."


class CodeVerifier(Verifier):
    name = "code"
    version = "1"
    reference_schema = {
        "oneOf": [IOReference.model_json_schema(), FunctionReference.model_json_schema()],
    }
    max_batch_size = 1024

    def __init__(self, sandbox: list[str], reward: Literal["all", "fraction"] = "all", max_in_flight: int = 16, options: ClientOptions | None = None):
        """sandbox: addresses of Sandbox service replicas; reward: "all" (1 only when every case
        passes) or "fraction" (the share of cases passed)."""
        if reward not in ("all", "fraction"):
            raise ValueError(f"reward must be 'all' or 'fraction', not {reward!r}")
        self.sandbox_addresses = sandbox
        self.reward_mode = reward
        self.options = options or ClientOptions(max_in_flight=max_in_flight, deadline_s=600.0)
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
        try:
            if isinstance(ref, IOReference):
                return await self._run_io(req.id, program, ref)
            return await self._run_function(req.id, program, ref)
        except RpcFailed as e:
            return Score(req.id, 0.0, Status.ERROR, f"sandbox: {e}")

    async def _run_io(self, sample_id: str, program: str, ref: IOReference) -> Score:
        limits = pb.Limits(cpu_time_s=ref.time_limit_s, wall_time_s=2 * ref.time_limit_s + 1, memory_bytes=ref.memory_mb * MiB)
        request = pb.ExecuteBatchRequest(code=program.encode(), language=ref.language, limits=limits, cases=[pb.TestCase(stdin=t.stdin.encode()) for t in ref.tests])
        result = await self._replicas.call("ExecuteBatch", request, timeout_s=len(ref.tests) * limits.wall_time_s + 120)
        if result.HasField("compile") and result.compile.status != pb.EXEC_STATUS_OK:
            return self._failed_run(sample_id, result.compile, "compile")
        if len(result.results) != len(ref.tests):
            return self._failed_run(sample_id, result.results[0], "run") if result.results else Score(sample_id, 0.0, Status.ERROR, "the sandbox returned no results")
        passed, first_failure, timed_out = 0, "", False
        for i, (test, r) in enumerate(zip(ref.tests, result.results)):
            if r.status == pb.EXEC_STATUS_ERROR:
                return Score(sample_id, 0.0, Status.ERROR, f"sandbox failed on case {i}: {r.detail}")
            ok = r.status == pb.EXEC_STATUS_OK and normalize_output(r.stdout) == normalize_output(test.stdout.encode())
            passed += ok
            timed_out |= r.status == pb.EXEC_STATUS_TIMEOUT
            if not ok and not first_failure:
                how = f"expected {_snippet(test.stdout.encode())!r}, got {_snippet(r.stdout)!r}" if r.status == pb.EXEC_STATUS_OK else f"{pb.ExecStatus.Name(r.status).removeprefix('EXEC_STATUS_')}: {r.detail} {_snippet(r.stderr[-300:])}"
                first_failure = f"; case {i}: {how}"
        total = len(ref.tests)
        reward = passed / total if self.reward_mode == "fraction" else float(passed == total)
        status = Status.OK if passed == total else (Status.TIMEOUT if timed_out else Status.WRONG)
        return Score(sample_id, reward, status, f"{passed}/{total} cases passed{first_failure}", {"passed": float(passed), "total": float(total)})

    async def _run_function(self, sample_id: str, program: str, ref: FunctionReference) -> Score:
        nonce = secrets.token_hex(16)
        secret = json.dumps({"nonce": nonce, "test_code": ref.test_code, "setup_code": ref.setup_code, "entry_point": ref.entry_point}).encode()
        files = [pb.File(path=name, content=content) for name, content in HARNESS_FILES.items()]
        files += [pb.File(path="solution.py", content=program.encode()), pb.File(path="secret.json", content=secret)]
        limits = pb.Limits(cpu_time_s=ref.time_limit_s, wall_time_s=ref.time_limit_s + 1, memory_bytes=ref.memory_mb * MiB)
        r = await self._replicas.call("Execute", pb.ExecuteRequest(code=HARNESS_MAIN, language="python", files=files, limits=limits), timeout_s=limits.wall_time_s + 120)
        if (nonce + " PASS").encode() in r.stdout.split(b"\n"):
            return Score(sample_id, 1.0, Status.OK, "check(candidate) passed")
        return self._failed_run(sample_id, r, "check")

    @staticmethod
    def _failed_run(sample_id: str, r: pb.ExecuteResult, what: str) -> Score:
        """A run that did not pass: TIMEOUT, ERROR (the sandbox's fault) or WRONG."""
        name = pb.ExecStatus.Name(r.status).removeprefix("EXEC_STATUS_")
        tail = _snippet(r.stderr.strip().split(b"\n")[-1] if r.stderr.strip() else b"", 300)
        detail = f"{what}: {name} {r.detail} {tail}".strip()
        status = {pb.EXEC_STATUS_TIMEOUT: Status.TIMEOUT, pb.EXEC_STATUS_ERROR: Status.ERROR}.get(r.status, Status.WRONG)
        return Score(sample_id, 0.0, status, detail)
