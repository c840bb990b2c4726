"""Load samples from JSONL, JSON-array or Parquet files in the sample schema (docs/schema.md).

A verl-style Parquet file (columns ``data_source``, ``prompt``, ``reward_model.ground_truth``) is
mapped: ``reference = {"answer": ground_truth}``, ``verifier`` from the config. A bad row is
reported with file, line (or Parquet row) and field, and skipped; a file with no usable row is an
error.
"""

from __future__ import annotations

from pathlib import Path

from contract.files import kept, read_rows
from contract.schema import Sample, SampleError, parse_sample


def load_samples(path: str | Path, verl_verifier: str = "math") -> list[Sample]:
    """Every valid sample of the file; bad rows are logged and skipped."""
    samples: list[Sample] = []
    errors: list[str] = []
    for line in read_rows(path, verl_verifier=verl_verifier):
        if line.error:
            errors.append(line.error)
            continue
        try:
            samples.append(parse_sample(line.row, line.where))
        except SampleError as e:
            errors.append(str(e))
    return kept(Path(path), samples, errors)
