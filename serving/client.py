"""The client side of every verity service: call options, channels, replicas and retries.

Every call carries a deadline; only the retryable codes (UNAVAILABLE by default) are retried, with
full-jitter exponential backoff, on the next replica in round-robin order; at most
``max_in_flight`` calls are outstanding at once. Verifier clients and the code verifier's sandbox
client are both built on :class:`Replicas`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from dataclasses import dataclass, field

import grpc

from serving.auth import call_metadata
from serving.tls import channel_credentials

log = logging.getLogger("verity.client")


@dataclass(frozen=True)
class ClientOptions:
    """Call policy shared by all endpoints of a client."""

    deadline_s: float = 60.0  # per Score call, in seconds
    retries: int = 4  # extra attempts after an UNAVAILABLE answer
    backoff_s: float = 0.2  # first backoff ceiling; doubles per attempt (full jitter)
    backoff_max_s: float = 5.0
    max_in_flight: int = 8  # concurrent calls per client
    batch_size: int = 256  # samples per Score call
    max_message_bytes: int = 32 * 1024 * 1024
    tls_ca: str | None = None  # PEM of the CA that signed the servers' certificates: turns TLS on
    tls_cert: str | None = None  # client certificate and key (PEM), for servers that require mTLS
    tls_key: str | None = None
    auth_token: str | None = field(default=None, repr=False)  # sent as 'authorization: Bearer <token>' on every call

    @property
    def metadata(self) -> tuple[tuple[str, str], ...] | None:
        """The metadata every call carries (the token, when there is one)."""
        return call_metadata(self.auth_token)

    def channel(self, address: str) -> grpc.aio.Channel:
        """One channel to ``address``. A DNS name that resolves to several replicas (a scaled
        compose service) is balanced round-robin across them; a replica that went away is
        reconnected to (and its name resolved again) within about a second of coming back."""
        options = [
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.lb_policy_name", "round_robin"),
            ("grpc.dns_min_time_between_resolutions_ms", 1000),
            ("grpc.initial_reconnect_backoff_ms", 250),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        if self.tls_ca is None:
            return grpc.aio.insecure_channel(address, options=options)
        return grpc.aio.secure_channel(address, channel_credentials(self.tls_ca, self.tls_cert, self.tls_key), options=options)


class RpcFailed(Exception):
    """A call that failed for good (not retryable, or out of retries)."""

    def __init__(self, address: str, error: grpc.aio.AioRpcError, attempts: int):
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{address}: {error.code().name}{tries}: {error.details()}")
        self.code = error.code()


class Replicas:
    """Channels to the replicas of one service, used round-robin, with the retry policy of
    :class:`ClientOptions`: only the ``retryable`` codes are retried, on the next replica, after a
    full-jitter exponential backoff; at most ``max_in_flight`` calls are outstanding."""

    def __init__(self, addresses: list[str], options: ClientOptions, stub_type, retryable: tuple[grpc.StatusCode, ...] = (grpc.StatusCode.UNAVAILABLE,)):
        if not addresses:
            raise ValueError("a client needs at least one address 'host:port'")
        self.addresses = list(addresses)
        self.options = options
        self.retryable = retryable
        self._channels = [options.channel(a) for a in self.addresses]
        self.stubs = [stub_type(c) for c in self._channels]
        self._next = itertools.cycle(range(len(self.stubs)))
        self._in_flight = asyncio.Semaphore(options.max_in_flight)
        self.retried = 0  # calls retried after a retryable answer

    def next_stub(self):
        return self.stubs[next(self._next)]

    async def call(self, method: str, request, timeout_s: float | None = None):
        """``stub.<method>(request)`` with the deadline and retry policy; raises RpcFailed."""
        opts = self.options
        for attempt in range(opts.retries + 1):
            index = next(self._next)
            try:
                async with self._in_flight:
                    return await getattr(self.stubs[index], method)(request, timeout=timeout_s or opts.deadline_s, metadata=opts.metadata)
            except grpc.aio.AioRpcError as e:
                if e.code() in self.retryable and attempt < opts.retries:
                    self.retried += 1
                    delay = random.uniform(0, min(opts.backoff_max_s, opts.backoff_s * 2**attempt))
                    log.warning("%s answered %s: retry %d of %d in %.1f s", self.addresses[index], e.code().name, attempt + 1, opts.retries, delay)
                    await asyncio.sleep(delay)
                    continue
                raise RpcFailed(self.addresses[index], e, attempt + 1) from None
        raise AssertionError("unreachable: the loop returns or raises on its last attempt")

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._channels))
