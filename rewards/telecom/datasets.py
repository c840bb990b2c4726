"""Loaders for the telecom question files users bring: TeleQnA's JSON and ORAN-Bench-13K's JSON lines.

Nothing of either dataset ships with verity; these read a local copy into mcq samples for the
telecom grader (``verifier: telecom``), the prompt listing the options as "1. ...".

- TeleQnA: one JSON object, ``{"question 0": {"question": str, "option 1": str, ...,
  "answer": "option k: <text>", "explanation": str, "category": str}, ...}``.
- ORAN-Bench-13K: one JSON array per line, ``[question, ["1. text", "2. text", ...], "k"]``.

A bad entry is reported with file, line and field and skipped; a file with no usable entry is an
error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from contract.files import DataFileError, kept, read_jsonl
from contract.schema import ChatMessage, Sample
from rewards.telecom.reference import TelecomReferenceError, parse_reference

#: The instruction after the options: the grader reads the option number from the last box.
BOXED_OPTION = "Answer with the option number in \\boxed{}."
_OPTION_KEY = re.compile(r"option (\d+)")
_NUMBERED = re.compile(r"\s*(\d+)\s*[.)]\s*")


def mcq_sample(sample_id: str, question: str, options: list[str], answer: Any, where: str) -> Sample:
    """An mcq sample; raises ValueError naming ``where`` and the field when the entry is unusable."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"{where}: field 'question' is missing or empty")
    try:
        parse_reference({"kind": "mcq", "options": options, "answer": answer})
    except TelecomReferenceError as e:
        raise ValueError(f"{where}: {str(e).replace('reference.', 'field ', 1)}") from None
    listed = "\n".join(f"{i}. {o}" for i, o in enumerate(options, 1))
    return Sample(
        id=sample_id, verifier="telecom", prompt=[ChatMessage(role="user", content=f"{question.strip()}\n{listed}\n{BOXED_OPTION}")],
        reference={"kind": "mcq", "options": options, "answer": answer},
    )  # fmt: skip


def load_teleqna(path: str | Path) -> list[Sample]:
    """Every usable question of a TeleQnA JSON file."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataFileError(f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno}): TeleQnA is one JSON object of questions") from None
    if not isinstance(data, dict):
        raise DataFileError(f"{path}: expected a JSON object {{\"question 0\": {{...}}, ...}}, got {type(data).__name__}")
    samples, errors = [], []
    for i, (key, entry) in enumerate(data.items()):
        at = text.find(json.dumps(key))
        where = f"{path}:{text.count(chr(10), 0, at) + 1 if at >= 0 else '?'} ('{key}')"
        if not isinstance(entry, dict):
            errors.append(f"{where}: expected an object with 'question', 'option 1'.. and 'answer', got {type(entry).__name__}")
            continue
        numbered = sorted((int(m[1]), k) for k in entry if (m := _OPTION_KEY.fullmatch(k)))
        if [n for n, _ in numbered] != list(range(1, len(numbered) + 1)):
            errors.append(f"{where}: fields 'option 1'..'option N' must be numbered from 1 without gaps, got {[k for _, k in numbered]}")
            continue
        options = [entry[k] for _, k in numbered]
        if any(not isinstance(o, str) for o in options):
            errors.append(f"{where}: every 'option k' field must be a string")
            continue
        try:
            samples.append(mcq_sample(f"teleqna-{i}", entry.get("question"), options, entry.get("answer"), where))
        except ValueError as e:
            errors.append(str(e))
    return kept(path, samples, errors)


def load_oran_bench(path: str | Path) -> list[Sample]:
    """Every usable question of an ORAN-Bench-13K JSON lines file."""
    path = Path(path)
    samples, errors = [], []
    for n, line in enumerate(read_jsonl(path)):
        if line.error:
            errors.append(line.error)
            continue
        row = line.row
        if not (isinstance(row, list) and len(row) == 3 and isinstance(row[1], list)):
            errors.append(f"{line.where}: expected [question, [\"1. option\", ...], \"answer number\"], got {json.dumps(row)[:80]}")
            continue
        question, raw_options, answer = row
        if any(not isinstance(o, str) for o in raw_options):
            errors.append(f"{line.where}: field 'options' (item 2) must hold strings")
            continue
        options = [_NUMBERED.sub("", o, count=1) if _NUMBERED.match(o) else o for o in raw_options]
        try:
            samples.append(mcq_sample(f"oran-bench-{n}", question, options, str(answer).strip(), line.where))
        except ValueError as e:
            errors.append(str(e))
    return kept(path, samples, errors)
