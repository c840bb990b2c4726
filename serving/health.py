"""A small grpc.health.v1 client: the compose stack's health checks and the local services' start-up wait."""

from __future__ import annotations

import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def health_status(address: str, service: str = "", timeout_s: float = 2.0) -> str:
    """The status ``address`` reports for ``service`` ("" = the whole server): SERVING,
    NOT_SERVING, ..., or UNREACHABLE when no answer came within ``timeout_s`` seconds."""
    with grpc.insecure_channel(address) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as e:
            return "UNREACHABLE" if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) else e.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def wait_healthy(address: str, timeout_s: float = 60.0) -> None:
    """Block until the server at ``address`` reports SERVING, or raise TimeoutError."""
    deadline = time.monotonic() + timeout_s
    while health_status(address) != "SERVING":
        if time.monotonic() > deadline:
            raise TimeoutError(f"service at {address} not healthy after {timeout_s:g}s")
        time.sleep(0.1)
