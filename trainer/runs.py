"""Run directories: every ``verity train`` writes a folder of its own, so no run overwrites another.

Layout, for ``train.output_dir: runs/quickstart`` (the run's name)::

    runs/quickstart/
      20261129-163502/        one run: config.yaml, metrics.jsonl, rollouts.jsonl, tensorboard/,
                              curves.png, train.log, checkpoints/step-000010/
      20261129-171020/        the next run of the same name
      latest -> 20261129-171020

``--resume`` continues the run ``latest`` points at (in its own folder); ``--resume DIR`` continues
the run DIR, or the run a checkpoint DIR belongs to. Every path a user gives (a name, a run, a
checkpoint) resolves to a checkpoint through :func:`resolve_checkpoint`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from trainer.checkpoint import checkpoints, is_checkpoint

LATEST = "latest"


class RunError(ValueError):
    """A run or checkpoint path that does not hold what is asked of it; the message says what to give."""


class OutOfSpace(RuntimeError):
    """The run's disk is full, or too full for the next checkpoint; the message says what was
    being written, the last complete checkpoint, and the fix."""

    @classmethod
    def while_writing(cls, error: OSError, run: Path) -> OutOfSpace:
        where = error.filename or f"the run folder {run}"
        return cls(f"the disk is full ({error.strerror}) writing {where}: {cls._what_stands(run)}")

    @classmethod
    def before_checkpoint(cls, run: Path, step: int, need_bytes: int, free_bytes: int) -> OutOfSpace:
        return cls(f"the disk is too full for the checkpoint of step {step} in {run}: it needs about {need_bytes / 1e9:.2f} GB, {free_bytes / 1e9:.2f} GB are free: {cls._what_stands(run)}")

    @staticmethod
    def _what_stands(run: Path) -> str:
        done = checkpoints(run)
        last = f"the last complete checkpoint, {done[-1]}, is intact: free space and continue with --resume {run}" if done else "no checkpoint is complete yet: free space and start again"
        return f"{last} (or set train.output_dir on a larger disk)"


def new_run_dir(name_dir: Path, now: float | None = None) -> Path:
    """A new, empty run folder ``name_dir/<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``... when that second is
    taken), and ``name_dir/latest`` pointed at it."""
    try:
        name_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"train.output_dir: cannot create {name_dir} ({e.strerror}): choose a folder you can write") from None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    for n in range(1, 1000):
        run = name_dir / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            run.mkdir()
        except FileExistsError:
            continue
        point_latest(run)
        return run
    raise RunError(f"{name_dir}: 999 runs started in the same second")


def point_latest(run: Path) -> None:
    """Point ``<name>/latest`` at ``run`` (a relative link, replaced atomically)."""
    link = run.parent / LATEST
    tmp = run.parent / f".{LATEST}-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run.name, target_is_directory=True)
    os.replace(tmp, link)


def latest_run(name_dir: Path) -> Path | None:
    """The run ``name_dir/latest`` points at, if any."""
    link = name_dir / LATEST
    return link.resolve() if link.is_dir() else None


def run_to_resume(given: str, name_dir: Path) -> Path | None:
    """The run folder that ``--resume`` continues: ``given`` is "auto" (the latest run of
    ``name_dir``; None when it has none yet) or a path (a run folder, or one of its checkpoints)."""
    if given == "auto":
        return latest_run(name_dir)
    path = Path(given)
    if is_checkpoint(path):
        return path.resolve().parent.parent  # <run>/checkpoints/step-N
    if (path / "checkpoints").is_dir() or (path / "config.yaml").is_file():
        return path.resolve()
    if latest_run(path) is not None:
        return latest_run(path)
    raise RunError(f"--resume {given}: not a run folder or checkpoint (expected {given}/checkpoints/step-N/ or {given}/latest): give a run folder, e.g. {name_dir}/{LATEST}")


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint folder as is; the newest checkpoint of a run folder; the newest checkpoint of a
    name's latest run. Anything else is a RunError naming what was expected."""
    if is_checkpoint(path):
        return path
    if not path.exists():
        raise RunError(f"{path}: no such checkpoint or run folder: give a run folder (e.g. runs/quickstart) or one of its checkpoints/step-N")
    run = path if (path / "checkpoints").is_dir() or not (path / LATEST).exists() else latest_run(path)
    found = checkpoints(run) if run is not None else []
    if not found:
        raise RunError(f"{path}: no checkpoint in {run or path} yet (a run writes one every train.checkpoint_every steps and at its end): give a run folder that finished a step, or a checkpoints/step-N folder")
    return found[-1]
