"""What a tool-integrated run measured, beside the same run without the tool: held-out accuracy
before, during and after training (greedy; with the tool for the tool run), the training reward,
tool calls per episode and the accuracy of episodes with and without a call, and each step's
seconds split into generation (the tool's calls included) and the rest.

Reads each run folder's ``metrics.jsonl``; writes a markdown table and a PNG of the curves.

    python bench/tool_run_report.py runs/tool/latest runs/tool-off/latest [--out docs/results/tool-rl.md] [--plot docs/results/tool-rl.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def series(metrics: list[dict], key: str) -> list[tuple[int, float]]:
    return [(m["step"], m[key]) for m in metrics if key in m]


def median(metrics: list[dict], key: str) -> float:
    values = [v for _, v in series(metrics, key)]
    return statistics.median(values) if values else float("nan")


def table(tool: list[dict], plain: list[dict]) -> str:
    def evals(metrics: list[dict]) -> str:
        return " -> ".join(f"{v:.1%} (step {s})" for s, v in series(metrics, "eval/accuracy"))

    def first_last(metrics: list[dict], key: str, fmt: str = "{:.2f}") -> str:
        values = [v for _, v in series(metrics, key)]
        if not values:
            return "n/a"
        head, tail = values[: max(1, len(values) // 4)], values[-max(1, len(values) // 4) :]
        return f"{fmt.format(statistics.mean(head))} (first {len(head)} steps) -> {fmt.format(statistics.mean(tail))} (last {len(tail)})"

    rows = [
        ("held-out accuracy, greedy, with the tool", evals(tool)),
        ("held-out accuracy, greedy, without the tool", evals(plain)),
        ("held-out tool calls per episode", " -> ".join(f"{v:.2f}" for _, v in series(tool, "eval/tool_calls"))),
        ("training reward, with the tool", first_last(tool, "reward/mean")),
        ("training reward, without the tool", first_last(plain, "reward/mean")),
        ("tool calls per episode (sampled)", first_last(tool, "tools/calls_per_episode")),
        ("episodes with a call", first_last(tool, "tools/episodes_with_call", "{:.0%}")),
        ("accuracy of episodes with a call", first_last(tool, "accuracy/with_call", "{:.0%}")),
        ("accuracy of episodes without a call", first_last(tool, "accuracy/without_call", "{:.0%}")),
        ("tool timeouts / runtime errors / failed calls, all steps", f"{sum(v for _, v in series(tool, 'tools/timeouts')):.0f} / {sum(v for _, v in series(tool, 'tools/runtime_errors')):.0f} / {sum(v for _, v in series(tool, 'tools/errors')):.0f}"),
        ("tool output tokens per step (median)", f"{median(tool, 'tools/output_tokens'):.0f}"),
        ("seconds per step (median), with the tool", f"{median(tool, 'time/step'):.0f}: generation and calls {median(tool, 'time/generate'):.0f}, update {median(tool, 'time/backward'):.0f}"),
        ("seconds per step (median), without the tool", f"{median(plain, 'time/step'):.0f}: generation {median(plain, 'time/generate'):.0f}, update {median(plain, 'time/backward'):.0f}"),
    ]
    return "\n".join(["| | value |", "| --- | --- |", *(f"| {a} | {b} |" for a, b in rows)])


def plot(tool: list[dict], plain: list[dict], out: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for metrics, label, style in ((tool, "with the tool", "-o"), (plain, "without the tool", "--s")):
        xs, ys = zip(*series(metrics, "eval/accuracy")) if series(metrics, "eval/accuracy") else ((), ())
        axes[0].plot(xs, ys, style, label=label)
        xs, ys = zip(*series(metrics, "reward/mean")) if series(metrics, "reward/mean") else ((), ())
        axes[1].plot(xs, ys, style, label=label)
    for key, label in (("tools/calls_per_episode", "calls per episode"), ("tools/episodes_with_call", "episodes with a call"), ("accuracy/with_call", "accuracy with a call")):
        if series(tool, key):
            xs, ys = zip(*series(tool, key))
            axes[2].plot(xs, ys, "-o", label=label)
    titles = ("held-out accuracy (greedy)", "training reward (sampled)", "the tool run's calls")
    for ax, title in zip(axes, titles):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("products of 3-digit numbers, SmolLM2-135M-Instruct, rollout.tools: [python] vs []")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tool_run", type=Path)
    parser.add_argument("plain_run", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    tool, plain = read_metrics(args.tool_run), read_metrics(args.plain_run)
    text = table(tool, plain)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.plot:
        plot(tool, plain, args.plot)


if __name__ == "__main__":
    main()
