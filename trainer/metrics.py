"""Step metrics (each already reduced by the rule it declares): written to metrics.jsonl and
TensorBoard, and drawn in the end-of-run PNG."""

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
# the algorithms' diagnostics: fractions in [0, 1], and magnitudes on a log scale
DIAGNOSTIC_FRACTIONS = [("clip_fraction", "PPO clip fraction"), ("rlpt/coverage", "RLPT coverage"), ("rlpt/support_mass", "RLPT support mass"), ("dppo/masked_pos", "DPPO masked (A > 0)"), ("dppo/masked_neg", "DPPO masked (A < 0)"), ("dppo/is_capped", "DPPO IS-capped"), ("dash/filtered_fraction", "DASH filtered")]
DIAGNOSTIC_MAGNITUDES = [("grad_norm", "gradient norm"), ("grad_norm/micro_var", "grad-norm variance (micro-batches)"), ("otb/total_power", "OTB total power"), ("otb/noise", "OTB pure noise"), ("dppo/divergence", "DPPO mean divergence"), ("kl", "KL to reference")]


def _draw(ax, records: list[dict], keys: list[tuple[str, str]], style: str = "-") -> bool:
    drawn = False
    for key, label in keys:
        points = [(r["step"], r[key]) for r in records if key in r]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, style, marker="o", markersize=3, label=label)
            drawn = True
    return drawn


def plot_metrics(metrics_path: Path, out_png: Path, title: str = "") -> Path:
    """One PNG: reward and accuracy over steps, then the algorithm's diagnostics that the run logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    fig, (ax, frac, mag) = plt.subplots(1, 3, figsize=(16, 4.2))
    for key, label, style in PLOTTED:
        _draw(ax, records, [(key, label)], style)
    ax.set_ylabel("fraction")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or metrics_path.parent.name)
    if _draw(frac, records, DIAGNOSTIC_FRACTIONS):
        frac.legend(fontsize=8)
    frac.set_title("diagnostics (fractions of tokens / samples)")
    if _draw(mag, records, DIAGNOSTIC_MAGNITUDES):
        mag.set_yscale("symlog", linthresh=1e-4)
        mag.legend(fontsize=8)
    mag.set_title("diagnostics (magnitudes)")
    for a in (ax, frac, mag):
        a.set_xlabel("optimizer step")
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png
