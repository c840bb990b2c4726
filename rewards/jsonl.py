"""Read JSONL files line by line, turning each bad line into a precise error instead of a crash."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class DataFileError(ValueError):
    """A file that cannot be read at all (missing, empty)."""


@dataclass(frozen=True)
class Line:
    """One non-blank line: ``row`` is the decoded object, or ``error`` says why it could not be."""

    where: str  # "file.jsonl:12"
    row: Any = None
    error: str | None = None


def read_jsonl(path: str | Path) -> Iterator[Line]:
    """Yield every non-blank line of ``path``; raise DataFileError if it is missing or empty."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataFileError(f"{path}: the file is empty: expected one JSON object per line")
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            where = f"{path}:{number}"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield Line(where, error=f"{where}: not UTF-8 (byte {e.start}): save the file as UTF-8")
                continue
            if not text.strip():
                continue
            try:
                yield Line(where, row=json.loads(text))
            except json.JSONDecodeError as e:
                yield Line(where, error=f"{where}: not valid JSON ({e.msg} at column {e.colno})")
