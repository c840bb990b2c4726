"""What every verity gRPC server does, whatever it serves.

grpc.aio, ``grpc.health.v1`` health checking, a bounded number of concurrent calls (a call past
the bound is answered RESOURCE_EXHAUSTED at once, never queued; health checks are not counted, so
a busy service still reports SERVING), explicit message-size limits in both directions, no
SO_REUSEPORT (a second server on a used port fails instead of silently sharing it), an optional
shared token (:mod:`serving.auth`), and a graceful shutdown on SIGTERM/SIGINT (health turns
NOT_SERVING, in-flight calls get ``grace_s`` to finish). On start it prints one line
``verity: <name> listening on HOST:PORT`` to stdout, which is how a parent process learns a port
chosen by the OS (``--port 0``); bound beyond loopback, it also says on stderr who may call.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from serving.auth import OPEN_PREFIXES, TokenAuth, is_loopback
from serving.tls import TLSFiles

log = logging.getLogger("verity.server")

DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_CONCURRENT_RPCS = 64
HEALTH_HEADROOM = 16  # concurrent RPCs beyond the bound, for health checks only


class ConcurrencyBound(grpc.aio.ServerInterceptor):
    """At most ``limit`` service calls at once; the next is refused RESOURCE_EXHAUSTED at once.
    Health checks pass uncounted. (gRPC's own maximum_concurrent_rpcs counts them too, so a
    saturated service would fail its health checks and be taken for dead.)"""

    def __init__(self, limit: int):
        self.limit = limit
        self.active = 0

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None or details.method.startswith(OPEN_PREFIXES):
            return handler
        inner = handler.unary_unary

        async def bounded(request, context: grpc.aio.ServicerContext):
            if self.active >= self.limit:
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{self.limit} calls in flight, this service's bound (--max-concurrent-rpcs): retry later, or add a replica")
            self.active += 1
            try:
                return await inner(request, context)
            finally:
                self.active -= 1

        return handler._replace(unary_unary=bounded)


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
    auth_token: str | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or ``stop`` is set). ``register`` adds the servicers and returns
    their full service names, which are reported SERVING by the health service. ``announce``
    receives "HOST:PORT" once bound (default: print the start line). ``tls`` serves TLS or mTLS
    instead of plaintext; ``auth_token`` refuses calls without it (health checks stay open)."""
    interceptors = [TokenAuth(auth_token)] if auth_token else []
    interceptors.append(ConcurrencyBound(max_concurrent_rpcs))
    server = grpc.aio.server(maximum_concurrent_rpcs=max_concurrent_rpcs + HEALTH_HEADROOM, options=server_options(max_message_bytes), interceptors=interceptors)
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
    if not is_loopback(host):
        print(f"verity: {name} on {address} is reachable from other machines: {who_may_call(tls, auth_token)}", file=sys.stderr, flush=True)
    log.info("serving name=%s address=%s tls=%s mtls=%s token=%s max_concurrent_rpcs=%d max_message_bytes=%d", name, address, tls is not None, bool(tls and tls.client_ca), bool(auth_token), max_concurrent_rpcs, max_message_bytes)
    try:
        await stop.wait()
    finally:
        await health_servicer.enter_graceful_shutdown()
        await server.stop(grace_s)
        log.info("stopped name=%s", name)


def who_may_call(tls: TLSFiles | None, auth_token: str | None) -> str:
    """Who may call a server with these settings, in words."""
    if tls and tls.client_ca and auth_token:
        return "only callers with a client certificate from its CA and its token"
    if tls and tls.client_ca:
        return "only callers with a client certificate from its CA (mTLS)"
    if auth_token:
        return "only callers sending its token" + ("" if tls else " (in plaintext: add --tls-cert/--tls-key off a private network)")
    return "anyone who reaches it may call it; add --auth-token-file or --tls-client-ca, or bind 127.0.0.1"


def configure_logging(level: str = "INFO") -> None:
    """Structured key=value logs on stderr."""
    logging.basicConfig(stream=sys.stderr, level=level, format="time=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s")
