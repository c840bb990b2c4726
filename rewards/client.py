"""A gRPC client for one verifier (one or several replicas).

Every call carries a deadline; only UNAVAILABLE is retried, with full-jitter exponential backoff, on
the next replica in round-robin order; at most ``max_in_flight`` calls are outstanding at once; big
inputs are split into batches. A batch that still fails is returned as ERROR scores (never as
reward 0) so that the trainer can drop and count them.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass

import grpc

from rewards.schema import Sample, Score, Status, error_scores
from rewards.tls import channel_credentials
from rewards.wire import sample_to_pb, score_from_pb
from verity.v1 import verifier_pb2 as pb
from verity.v1 import verifier_pb2_grpc as pb_grpc


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

    def channel(self, address: str) -> grpc.aio.Channel:
        options = [("grpc.max_send_message_length", self.max_message_bytes), ("grpc.max_receive_message_length", self.max_message_bytes)]
        if self.tls_ca is None:
            return grpc.aio.insecure_channel(address, options=options)
        return grpc.aio.secure_channel(address, channel_credentials(self.tls_ca, self.tls_cert, self.tls_key), options=options)


class VerifierClient:
    """Scores samples on the replicas at ``addresses`` ("host:port" each)."""

    def __init__(self, addresses: list[str], options: ClientOptions | None = None):
        if not addresses:
            raise ValueError("VerifierClient needs at least one address 'host:port'")
        self.addresses = list(addresses)
        self.options = options or ClientOptions()
        self._channels = [self.options.channel(a) for a in self.addresses]
        self._stubs = [pb_grpc.VerifierStub(c) for c in self._channels]
        self._next = itertools.cycle(range(len(self._stubs)))
        self._in_flight = asyncio.Semaphore(self.options.max_in_flight)
        #: calls retried after UNAVAILABLE, and batches that ended as ERROR (for metrics)
        self.retried = 0
        self.failed_batches = 0

    async def score(self, samples: list[Sample]) -> list[Score]:
        """One score per sample, in order."""
        size = self.options.batch_size
        batches = [samples[i : i + size] for i in range(0, len(samples), size)]
        results = await asyncio.gather(*(self._score_batch(b) for b in batches))
        return [s for batch in results for s in batch]

    async def describe(self) -> pb.VerifierInfo:
        index = next(self._next)
        return await self._stubs[index].Describe(pb.DescribeRequest(), timeout=self.options.deadline_s)

    async def _score_batch(self, batch: list[Sample]) -> list[Score]:
        ids = [s.id for s in batch]
        request = pb.ScoreRequest(samples=[sample_to_pb(s) for s in batch])
        opts = self.options
        for attempt in range(opts.retries + 1):
            index = next(self._next)
            try:
                async with self._in_flight:
                    response = await self._stubs[index].Score(request, timeout=opts.deadline_s)
            except grpc.aio.AioRpcError as e:
                if e.code() == grpc.StatusCode.UNAVAILABLE and attempt < opts.retries:
                    self.retried += 1
                    await asyncio.sleep(random.uniform(0, min(opts.backoff_max_s, opts.backoff_s * 2**attempt)))
                    continue
                self.failed_batches += 1
                tries = f" after {attempt + 1} attempts" if attempt else ""
                return error_scores(ids, Status.ERROR, f"{self.addresses[index]}: {e.code().name}{tries}: {e.details()}")
            scores = [score_from_pb(s) for s in response.scores]
            if len(scores) != len(batch):
                self.failed_batches += 1
                return error_scores(ids, Status.ERROR, f"{self.addresses[index]} returned {len(scores)} scores for {len(batch)} samples")
            return scores
        raise AssertionError("unreachable: the loop returns on its last attempt")

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._channels))
