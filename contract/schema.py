"""The sample and score shapes shared by datasets, the CLI and every verifier (docs/schema.md).

A sample is one JSON object: ``{"id", "verifier", "prompt", "reference", "response"}``. A score is
``{"id", "reward", "status", "detail", "components"}``. :class:`Sample` validates a row and names the
offending field on error; :class:`Score` is a plain record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Status(str, Enum):
    """How a sample was judged. OK/WRONG are verdicts; the other three say why there is none."""

    OK = "OK"
    WRONG = "WRONG"
    TIMEOUT = "TIMEOUT"  # the sample's own fault: checking it ran past its deadline
    INVALID = "INVALID"  # a malformed sample or reference
    ERROR = "ERROR"  # infrastructure: dropped and counted by the trainer, never scored 0


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str
    content: str


class Sample(BaseModel):
    """One dataset row or scoring request."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, description="Unique id, echoed in the score.")
    verifier: str = Field(default="math", min_length=1, description="Routing key: math | code | telecom | any configured name.")
    prompt: str | list[ChatMessage] = Field(default="", description="Plain text or chat messages.")
    reference: dict[str, Any] = Field(description="Verifier-specific ground truth, e.g. {'answer': '\\\\frac{1}{2}'} for math.")
    response: str | None = Field(default=None, description="The model output to score; absent in a training dataset.")


class SampleError(ValueError):
    """A row that does not fit the sample schema; the message names the field and the fix."""


def parse_sample(row: Any, where: str) -> Sample:
    """Validate one decoded JSON row; ``where`` (e.g. ``data.jsonl:12``) prefixes the error."""
    if not isinstance(row, dict):
        raise SampleError(f"{where}: expected a JSON object, got {type(row).__name__}")
    try:
        return Sample.model_validate(row)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(row)"
        hint = "add it" if first["type"] == "missing" else "fix its value"
        raise SampleError(f"{where}: field '{loc}': {first['msg']} ({hint}; schema: id, verifier, prompt, reference, response)") from None


@dataclass
class Score:
    """The verdict on one sample. ``reward`` is in [0, 1]."""

    id: str
    reward: float
    status: Status
    detail: str = ""
    components: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        return d


def error_scores(ids: list[str], status: Status, detail: str) -> list[Score]:
    """The same reward-0 verdict for each id (used when a whole batch fails)."""
    return [Score(id=i, reward=0.0, status=status, detail=detail) for i in ids]
