"""The python tool: an episode's code blocks run in the Sandbox service, over gRPC.

Each call is a fresh isolated environment (the same isolation as scoring): the newest block runs
after the episode's earlier blocks are replayed silently (:mod:`trainer.tools.cell_runner`), so an
episode sees its own variables and no episode can leave anything for another. A block that timed
out or ran out of memory is not replayed. What the program does (prints, crashes, runs past its
time) is output for the model to read; only a sandbox that fails (an ERROR status, or no answer
after the client's retries) fails the call, and its episode is dropped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from contract.v1 import sandbox_pb2 as pb
from contract.v1 import sandbox_pb2_grpc as pb_grpc
from serving.client import ClientOptions, Replicas, RpcFailed

CELL_RUNNER = (Path(__file__).parent / "cell_runner.py").read_bytes()
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)  # down, or every slot busy
STATUS = {v: pb.ExecStatus.Name(v).removeprefix("EXEC_STATUS_") for v in pb.ExecStatus.values()}
NOT_REPLAYED = ("TIMEOUT", "MEMORY_LIMIT")  # blocks that would stop their replay again


@dataclass(frozen=True)
class Call:
    """One run of an episode's newest block: ``replay`` are its earlier blocks that finished."""

    replay: tuple[str, ...]
    code: str


@dataclass(frozen=True)
class CallResult:
    status: str  # the sandbox's: OK, RUNTIME_ERROR, TIMEOUT, MEMORY_LIMIT, OUTPUT_LIMIT; ERROR: the sandbox failed
    output: str  # what the model reads: stdout, then stderr, then a line naming a limit that stopped it
    detail: str = ""  # why the sandbox failed (status ERROR)

    @property
    def replayable(self) -> bool:
        return self.status not in NOT_REPLAYED


def read_result(r: pb.ExecuteResult, timeout_s: float) -> CallResult:
    """The model's view of one sandbox run."""
    status = STATUS[r.status]
    if status in ("ERROR", "INVALID", "UNSPECIFIED"):
        return CallResult("ERROR", "", r.detail or status)
    output = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    note = {"TIMEOUT": f"TimeoutError: the block ran longer than {timeout_s:g} s", "MEMORY_LIMIT": "MemoryError: the block ran out of memory", "OUTPUT_LIMIT": "the block printed too much: its output was cut"}
    if status in note:
        output = output.rstrip("\n") + ("\n" if output.strip() else "") + note[status]
    return CallResult(status, output)


class PythonTool:
    """Synchronous facade over the Sandbox service's replicas (a private event loop, as the
    scorer's): ``run`` executes a batch of calls concurrently."""

    def __init__(self, addresses: list[str], options: ClientOptions, timeout_s: float = 5.0, memory_mb: int = 512):
        """timeout_s: the wall and CPU seconds of a block (its replayed blocks get as many each)."""
        self.timeout_s, self.memory_bytes = timeout_s, memory_mb * 2**20
        self.addresses, self.options = addresses, options
        self._loop = asyncio.new_event_loop()
        self._replicas: Replicas | None = None  # made on the private loop, which its channels belong to
        self.seconds = 0.0  # wall seconds spent in run() since the start

    def run(self, calls: list[Call]) -> list[CallResult]:
        start = time.perf_counter()
        try:
            return self._loop.run_until_complete(self._run_all(calls))
        finally:
            self.seconds += time.perf_counter() - start

    async def _run_all(self, calls: list[Call]) -> list[CallResult]:
        if self._replicas is None:
            self._replicas = Replicas(self.addresses, self.options, pb_grpc.SandboxStub, retryable=RETRYABLE)
        return list(await asyncio.gather(*(self._run_one(c) for c in calls)))

    async def _run_one(self, call: Call) -> CallResult:
        blocks = [*call.replay, call.code]
        files = [pb.File(path=f"block_{i}.py", content=code.encode()) for i, code in enumerate(blocks)]
        seconds = self.timeout_s * len(blocks)
        limits = pb.Limits(wall_time_s=seconds, cpu_time_s=seconds, memory_bytes=self.memory_bytes)
        request = pb.ExecuteRequest(code=CELL_RUNNER, language="python", files=files, limits=limits, argv=[str(len(blocks) - 1)])
        try:
            result = await self._replicas.call("Execute", request, timeout_s=seconds + 60)
        except RpcFailed as e:
            return CallResult("ERROR", "", f"sandbox: {e}")
        return read_result(result, self.timeout_s)

    def close(self) -> None:
        if self._replicas is not None:
            self._loop.run_until_complete(self._replicas.close())
        self._loop.close()
