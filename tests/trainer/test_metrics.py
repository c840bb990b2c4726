"""curves.png: which panels a run's metrics earn, and the PNG itself."""

from __future__ import annotations

import json

from trainer.metrics import choose_panels, plot_metrics


def records(**extra):
    rows = [{"step": 0, "eval/accuracy": 0.2, "eval/mean_length": 18.0, "time/eval": 9.0}]
    for step in (1, 2, 3):
        rows.append({"step": step, "reward/mean": 0.1 * step, "reward/std": 0.3, "accuracy": 0.1 * step, "response_length/mean": 20.0, "time/step": 25.0, "time/generate": 12.0, "time/score": 0.4, "time/backward": 11.0, "grad_norm": 0.8, "clip_fraction": 0.0, "dppo/divergence": 0.0, **extra})
    return rows


def test_panels_hold_only_series_with_something_to_show():
    names = [name for name, _ in choose_panels(records())]
    assert names == ["reward and accuracy", "response length", "time per step by phase", "diagnostics (magnitudes)"]  # clip_fraction and the divergence are all 0
    names = [name for name, _ in choose_panels(records(clip_fraction=0.1))]
    assert "diagnostics (fractions)" in names
    assert [name for name, _ in choose_panels([{"step": 1, "reward/mean": 0.0}])] == ["reward and accuracy"]  # a reward stuck at 0 is still drawn


def test_the_png_is_written(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records(clip_fraction=0.1)))
    png = plot_metrics(path, tmp_path / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
