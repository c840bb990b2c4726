"""A gRPC host that turns any :class:`~rewards.verifier.Verifier` into a ``verity.v1.Verifier`` service.

What every verity server does: grpc.aio, ``grpc.health.v1`` health checking, a bounded number of
concurrent RPCs, explicit message-size limits on both directions, no SO_REUSEPORT (a second server
on a used port fails instead of silently sharing it), and a graceful shutdown on SIGTERM/SIGINT
(health turns NOT_SERVING, in-flight calls get ``grace_s`` to finish, then the verifier's resources close).
On start it prints one line ``verity: <name> listening on HOST:PORT`` to stdout, which is how a
parent process learns a port chosen by the OS (``--port 0``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from rewards.schema import Score, Status
from rewards.tls import TLSFiles
from rewards.verifier import Request, Verifier
from rewards.wire import score_to_pb
from verity.v1 import verifier_pb2 as pb
from verity.v1 import verifier_pb2_grpc as pb_grpc

log = logging.getLogger("verity.host")

DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_CONCURRENT_RPCS = 64


class VerifierService(pb_grpc.VerifierServicer):
    """Decodes samples, lets the verifier score them, and encodes the verdicts in order."""

    def __init__(self, verifier: Verifier):
        self.verifier = verifier

    async def Score(self, request: pb.ScoreRequest, context: grpc.aio.ServicerContext) -> pb.ScoreResponse:
        n = len(request.samples)
        if n > self.verifier.max_batch_size:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"batch of {n} samples exceeds max_batch_size={self.verifier.max_batch_size}: send smaller batches")
        scores: list[Score | None] = [None] * n
        valid: list[tuple[int, Request]] = []
        for i, s in enumerate(request.samples):
            decoded = _decode(s)
            if isinstance(decoded, Score):
                scores[i] = decoded
            else:
                valid.append((i, decoded))
        try:
            verdicts = await self.verifier.score([r for _, r in valid])
        except Exception as e:  # a verifier bug is an infrastructure failure: the trainer drops these samples
            log.exception("verifier %s failed on a batch of %d", self.verifier.name, len(valid))
            await context.abort(grpc.StatusCode.INTERNAL, f"verifier {self.verifier.name} failed: {type(e).__name__}: {e}")
        if len(verdicts) != len(valid):
            await context.abort(grpc.StatusCode.INTERNAL, f"verifier {self.verifier.name} returned {len(verdicts)} scores for {len(valid)} samples")
        for (i, _), verdict in zip(valid, verdicts):
            scores[i] = verdict
        log.info("scored batch=%d invalid=%d", n, n - len(valid))
        return pb.ScoreResponse(scores=[score_to_pb(s) for s in scores])

    async def Describe(self, request: pb.DescribeRequest, context: grpc.aio.ServicerContext) -> pb.VerifierInfo:
        v = self.verifier
        return pb.VerifierInfo(name=v.name, version=v.version, reference_schema_json=json.dumps(v.reference_schema), max_batch_size=v.max_batch_size)


def _decode(s: pb.Sample) -> Request | Score:
    """A Request, or an INVALID score naming the field to fix."""
    if not s.id:
        return Score(id="", reward=0.0, status=Status.INVALID, detail="sample.id is empty: give every sample an id")
    try:
        reference = json.loads(s.reference_json) if s.reference_json else None
    except json.JSONDecodeError as e:
        return Score(id=s.id, reward=0.0, status=Status.INVALID, detail=f"sample.reference is not valid JSON ({e}): send a JSON object")
    if not isinstance(reference, dict):
        return Score(id=s.id, reward=0.0, status=Status.INVALID, detail="sample.reference is missing or not a JSON object: send the verifier's reference object")
    prompt = s.prompt_text or "\n".join(m.content for m in s.prompt_messages)
    return Request(id=s.id, reference=reference, response=s.response, prompt=prompt)


def server_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]


async def run_server(
    name: str,
    register: Callable[[grpc.aio.Server], list[str]],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    max_concurrent_rpcs: int = DEFAULT_MAX_CONCURRENT_RPCS,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    grace_s: float = 5.0,
    stop: asyncio.Event | None = None,
    announce: Callable[[str], None] | None = None,
    tls: TLSFiles | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or ``stop`` is set). ``register`` adds the servicers and returns
    their full service names, which are reported SERVING by the health service. ``announce``
    receives "HOST:PORT" once bound (default: print the start line). ``tls`` serves TLS or mTLS
    instead of plaintext."""
    server = grpc.aio.server(maximum_concurrent_rpcs=max_concurrent_rpcs, options=server_options(max_message_bytes))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    services = register(server)
    try:
        address = f"{host}:{port}"
        bound = server.add_secure_port(address, tls.credentials()) if tls else server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise OSError(f"cannot bind {host}:{port}: the port is in use or the address is wrong")
    await server.start()
    for svc in ["", *services]:
        await health_servicer.set(svc, health_pb2.HealthCheckResponse.SERVING)
    stop = stop or asyncio.Event()
    if threading.current_thread() is threading.main_thread():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    address = f"{host}:{bound}"
    if announce is None:
        print(f"verity: {name} listening on {address}", flush=True)
    else:
        announce(address)
    log.info("serving name=%s address=%s tls=%s mtls=%s max_concurrent_rpcs=%d max_message_bytes=%d", name, address, tls is not None, bool(tls and tls.client_ca), max_concurrent_rpcs, max_message_bytes)
    try:
        await stop.wait()
    finally:
        await health_servicer.enter_graceful_shutdown()
        await server.stop(grace_s)
        log.info("stopped name=%s", name)


async def serve_verifier(verifier: Verifier, **kwargs) -> None:
    """Start the verifier's resources, then serve it with :func:`run_server`."""
    await verifier.start()

    def register(server: grpc.aio.Server) -> list[str]:
        pb_grpc.add_VerifierServicer_to_server(VerifierService(verifier), server)
        return [pb.DESCRIPTOR.services_by_name["Verifier"].full_name]

    try:
        await run_server(verifier.name, register, **kwargs)
    finally:
        await verifier.close()


def configure_logging(level: str = "INFO") -> None:
    """Structured key=value logs on stderr."""
    logging.basicConfig(stream=sys.stderr, level=level, format="time=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s")
