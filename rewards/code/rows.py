"""What every dataset row mapper shares: the answer instruction, the error, field access."""

from __future__ import annotations

from typing import Any

INSTRUCTION = "Answer with one ```python code block holding the whole function."


class DatasetRowError(ValueError):
    """A dataset row that cannot be mapped; the message names the field."""


def text_field(row: dict[str, Any], key: str, fmt: str) -> str:
    """``row[key]``, which must be a non-empty string."""
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DatasetRowError(f"field '{key}' must be a non-empty string in a {fmt} row (got {type(value).__name__})")
    return value


def mapped_sample(row: dict[str, Any], keys: tuple[str, ...], **mapped: Any) -> dict[str, Any]:
    """The mapped sample (a code sample), with the row's fields that the mapping did not use
    (``keys``) kept beside it."""
    return {**{k: v for k, v in row.items() if k not in keys}, "verifier": "code", **mapped}
