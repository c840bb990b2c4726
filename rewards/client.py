"""A gRPC client for one verifier (one or several replicas).

The call policy (deadline, retries of UNAVAILABLE and RESOURCE_EXHAUSTED on the next replica,
calls in flight) is
:class:`serving.client.Replicas`; big inputs are split into batches. A batch that still fails is
returned as ERROR scores (never as reward 0) so that the trainer can drop and count them.
"""

from __future__ import annotations

import asyncio

import grpc

from contract.schema import Sample, Score, Status, error_scores
from contract.v1 import verifier_pb2 as pb
from contract.v1 import verifier_pb2_grpc as pb_grpc
from contract.wire import sample_to_pb, score_from_pb
from serving.client import ClientOptions, Replicas, RpcFailed

RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)  # down, or at its concurrency bound
ENVELOPE_BYTES = 64 * 1024  # what a request holds besides its samples, with room to spare


def too_large(sample_id: str, wire_bytes: int, limit_bytes: int) -> Score:
    """The INVALID verdict on a sample that cannot fit one message."""
    mib = 1024 * 1024
    return Score(
        id=sample_id, reward=0.0, status=Status.INVALID,
        detail=f"the sample is {wire_bytes / mib:.1f} MiB on the wire, over the {limit_bytes / mib:g} MiB message limit: raise it on both sides (--max-message-mb of verity score and verity serve; rewards.max_message_mb)",
    )  # fmt: skip


class VerifierClient:
    """Scores samples on the replicas at ``addresses`` ("host:port" each)."""

    def __init__(self, addresses: list[str], options: ClientOptions | None = None):
        self.options = options or ClientOptions()
        self.replicas = Replicas(addresses, self.options, pb_grpc.VerifierStub, retryable=RETRYABLE)
        self.addresses = self.replicas.addresses
        #: batches that ended as ERROR (for metrics)
        self.failed_batches = 0

    @property
    def retried(self) -> int:
        """Calls retried after UNAVAILABLE or RESOURCE_EXHAUSTED (for metrics)."""
        return self.replicas.retried

    async def score(self, samples: list[Sample]) -> list[Score]:
        """One score per sample, in order. Batches hold up to ``batch_size`` samples and stay under
        the message limit, so no sample's size costs another; a sample too large to send on its
        own is INVALID, saying its size and the limit."""
        results: list[Score | None] = [None] * len(samples)
        batches: list[list[int]] = []
        size = budget = 0
        budget_max = self.options.max_message_bytes - ENVELOPE_BYTES
        for i, sample in enumerate(samples):
            wire = sample_to_pb(sample).ByteSize() + 8  # the field's tag and length
            if wire > budget_max:
                results[i] = too_large(sample.id, wire, self.options.max_message_bytes)
                continue
            if not batches or size == self.options.batch_size or budget + wire > budget_max:
                batches.append([])
                size = budget = 0
            batches[-1].append(i)
            size, budget = size + 1, budget + wire
        scored = await asyncio.gather(*(self._score_batch([samples[i] for i in batch]) for batch in batches))
        for batch, scores in zip(batches, scored):
            for i, score in zip(batch, scores):
                results[i] = score
        return results  # type: ignore[return-value]

    async def describe(self) -> pb.VerifierInfo:
        return await self.replicas.next_stub().Describe(pb.DescribeRequest(), timeout=self.options.deadline_s, metadata=self.options.metadata)

    async def _score_batch(self, batch: list[Sample]) -> list[Score]:
        ids = [s.id for s in batch]
        try:
            response = await self.replicas.call("Score", pb.ScoreRequest(samples=[sample_to_pb(s) for s in batch]))
        except RpcFailed as e:
            self.failed_batches += 1
            return error_scores(ids, Status.ERROR, str(e))
        scores = [score_from_pb(s) for s in response.scores]
        if len(scores) != len(batch):
            self.failed_batches += 1
            return error_scores(ids, Status.ERROR, f"a verifier returned {len(scores)} scores for {len(batch)} samples")
        return scores

    async def close(self) -> None:
        await self.replicas.close()
