"""The sample and score shapes shared by datasets, the CLI and every verifier (docs/schema.md).

A sample is one JSON object: ``{"id", "verifier", "prompt", "reference", "response"}``. A score is
``{"id", "reward", "status", "detail", "components"}``. :class:`Sample` validates a row and names the
offending field on error; :class:`Score` is a plain record.
"""

from __future__ import annotations

import difflib
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
    """One dataset row or scoring request. Fields beyond these are ignored here (an export's
    ``model``, ``data_source``, ``extra_info``...); ``verity score`` copies them to its output."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, description="Unique id, echoed in the score.")
    verifier: str = Field(default="math", min_length=1, description="Routing key: math | code | telecom | any configured name.")
    prompt: str | list[ChatMessage] = Field(default="", description="Plain text or chat messages.")
    reference: dict[str, Any] = Field(description="Verifier-specific ground truth, e.g. {'answer': '\\\\frac{1}{2}'} for math.")
    response: str | None = Field(default=None, description="The model output to score; absent in a training dataset.")


FIELDS = tuple(Sample.model_fields)
MISSPELLING = 0.85  # difflib ratio above which an unknown field standing in for a missing one is taken as its misspelling


class SampleError(ValueError):
    """A row that does not fit the sample schema; the message names the field and the fix."""


def misspelled(row: dict[str, Any]) -> list[tuple[str, str]]:
    """(unknown field, the schema field it misspells) for each schema field the row lacks while
    holding a field spelled nearly like it ("refrence" for "reference"). Other extra fields are fine."""
    extra = [k for k in row if k not in FIELDS]
    pairs = []
    for known in FIELDS:
        if known not in row:
            close = difflib.get_close_matches(known, extra, n=1, cutoff=MISSPELLING)
            if close:
                pairs.append((close[0], known))
    return pairs


def extra_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The row's fields beyond the schema, as they are."""
    return {k: v for k, v in row.items() if k not in FIELDS}


def parse_sample(row: Any, where: str) -> Sample:
    """Validate one decoded row; ``where`` (e.g. ``data.jsonl:12``) prefixes the error, which names
    every offending field at once."""
    if not isinstance(row, dict):
        hint = ": the file holds a JSON array on one line; give it a .json name or --format json" if isinstance(row, list) else ""
        raise SampleError(f"{where}: expected a JSON object, got {type(row).__name__}{hint}")
    wrong = misspelled(row)
    if wrong:
        raise SampleError(f"{where}: " + "; ".join(f"field '{bad}' is not in the schema: did you mean '{known}'? (rename it)" for bad, known in wrong))
    try:
        return Sample.model_validate(row)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(row)"
            fix = "add it" if err["type"] == "missing" else f"got {_shown(err.get('input'))}"
            problems.append(f"field '{loc}': {err['msg']} ({fix})")
        raise SampleError(f"{where}: {'; '.join(problems)} (schema: {', '.join(FIELDS)}; docs/schema.md)") from None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
