"""Step metrics to metrics.jsonl and TensorBoard, and the end-of-run PNG."""

from __future__ import annotations

import json
import math
from pathlib import Path


class MetricsLogger:
    """Appends one JSON object per step; on resume, drops records past the resumed step."""

    def __init__(self, output_dir: Path, resume_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.path = output_dir / "metrics.jsonl"
        if resume_step is not None and self.path.exists():
            kept = [line for line in self.path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= resume_step]
            self.path.write_text("".join(line + "\n" for line in kept))
        elif resume_step is None and self.path.exists():
            self.path.unlink()
        self.writer = SummaryWriter(str(output_dir / "tensorboard"), purge_step=None if resume_step is None else resume_step + 1)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        clean = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **clean}) + "\n")
        for key, value in clean.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def read_metrics(path: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


PLOTTED = [("reward/mean", "sampled reward (mean)", "-"), ("accuracy", "sampled accuracy", ":"), ("eval/accuracy", "held-out greedy accuracy", "--")]


def plot_metrics(metrics_path: Path, out_png: Path, title: str = "") -> Path:
    """Reward and accuracy over steps (and any other PLOTTED key present) as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for key, label, style in PLOTTED:
        points = [(r["step"], r[key]) for r in records if key in r]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, style, marker="o", markersize=4, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("fraction")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title or metrics_path.parent.name)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    return out_png
