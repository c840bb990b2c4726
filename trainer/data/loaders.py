"""Load samples from JSONL or Parquet files in the sample schema (docs/schema.md).

A verl-style Parquet file (columns ``data_source``, ``prompt``, ``reward_model.ground_truth``) is
mapped: ``reference = {"answer": ground_truth}``, ``verifier`` from the config. A bad row is
reported with file, line (or Parquet row) and field, and skipped; a file with no usable row is an
error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contract.files import kept, read_jsonl, read_parquet
from contract.schema import Sample, SampleError, parse_sample


def _from_verl(row: dict[str, Any], index: int, verifier: str) -> dict[str, Any]:
    reward_model = row.get("reward_model") or {}
    extra = row.get("extra_info") or {}
    truth = reward_model.get("ground_truth") if isinstance(reward_model, dict) else None
    out: dict[str, Any] = {
        "id": f"{row.get('data_source', 'verl')}-{extra.get('index', index) if isinstance(extra, dict) else index}",
        "verifier": verifier,
        "prompt": row.get("prompt"),
    }
    if truth is not None:
        out["reference"] = {"answer": truth if isinstance(truth, str) else json.dumps(truth)}
    return out


def load_samples(path: str | Path, verl_verifier: str = "math") -> list[Sample]:
    """Every valid sample of a .jsonl or .parquet file; bad rows are logged and skipped."""
    path = Path(path)
    samples: list[Sample] = []
    errors: list[str] = []
    if path.suffix == ".parquet":
        rows = read_parquet(path)
        verl = bool(rows) and "reward_model" in rows[0] and "reference" not in rows[0]
        items = [(f"{path}:row {i}", _from_verl(r, i, verl_verifier) if verl else r, None) for i, r in enumerate(rows)]
    else:
        items = [(line.where, line.row, line.error) for line in read_jsonl(path)]
    for where, row, error in items:
        if error:
            errors.append(error)
            continue
        try:
            samples.append(parse_sample(row, where))
        except SampleError as e:
            errors.append(str(e))
    return kept(path, samples, errors)
