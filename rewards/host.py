"""A gRPC host that turns any :class:`~rewards.verifier.Verifier` into a ``verity.v1.Verifier`` service.

The server itself (health, limits, TLS, graceful shutdown) is :func:`serving.server.run_server`;
this module decodes samples, lets the verifier score them and encodes the verdicts. On shutdown the
verifier's resources close after the server stopped.
"""

from __future__ import annotations

import json
import logging

import grpc

from contract.schema import Score, Status
from contract.v1 import verifier_pb2 as pb
from contract.v1 import verifier_pb2_grpc as pb_grpc
from contract.wire import score_to_pb
from rewards.verifier import Request, Verifier
from serving.server import run_server

log = logging.getLogger("verity.host")


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
