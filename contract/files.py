"""Read sample files: JSONL line by line (each bad line a precise error instead of a crash) and
Parquet row by row; report the rows skipped."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger("verity.data")
T = TypeVar("T")


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


def read_parquet(path: str | Path) -> list[dict[str, Any]]:
    """Every row of a Parquet file as a plain dict (prompt messages as lists, not arrays)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise DataFileError(f"{path}: not a readable Parquet file ({e})") from None
    rows = table.to_pylist()
    for row in rows:  # Parquet stores prompt messages as arrays of structs: make them plain lists
        if hasattr(row.get("prompt"), "tolist"):
            row["prompt"] = row["prompt"].tolist()
    return rows


def kept(path: Path, samples: list[T], errors: list[str]) -> list[T]:
    """``samples`` (the usable rows of ``path``), after logging the bad rows skipped (``errors``,
    each naming file, line and field); a file with no usable row is a DataFileError."""
    for message in errors[:20]:
        log.warning("skipped a bad row: %s", message)
    if len(errors) > 20:
        log.warning("... and %d more bad rows in %s", len(errors) - 20, path)
    if not samples:
        first = f": first error: {errors[0]}" if errors else ""
        raise DataFileError(f"{path}: no usable sample ({len(errors)} bad rows){first}")
    return samples
