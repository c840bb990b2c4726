"""``verity score``: score a file of samples with responses (JSONL, a JSON array or Parquet, the
readers of ``verity train``), writing one line per input row; a summary and an exit code that tells
a pipeline what happened."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from contract.files import DataFileError, read_rows
from contract.schema import Sample, SampleError, Score, Status, extra_fields, parse_sample
from rewards.builtin import BUILTIN_VERIFIERS
from rewards.code.datasets import ROW_FORMATS
from rewards.router import Router
from serving.client import ClientOptions
from serving.local import LocalServices

CHUNK = 2048  # samples per progress update


class OutputError(ValueError):
    """An output path that cannot be written; found before any scoring."""


def check_output(path: Path) -> None:
    """Refuse an output path that could not be written, before any scoring starts."""
    if path.is_dir():
        raise OutputError(f"--output {path}: is a folder: give a file path, e.g. {path / 'scores.jsonl'}")
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(f"--output {path}: the folder {parent} does not exist: create it (mkdir -p {parent}) or write elsewhere")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"--output {path}: not writable: choose a path you can write")


def load_for_scoring(path: Path, fmt: str | None = None) -> tuple[list[Sample | Score], list[dict]]:
    """Each row becomes a Sample, or an INVALID score that says what is wrong with it; beside
    each, the row's fields beyond the schema (copied to the output as they are). ``fmt``: a file
    encoding (jsonl, json, parquet; default: what the file holds) or a dataset's own row format
    (``ROW_FORMATS``: its rows mapped into the schema first)."""
    items: list[Sample | Score] = []
    extras: list[dict] = []
    mapper = ROW_FORMATS.get(fmt or "")
    for index, line in enumerate(read_rows(path, None if mapper else fmt, verl_verifier=None if mapper else "math")):
        if mapper is not None and isinstance(line.row, dict):
            try:
                line = replace(line, row=mapper(line.row, index))
            except ValueError as e:  # a DatasetRowError, or a field's JSON that does not parse
                line = replace(line, error=f"{line.where}: {e}")
        row = line.row if isinstance(line.row, dict) else {}
        extras.append(extra_fields(row))
        ident = row["id"] if isinstance(row.get("id"), str) else line.where
        if line.error:
            items.append(Score(id=ident, reward=0.0, status=Status.INVALID, detail=line.error))
            continue
        try:
            sample = parse_sample(line.row, line.where)
        except SampleError as e:
            items.append(Score(id=ident, reward=0.0, status=Status.INVALID, detail=str(e)))
            continue
        if sample.response is None:
            items.append(Score(id=sample.id, reward=0.0, status=Status.INVALID, detail=f"{line.where}: field 'response' is missing: scoring needs the model output"))
            continue
        items.append(sample)
    if not items:
        raise DataFileError(f"{path}: no rows: expected samples with a 'response' each (docs/schema.md)")
    return items, extras


async def _score_all(router: Router, samples: list[Sample], progress: Progress | None) -> list[Score]:
    task = progress.add_task("scoring", total=len(samples)) if progress else None
    scores: list[Score] = []
    try:
        for start in range(0, len(samples), CHUNK):
            chunk = samples[start : start + CHUNK]
            scores.extend(await router.score(chunk))
            if progress:
                progress.advance(task, len(chunk))
    finally:
        await router.close()
    return scores


def score_file(input_path: Path, output_path: Path, endpoints: dict[str, list[str]] | None, options: ClientOptions | None = None, workers: int | None = None, deadline_s: float = 1.0, show_progress: bool = True, fmt: str | None = None, service_args: dict[str, list[str]] | None = None, auth_token_file: str | None = None) -> Counter:
    """Score ``input_path`` into ``output_path`` (one line per row, in order: the row's fields
    beyond the schema, then its score); return the count of each status.

    With ``endpoints`` None, the built-in services the samples name are started locally (plaintext
    on loopback, so ``options``' TLS settings apply only to given endpoints; they take ``options``'
    message limit, ``service_args``: further ``verity serve`` arguments by service name, and
    require the token of ``auth_token_file``, which ``options.auth_token`` then holds)."""
    options = options or ClientOptions()
    check_output(output_path)
    items, extras = load_for_scoring(input_path, fmt)
    samples = [it for it in items if isinstance(it, Sample)]
    local = None
    if endpoints is None:
        names = {s.verifier for s in samples} & set(BUILTIN_VERIFIERS)
        local = LocalServices(names, workers=workers, deadline_s=deadline_s, max_message_mb=options.max_message_bytes // 2**20, service_args=service_args, auth_token_file=auth_token_file)
    with local if local else nullcontext(endpoints) as eps:
        router = Router(eps, options if endpoints is not None else replace(options, tls_ca=None, tls_cert=None, tls_key=None))
        bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=True) if show_progress else None
        with bar if bar else nullcontext():
            scores = iter(asyncio.run(_score_all(router, samples, bar)))
    counts: Counter = Counter()
    with output_path.open("w", encoding="utf-8") as out:
        for it, extra in zip(items, extras):
            score = next(scores) if isinstance(it, Sample) else it
            counts[score.status.value] += 1
            out.write(json.dumps({**extra, **score.to_json()}, ensure_ascii=False, default=str) + "\n")
    return counts


#: ``verity score``'s exit codes, most severe last (docs in ``verity score --help``)
EXIT_SCORED, EXIT_INVALID, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3


def exit_code(counts: Counter) -> int:
    """3 when any row is ERROR (infrastructure), else 1 when any row is INVALID (input), else 0."""
    if counts.get(Status.ERROR.value):
        return EXIT_ERROR
    return EXIT_INVALID if counts.get(Status.INVALID.value) else EXIT_SCORED


def summary_table(counts: Counter, output_path: Path) -> Table:
    """Rows per status, with their share, and what the exit code will say."""
    total = sum(counts.values())
    table = Table(title=f"{total} rows scored into {output_path}", title_justify="left")
    table.add_column("status")
    table.add_column("rows", justify="right")
    table.add_column("share", justify="right")
    table.add_column("meaning")
    for status in Status:
        if counts.get(status.value):
            table.add_row(status.value, str(counts[status.value]), f"{counts[status.value] / total:.1%}", MEANINGS[status])
    return table


MEANINGS = {
    Status.OK: "judged right",
    Status.WRONG: "judged wrong",
    Status.TIMEOUT: "checking ran past the per-sample deadline (the sample's own fault)",
    Status.INVALID: "the row or its reference is malformed: its detail says what to fix",
    Status.ERROR: "infrastructure failed (unreachable, crashed): not a verdict; score these rows again",
}
