"""Checkpoints: HF-format model + tokenizer, optimizer, RNG states and data position.

Layout: ``<output_dir>/checkpoints/step-000010/{model/, trainer_state.pt}``, written to a temporary
folder and renamed, so a crash never leaves a half checkpoint that ``--resume`` would pick.
"""

from __future__ import annotations

import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

_STEP_DIR = re.compile(r"^step-(\d+)$")


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])


def save_checkpoint(output_dir: Path, step: int, model, tokenizer, state: dict[str, Any], keep: int, weights: dict[str, torch.Tensor] | None = None) -> Path:
    """Write ``step``'s checkpoint: the model (``weights`` when given, else its own) and tokenizer
    as a Hugging Face folder, ``state`` (optimizer, scheduler, data position...) and the RNG states;
    keep the newest ``keep``."""
    root = output_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    model.save_pretrained(tmp / "model", state_dict=weights)
    tokenizer.save_pretrained(tmp / "model")
    torch.save({"step": step, "rng": rng_state(), **state}, tmp / "trainer_state.pt")
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for old in checkpoints(output_dir)[:-keep]:
        shutil.rmtree(old)
    return final


def checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = output_dir / "checkpoints"
    found = [p for p in root.iterdir() if _STEP_DIR.match(p.name) and (p / "trainer_state.pt").is_file()] if root.is_dir() else []
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


def resolve_checkpoint(path_or_run: Path) -> Path:
    """A checkpoint dir as is, or the newest checkpoint of a run dir."""
    if (path_or_run / "trainer_state.pt").is_file():
        return path_or_run
    found = checkpoints(path_or_run)
    if not found:
        raise FileNotFoundError(f"no checkpoint in {path_or_run}: expected {path_or_run}/checkpoints/step-N/ (train with train.checkpoint_every>0)")
    return found[-1]


def load_trainer_state(checkpoint: Path) -> dict[str, Any]:
    return torch.load(checkpoint / "trainer_state.pt", weights_only=False)
