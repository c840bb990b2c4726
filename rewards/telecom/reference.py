"""The telecom grader's ``reference`` objects, checked before any grading.

- mcq: ``{"kind": "mcq", "options": [str, ...], "answer": 2}``: ``answer`` is 1-based, as a number,
  a letter ("B" names option 2), or TeleQnA's gold form "option 2: <text>" (the text must then be
  that option's).
- numeric: ``{"kind": "numeric", "answer": 23.5, "unit": "dB", "rel_tol": 0.01, "abs_tol": 0}``:
  ``unit`` "" (or absent) for a plain number such as a count; a response is right when
  ``|x - answer| <= max(rel_tol * |answer|, abs_tol)`` with x in the reference's unit.
- label: ``{"kind": "label", "answer": "C3", "labels": ["C1", "C2", "C3"]}``: ``labels`` (optional)
  is the closed set a response chooses from; ``answer`` must be one of them.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from rewards.telecom.units import Unit, find_unit

_GOLD = re.compile(r"\s*option\s*(\d+)\s*(?::\s*(.*))?", re.IGNORECASE | re.DOTALL)


class TelecomReferenceError(ValueError):
    """A reference the grader cannot use; the message names the field and the fix."""


class _Reference(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class McqReference(_Reference):
    kind: Literal["mcq"]
    options: list[str] = Field(min_length=2, max_length=26)
    answer: int | str

    @field_validator("options")
    @classmethod
    def _options_are_texts(cls, options: list[str]) -> list[str]:
        if any(not o.strip() for o in options):
            raise ValueError("every option needs a non-empty text")
        return options

    @model_validator(mode="after")
    def _answer_names_an_option(self) -> McqReference:
        self.index  # noqa: B018 (raises on an answer that names no option)
        return self

    @property
    def index(self) -> int:
        """The right option, 1-based."""
        n, answer = len(self.options), self.answer
        if isinstance(answer, str):
            text = answer.strip()
            gold = _GOLD.fullmatch(text)
            if len(text) == 1 and text.isalpha():
                answer = ord(text.upper()) - ord("A") + 1
            elif text.isdigit():
                answer = int(text)
            elif gold:
                answer = int(gold[1])
                if gold[2] and 1 <= answer <= n and _squash(gold[2]) != _squash(self.options[answer - 1]):
                    raise ValueError(f"'{text}' does not match option {answer}'s text '{self.options[answer - 1]}'")
            else:
                raise ValueError(f"'{text}' names no option: give 1..{n}, a letter, or 'option k: text'")
        if not 1 <= answer <= n:
            raise ValueError(f"{answer} is outside 1..{n} (answers are 1-based)")
        return answer


class NumericReference(_Reference):
    kind: Literal["numeric"]
    answer: float
    unit: str = ""
    rel_tol: float = Field(0.01, ge=0, le=1)
    abs_tol: float = Field(0.0, ge=0)

    @field_validator("answer")
    @classmethod
    def _finite(cls, answer: float) -> float:
        if not math.isfinite(answer):
            raise ValueError("must be a finite number")
        return answer

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        if unit.strip() and find_unit(unit.strip()) is None:
            raise ValueError(f"unknown unit '{unit}': use one of dB, linear, dBm, dBW, W, mW, Hz..GHz, s, ms, us, bit/s..Gbit/s, B/s..GB/s, dBm/Hz, m, km, or '' for a plain number")
        return unit.strip()

    @property
    def unit_spec(self) -> Unit | None:
        return find_unit(self.unit) if self.unit else None


class LabelReference(_Reference):
    kind: Literal["label"]
    answer: str = Field(min_length=1)
    labels: list[str] | None = None

    @model_validator(mode="after")
    def _answer_is_a_label(self) -> LabelReference:
        if self.labels is not None:
            folded = [label.strip().lower() for label in self.labels]
            if any(not f for f in folded) or len(set(folded)) != len(folded):
                raise ValueError("labels must be non-empty and distinct (case-insensitively)")
            if self.answer.strip().lower() not in folded:
                raise ValueError(f"answer '{self.answer}' is not one of the labels {self.labels}")
        return self


TelecomReference = Annotated[McqReference | NumericReference | LabelReference, Field(discriminator="kind")]
_ADAPTER: TypeAdapter[TelecomReference] = TypeAdapter(TelecomReference)


def parse_reference(reference: dict[str, Any]) -> McqReference | NumericReference | LabelReference:
    """Validate a sample's reference; raises TelecomReferenceError naming the field."""
    if not isinstance(reference.get("kind"), str) or reference["kind"] not in ("mcq", "numeric", "label"):
        raise TelecomReferenceError(f"reference.kind is {reference.get('kind')!r}: set it to 'mcq', 'numeric' or 'label'")
    try:
        return _ADAPTER.validate_python(reference)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"][1:]) or "(reference)"
        message = first["msg"].removeprefix("Value error, ")
        raise TelecomReferenceError(f"reference.{loc}: {message}") from None


def _squash(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")
