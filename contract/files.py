"""Read sample files: JSONL line by line (each bad line a precise error instead of a crash), a JSON
array element by element, and Parquet row by row (verl-style Parquet mapped to the sample schema);
report the rows skipped. ``verity train``, ``verity eval`` and ``verity score`` read through here."""

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


FORMATS = ("jsonl", "json", "parquet")
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}


def file_format(path: Path, given: str | None = None) -> str:
    """``given``, else what the file holds: Parquet by its magic bytes, a JSON array by its first
    character, else by its extension (JSON lines by default)."""
    if given:
        if given not in FORMATS:
            raise DataFileError(f"--format {given}: unknown: choose one of {', '.join(FORMATS)}")
        return given
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.lstrip()[:1] == b"[":
        return "json"
    return SUFFIXES.get(path.suffix.lower(), "jsonl")


def read_json_array(path: Path) -> Iterator[Line]:
    """Every element of a file holding one JSON array."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DataFileError(f"{path}: not UTF-8 (byte {e.start}): save the file as UTF-8") from None
    except json.JSONDecodeError as e:
        raise DataFileError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    if not isinstance(data, list):
        raise DataFileError(f"{path}: expected a JSON array of samples, got a JSON {type(data).__name__}: wrap the samples in [...] or write one per line (.jsonl)")
    for i, row in enumerate(data):
        yield Line(f"{path}:[{i}]", row=row)


def from_verl(row: dict[str, Any], index: int, verifier: str) -> dict[str, Any]:
    """A verl-style row (``data_source``, ``prompt``, ``reward_model.ground_truth``) in the sample
    schema: ``reference = {"answer": ground_truth}``, ``verifier`` given; its other columns stay
    as fields beyond the schema."""
    reward_model = row.get("reward_model") or {}
    extra = row.get("extra_info") or {}
    truth = reward_model.get("ground_truth") if isinstance(reward_model, dict) else None
    out: dict[str, Any] = {k: v for k, v in row.items() if k not in ("reward_model", "prompt")}
    out.update(id=f"{row.get('data_source', 'verl')}-{extra.get('index', index) if isinstance(extra, dict) else index}", verifier=verifier, prompt=row.get("prompt"))
    if truth is not None:
        out["reference"] = {"answer": truth if isinstance(truth, str) else json.dumps(truth)}
    return out


def read_rows(path: str | Path, fmt: str | None = None, verl_verifier: str | None = "math") -> Iterator[Line]:
    """Every row of a sample file in ``fmt`` (default: :func:`file_format`), each with where it is;
    verl-style Parquet rows mapped with ``verl_verifier`` (None: rows as they are)."""
    path = Path(path)
    fmt = file_format(path, fmt)
    if fmt == "jsonl":
        yield from read_jsonl(path)
    elif fmt == "json":
        yield from read_json_array(path)
    else:
        rows = read_parquet(path)
        verl = verl_verifier is not None and bool(rows) and "reward_model" in rows[0] and "reference" not in rows[0]
        for i, row in enumerate(rows):
            yield Line(f"{path}:row {i}", row=from_verl(row, i, verl_verifier) if verl else row)


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
