"""Shared by the verifier benchmarks: time one batched scoring pass over gRPC."""

from __future__ import annotations

import time

from contract.schema import Sample
from rewards.client import VerifierClient
from serving.client import ClientOptions


async def score_over_grpc(address: str, samples: list[Sample], batch: int) -> tuple[float, int]:
    """(seconds, number OK) for scoring ``samples`` in batches of ``batch``, after a warm-up call."""
    client = VerifierClient([address], ClientOptions(batch_size=batch, max_in_flight=8, deadline_s=600))
    try:
        await client.score(samples[:64])  # connect; warm the workers
        start = time.perf_counter()
        scores = await client.score(samples)
        return time.perf_counter() - start, sum(s.status.value == "OK" for s in scores)
    finally:
        await client.close()
