"""``verity score``: score a JSONL file of samples with responses, writing one score line per input line."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from contract.files import read_jsonl
from contract.schema import Sample, SampleError, Score, Status, parse_sample
from rewards.builtin import BUILTIN_VERIFIERS
from rewards.router import Router
from serving.client import ClientOptions
from serving.local import LocalServices

CHUNK = 2048  # samples per progress update


def load_for_scoring(path: Path) -> list[Sample | Score]:
    """Each non-blank line becomes a Sample, or an INVALID score that says what is wrong with it."""
    items: list[Sample | Score] = []
    for line in read_jsonl(path):
        ident = line.row.get("id") if isinstance(line.row, dict) and isinstance(line.row.get("id"), str) else line.where
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
    return items


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


def score_file(input_path: Path, output_path: Path, endpoints: dict[str, list[str]] | None, options: ClientOptions | None = None, workers: int | None = None, deadline_s: float = 1.0, show_progress: bool = True) -> Counter:
    """Score ``input_path`` into ``output_path``; return the count of each status.

    With ``endpoints`` None, the built-in services the samples name are started locally (plaintext
    on loopback, so ``options``' TLS settings apply only to given endpoints)."""
    items = load_for_scoring(input_path)
    samples = [it for it in items if isinstance(it, Sample)]
    local = None
    if endpoints is None:
        names = {s.verifier for s in samples} & set(BUILTIN_VERIFIERS)
        local = LocalServices(names, workers=workers, deadline_s=deadline_s)
    with local if local else nullcontext(endpoints) as eps:
        router = Router(eps, (options or ClientOptions()) if endpoints is not None else ClientOptions())
        bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), TimeRemainingColumn(), transient=True) if show_progress else None
        with bar if bar else nullcontext():
            scores = iter(asyncio.run(_score_all(router, samples, bar)))
    counts: Counter = Counter()
    with output_path.open("w", encoding="utf-8") as out:
        for it in items:
            score = next(scores) if isinstance(it, Sample) else it
            counts[score.status.value] += 1
            out.write(json.dumps(score.to_json(), ensure_ascii=False) + "\n")
    return counts
