"""The telecom grader: mcq, numeric (with units) and label answers, each verdict with its reasons.

Grading is string work on the answer spans only (no model, no eval), a fraction of a millisecond
per sample, so a batch is graded in one worker thread beside the server's event loop. A malformed
reference is INVALID with the field named; every other sample gets OK (reward 1) or WRONG (0).
"""

from __future__ import annotations

import asyncio

from contract.schema import Score, Status
from rewards.telecom.grade import Verdict, grade_label, grade_mcq, grade_numeric
from rewards.telecom.reference import LabelReference, McqReference, NumericReference, TelecomReferenceError, parse_reference
from rewards.verifier import Request, Verifier

GRADERS = {McqReference: grade_mcq, NumericReference: grade_numeric, LabelReference: grade_label}


def grade(request: Request) -> Score:
    """The verdict on one sample."""
    try:
        reference = parse_reference(request.reference)
    except TelecomReferenceError as e:
        return Score(id=request.id, reward=0.0, status=Status.INVALID, detail=str(e))
    verdict: Verdict = GRADERS[type(reference)](reference, request.response)
    return Score(id=request.id, reward=float(verdict.ok), status=Status.OK if verdict.ok else Status.WRONG, detail=verdict.detail)


class TelecomVerifier(Verifier):
    name = "telecom"
    version = "1"
    reference_schema = {"oneOf": [McqReference.model_json_schema(), NumericReference.model_json_schema(), LabelReference.model_json_schema()]}

    async def score(self, requests: list[Request]) -> list[Score]:
        return await asyncio.to_thread(lambda: [grade(r) for r in requests])
