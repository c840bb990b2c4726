"""Checkpoints: the whole weights as a Hugging Face folder (for ``verity eval``, vLLM, or any
transformers user), the optimizer state sharded with torch.distributed.checkpoint (each process
writes its part), and the scheduler, RNG states and data position.

Layout: ``<run>/checkpoints/step-000010/{model/, optimizer/, trainer_state.pt}``, written
to a temporary folder and renamed, so a crash (or a kill during the write) never leaves a half
checkpoint that ``--resume`` would pick.
"""

from __future__ import annotations

import random
import re
import shutil
import tempfile
import warnings
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


def new_checkpoint_dir(run: Path) -> Path:
    """A temporary folder beside the checkpoints, where one is written before it is published.
    What an interrupted write left (a killed process, a full disk) is removed first."""
    root = run / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))


def bytes_to_write(model: torch.nn.Module, optimizer: torch.optim.Optimizer, whole_weights: bool) -> int:
    """About how many bytes this process writes for a checkpoint: the whole weights (the main
    process) and its own optimizer state (its shard under fsdp)."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters()) if whole_weights else 0
    state = sum(t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t))
    return weights + state


def save_optimizer(module: torch.nn.Module, optimizer: torch.optim.Optimizer, folder: Path) -> None:
    """The optimizer's state, sharded: every process writes its part with
    torch.distributed.checkpoint (keyed by parameter names, so any number of processes, sharded
    or not, loads it back). Every process calls it together."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")  # one process: what is meant
        dcp.save({"optimizer": get_optimizer_state_dict(module, optimizer)}, checkpoint_id=str(folder / "optimizer"))


def load_optimizer(module: torch.nn.Module, optimizer: torch.optim.Optimizer, checkpoint: Path) -> None:
    """Load :func:`save_optimizer`'s state into this process's optimizer (resharded when the
    process count differs). Every process calls it together."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict

    state = {"optimizer": get_optimizer_state_dict(module, optimizer)}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load(state, checkpoint_id=str(checkpoint / "optimizer"))
    set_optimizer_state_dict(module, optimizer, optim_state_dict=state["optimizer"])


def publish_checkpoint(tmp: Path, run: Path, step: int, model, tokenizer, state: dict[str, Any], keep: int, weights: dict[str, torch.Tensor] | None = None) -> Path:
    """Complete ``tmp`` (the optimizer already in it) with the model (``weights`` when given,
    else its own) and tokenizer as a Hugging Face folder, ``state`` (scheduler, data position...)
    and the RNG states; rename it into place as ``step``'s checkpoint; keep the newest ``keep``.
    The main process calls it."""
    final = run / "checkpoints" / f"step-{step:06d}"
    model.save_pretrained(tmp / "model", state_dict=weights)
    tokenizer.save_pretrained(tmp / "model")
    torch.save({"step": step, "rng": rng_state(), **state}, tmp / "trainer_state.pt")
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for old in checkpoints(run)[:-keep]:
        shutil.rmtree(old)
    return final


def checkpoints(run: Path) -> list[Path]:
    """The run's complete checkpoints, oldest first."""
    root = run / "checkpoints"
    found = [p for p in root.iterdir() if _STEP_DIR.match(p.name) and is_checkpoint(p)] if root.is_dir() else []
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


def is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a complete checkpoint folder."""
    return (path / "trainer_state.pt").is_file()


def load_trainer_state(checkpoint: Path) -> dict[str, Any]:
    return torch.load(checkpoint / "trainer_state.pt", weights_only=False)
