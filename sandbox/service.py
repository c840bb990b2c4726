"""The ``verity.v1.Sandbox`` gRPC service: Execute and ExecuteBatch on a pool of isolated slots.

Every outcome of the user's program (it failed, ran too long, printed too much) and every
malformed request is a result status; gRPC errors are kept for the service's own state: all
slots busy past the bounded wait (RESOURCE_EXHAUSTED, retryable).
"""

from __future__ import annotations

import logging
import os

import grpc

from contract.v1 import sandbox_pb2 as pb
from contract.v1 import sandbox_pb2_grpc as pb_grpc
from sandbox.environment import Isolation
from sandbox.execution import Case, Program, RequestError, StepResult, check_cases, check_program, make_job, missing_result, step_result
from sandbox.isolation import IsolationUnavailable, find_bwrap, find_python
from sandbox.languages import Language, available_languages
from sandbox.pool import SandboxBusy, SlotPool
from sandbox.uids import lease_uids
from serving.server import run_server

log = logging.getLogger("verity.sandbox")
DEFAULT_TMPFS_BYTES = 64 * 1024 * 1024


def to_pb(r: StepResult) -> pb.ExecuteResult:
    return pb.ExecuteResult(
        exit_code=r.exit_code, signal=r.signal, stdout=r.stdout, stderr=r.stderr,
        stdout_truncated=r.stdout_truncated, stderr_truncated=r.stderr_truncated,
        wall_time_s=r.wall_time_s, cpu_time_s=r.cpu_time_s, max_rss_bytes=r.max_rss_bytes,
        status=pb.ExecStatus.Value(f"EXEC_STATUS_{r.status}"), detail=r.detail,
    )  # fmt: skip


class SandboxService(pb_grpc.SandboxServicer):
    def __init__(self, pool: SlotPool, languages: dict[str, Language]):
        self.pool, self.languages = pool, languages

    async def Execute(self, request: pb.ExecuteRequest, context: grpc.aio.ServicerContext) -> pb.ExecuteResult:
        try:
            program = self._program(request)
            cases = check_cases([Case(request.stdin, tuple(request.argv))])
        except RequestError as e:
            return to_pb(StepResult(status="INVALID", detail=str(e)))
        compiled, results = await self._run(program, cases, True, context)
        if compiled is not None and compiled.status != "OK":
            return to_pb(compiled)
        return to_pb(results[0])

    async def ExecuteBatch(self, request: pb.ExecuteBatchRequest, context: grpc.aio.ServicerContext) -> pb.ExecuteBatchResult:
        try:
            program = self._program(request)
            if not request.cases:
                raise RequestError("cases is empty: send at least one test case")
            cases = check_cases([Case(c.stdin, tuple(c.argv)) for c in request.cases])
        except RequestError as e:
            return pb.ExecuteBatchResult(results=[to_pb(StepResult(status="INVALID", detail=str(e)))])
        compiled, results = await self._run(program, cases, request.stop_on_failure, context)
        return pb.ExecuteBatchResult(compile=to_pb(compiled) if compiled else None, results=[to_pb(r) for r in results])

    def _program(self, request) -> Program:
        files = [(f.path, f.content) for f in request.files]
        return check_program(request.code, request.language, files, request.limits if request.HasField("limits") else None, self.languages)

    async def _run(self, program: Program, cases: list[Case], stop_on_failure: bool, context) -> tuple[StepResult | None, list[StepResult]]:
        """(the compile step's result or None, one result per case that ran). A run whose
        environment failed to start is retried once on a fresh one."""
        job, timeout = make_job(program, cases, stop_on_failure)
        compiles = program.language.compile is not None
        for attempt in range(2):
            try:
                outcome = await self.pool.run(job, timeout)
            except SandboxBusy as e:
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
            steps = [step_result(raw, program.limits, compile_step=compiles and i == 0) for i, raw in enumerate(outcome.results)]
            expected = len(cases) + compiles
            stopped = bool(steps) and steps[-1].status != "OK" and (stop_on_failure or (compiles and len(steps) == 1))
            if len(steps) < expected and not stopped:
                missing = missing_result(outcome.stderr, outcome.timed_out)
                if missing.status == "ERROR" and attempt == 0 and not steps:
                    log.warning("environment failed, retrying once: %s", missing.detail)
                    continue
                steps += [missing] * (expected - len(steps))
            break
        compiled = steps.pop(0) if compiles and steps else None
        return compiled, steps


def make_service(slots: int | None = None, max_wait_s: float = 30.0, tmpfs_bytes: int = DEFAULT_TMPFS_BYTES, uid_base: int | None = None, proc: bool = True) -> SandboxService:
    """The service over a fresh pool (not started: ``await service.pool.start()``). As root, each
    slot runs under its own leased uid (``uid_base`` onwards, or the lowest free ones). ``proc``:
    give each environment a fresh /proc (False: none)."""
    slots = slots or os.cpu_count() or 1
    switch_uid = os.geteuid() == 0
    if not switch_uid:
        log.warning("not running as root: every slot shares this uid, so the process limit is shared across slots")
    isolation = Isolation(find_bwrap(switch_uid), find_python(), tmpfs_bytes, switch_uid, proc)
    uids = lease_uids(slots, uid_base) if switch_uid else None
    log.info("slots=%d uids=%s", slots, uids.uids if uids else os.getuid())
    return SandboxService(SlotPool(isolation, uids, slots, max_wait_s), available_languages())


async def self_check(service: SandboxService) -> None:
    """Run one trivial program; raise IsolationUnavailable with bubblewrap's words if it cannot."""
    program = check_program(b"print('ok')", "python", [], None, service.languages)
    job, timeout = make_job(program, [Case()], True)
    outcome = await service.pool.run(job, timeout)
    if not outcome.results or step_result(outcome.results[0], program.limits).stdout != b"ok\n":
        why = outcome.stderr.strip() or "no output"
        if "mount proc" in why:
            why += " (inside a container whose /proc is masked, as Docker's is, serve with --no-proc)"
        raise IsolationUnavailable(f"the sandbox cannot run a program on this machine: {why}")


async def serve_sandbox(slots: int | None = None, max_wait_s: float = 30.0, tmpfs_bytes: int = DEFAULT_TMPFS_BYTES, uid_base: int | None = None, proc: bool = True, **server_kwargs) -> None:
    """Start the slots, then serve the Sandbox service until SIGTERM (see serving.server.run_server)."""
    service = make_service(slots, max_wait_s, tmpfs_bytes, uid_base, proc)
    await service.pool.start()
    await self_check(service)

    def register(server: grpc.aio.Server) -> list[str]:
        pb_grpc.add_SandboxServicer_to_server(service, server)
        return [pb.DESCRIPTOR.services_by_name["Sandbox"].full_name]

    try:
        await run_server("sandbox", register, **server_kwargs)
    finally:
        await service.pool.close()
