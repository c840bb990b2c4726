"""Step metrics (each already reduced by the rule it declares): written to metrics.jsonl and
TensorBoard, and drawn in the end-of-run PNG."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
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


# the algorithms' diagnostics: fractions in [0, 1], and magnitudes on a log scale
DIAGNOSTIC_FRACTIONS = [("clip_fraction", "PPO clip fraction"), ("rlpt/coverage", "RLPT coverage"), ("rlpt/support_mass", "RLPT support mass"), ("dppo/masked_pos", "DPPO masked (A > 0)"), ("dppo/masked_neg", "DPPO masked (A < 0)"), ("dppo/is_capped", "DPPO IS-capped"), ("dash/filtered_fraction", "DASH filtered"), ("response_length/clipped_fraction", "responses cut at max_new_tokens")]
DIAGNOSTIC_MAGNITUDES = [("grad_norm", "gradient norm"), ("grad_norm/micro_var", "grad-norm variance (micro-batches)"), ("otb/total_power", "OTB total power"), ("otb/noise", "OTB pure noise"), ("dppo/divergence", "DPPO mean divergence"), ("kl", "KL to reference")]
PHASES = [("time/generate", "generate"), ("time/score", "score"), ("time/backward", "forward + backward"), ("time/weight_sync", "weight sync"), ("time/eval", "held-out evaluation")]


def series(records: list[dict], key: str) -> tuple[list[int], list[float]]:
    """The steps that logged ``key``, and its values."""
    points = [(r["step"], r[key]) for r in records if key in r]
    return ([p[0] for p in points], [p[1] for p in points]) if points else ([], [])


def informative(records: list[dict], keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The ``keys`` a run logged with at least one value other than 0."""
    return [(key, label) for key, label in keys if any(v != 0 for v in series(records, key)[1])]


def _accuracy_panel(ax, records: list[dict]) -> None:
    steps, mean = series(records, "reward/mean")
    _, std = series(records, "reward/std")
    if steps:
        ax.plot(steps, mean, "-", color="C0", label="sampled reward (mean)")
        if len(std) == len(mean):
            ax.fill_between(steps, [max(m - s, 0.0) for m, s in zip(mean, std)], [min(m + s, 1.0) for m, s in zip(mean, std)], color="C0", alpha=0.15, label="± its standard deviation (within [0, 1])")
    steps_acc, acc = series(records, "accuracy")
    if any(abs(a - m) > 1e-9 for a, m in zip(acc, mean)) or (acc and not mean):  # binary rewards: the same line; drawn once
        ax.plot(steps_acc, acc, ":", color="C2", label="sampled accuracy")
    steps_eval, held_out = series(records, "eval/accuracy")
    if steps_eval:
        ax.plot(steps_eval, held_out, "--o", color="C3", markersize=5, label=f"held-out accuracy (greedy, {len(steps_eval)} evaluations)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("fraction")
    ax.set_title("reward and accuracy")


def _length_panel(ax, records: list[dict]) -> None:
    for key, label, style in (("response_length/mean", "sampled responses", "-"), ("eval/mean_length", "held-out (greedy)", "--o")):
        steps, values = series(records, key)
        if steps:
            ax.plot(steps, values, style, markersize=4, label=label)
    ax.set_ylabel("tokens")
    ax.set_title("response length")


def _time_panel(ax, records: list[dict]) -> None:
    steps = [r["step"] for r in records if "time/step" in r]
    bottom = [0.0] * len(steps)
    by_step = {r["step"]: r for r in records}
    total = sum(by_step[s]["time/step"] for s in steps)
    for key, label in [(k, label) for k, label in PHASES if sum(by_step[s].get(k, 0.0) for s in steps) > 0.005 * total]:  # a phase under 0.5% is "other"
        values = [by_step[s].get(key, 0.0) for s in steps]
        ax.bar(steps, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    other = [max(by_step[s]["time/step"] + by_step[s].get("time/eval", 0.0) - b, 0.0) for s, b in zip(steps, bottom)]
    ax.bar(steps, other, bottom=bottom, label="other", color="0.7")
    ax.set_ylabel("seconds")
    ax.set_title("time per step by phase")


def _lines_panel(ax, records: list[dict], *, keys: list[tuple[str, str]], title: str, log: bool) -> None:
    for key, label in keys:
        steps, values = series(records, key)
        ax.plot(steps, values, "-o", markersize=3, label=label)
    if log:
        ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_title(title)


def choose_panels(records: list[dict]) -> list[tuple[str, Callable]]:
    """The panels worth drawing for these records, by title, each with its drawing function:
    reward and accuracy (always: a reward stuck at 0 is worth seeing), and the others only where
    some series has a value other than 0."""
    panels: list[tuple[str, Callable]] = [("reward and accuracy", _accuracy_panel)]
    if informative(records, [("response_length/mean", ""), ("eval/mean_length", "")]):
        panels.append(("response length", _length_panel))
    if informative(records, [("time/step", "")]):
        panels.append(("time per step by phase", _time_panel))
    for keys, name, log in ((DIAGNOSTIC_FRACTIONS, "diagnostics (fractions)", False), (DIAGNOSTIC_MAGNITUDES, "diagnostics (magnitudes)", True)):
        shown = informative(records, keys)
        if shown:
            panels.append((name, functools.partial(_lines_panel, keys=shown, title=name, log=log)))
    return panels


def plot_metrics(metrics_path: Path, out_png: Path, title: str = "") -> Path:
    """One PNG of the run: reward and held-out accuracy, response length, time per step by phase,
    and the diagnostics the run's algorithms logged (a panel only where a series is not all zero);
    each legend under its panel, off the data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    panels = [draw for _, draw in choose_panels(records)]
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 4.6 * rows), squeeze=False)
    for ax, draw in zip(axes.flat, panels):
        draw(ax, records)
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title or f"{metrics_path.parent.parent.name}/{metrics_path.parent.name}")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png
