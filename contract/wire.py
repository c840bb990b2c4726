"""Conversions between the Python records of contract.schema and the protobuf messages of verity.v1."""

from __future__ import annotations

import json

from contract.schema import Sample, Score, Status
from contract.v1 import verifier_pb2 as pb

_STATUS_TO_PB = {s: getattr(pb, f"STATUS_{s.value}") for s in Status}
_PB_TO_STATUS = {v: k for k, v in _STATUS_TO_PB.items()}


def sample_to_pb(sample: Sample) -> pb.Sample:
    msg = pb.Sample(id=sample.id, verifier=sample.verifier, reference_json=json.dumps(sample.reference), response=sample.response or "")
    if isinstance(sample.prompt, str):
        msg.prompt_text = sample.prompt
    else:
        msg.prompt_messages.extend(pb.Message(role=m.role, content=m.content) for m in sample.prompt)
    return msg


def score_to_pb(score: Score) -> pb.Score:
    return pb.Score(id=score.id, reward=score.reward, status=_STATUS_TO_PB[score.status], detail=score.detail, components=score.components)


def score_from_pb(msg: pb.Score) -> Score:
    status = _PB_TO_STATUS.get(msg.status, Status.ERROR)
    detail = msg.detail if msg.status in _PB_TO_STATUS else f"verifier returned status {msg.status}: {msg.detail}"
    return Score(id=msg.id, reward=msg.reward, status=status, detail=detail, components=dict(msg.components))
