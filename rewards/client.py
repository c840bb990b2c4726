"""A gRPC client for one verifier (one or several replicas).

The call policy (deadline, retries of UNAVAILABLE on the next replica, calls in flight) is
:class:`serving.client.Replicas`; big inputs are split into batches. A batch that still fails is
returned as ERROR scores (never as reward 0) so that the trainer can drop and count them.
"""

from __future__ import annotations

import asyncio

from contract.schema import Sample, Score, Status, error_scores
from contract.v1 import verifier_pb2 as pb
from contract.v1 import verifier_pb2_grpc as pb_grpc
from contract.wire import sample_to_pb, score_from_pb
from serving.client import ClientOptions, Replicas, RpcFailed


class VerifierClient:
    """Scores samples on the replicas at ``addresses`` ("host:port" each)."""

    def __init__(self, addresses: list[str], options: ClientOptions | None = None):
        self.options = options or ClientOptions()
        self.replicas = Replicas(addresses, self.options, pb_grpc.VerifierStub)
        self.addresses = self.replicas.addresses
        #: batches that ended as ERROR (for metrics)
        self.failed_batches = 0

    @property
    def retried(self) -> int:
        """Calls retried after UNAVAILABLE (for metrics)."""
        return self.replicas.retried

    async def score(self, samples: list[Sample]) -> list[Score]:
        """One score per sample, in order."""
        size = self.options.batch_size
        batches = [samples[i : i + size] for i in range(0, len(samples), size)]
        results = await asyncio.gather(*(self._score_batch(b) for b in batches))
        return [s for batch in results for s in batch]

    async def describe(self) -> pb.VerifierInfo:
        return await self.replicas.next_stub().Describe(pb.DescribeRequest(), timeout=self.options.deadline_s)

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
