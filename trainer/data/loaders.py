"""Load samples from JSONL, JSON-array or Parquet files in the sample schema (docs/schema.md).

A verl-style Parquet file (columns ``data_source``, ``prompt``, ``reward_model.ground_truth``) is
mapped: ``reference = {"answer": ground_truth}``, ``verifier`` from the config. A bad row is
reported with file, line (or Parquet row) and field, and skipped; a file with no usable row is an
error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from contract.files import kept, read_rows
from contract.schema import Sample, SampleError, parse_sample


def load_samples(path: str | Path, verl_verifier: str = "math", mapper: Callable[[dict, int], dict] | None = None) -> list[Sample]:
    """Every valid sample of the file; bad rows are logged and skipped. ``mapper`` turns each row
    of a dataset's own format into the sample schema first (a ValueError names what is wrong)."""
    samples: list[Sample] = []
    errors: list[str] = []
    for index, line in enumerate(read_rows(path, verl_verifier=verl_verifier if mapper is None else None)):
        if line.error:
            errors.append(line.error)
            continue
        try:
            row = mapper(line.row, index) if mapper is not None and isinstance(line.row, dict) else line.row
            samples.append(parse_sample(row, line.where))
        except SampleError as e:
            errors.append(str(e))
        except ValueError as e:
            errors.append(f"{line.where}: {e}")
    return kept(Path(path), samples, errors)
