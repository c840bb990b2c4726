"""What a code-RL run measured, from its run folder: held-out pass@1 before, during and after
training, each step's seconds split into generation, scoring and update, and the sandbox calls of
each step with their p50 / p99 latency (one call: one isolated environment running a sample's
cases; its latency as the code verifier saw it, gRPC and the wait for a free slot included), and
the p50 / p99 run time of one case as the sandbox measured it.

Reads ``metrics.jsonl`` and ``rollouts.jsonl`` (each sample's ``components``: ``sandbox_calls``,
``sandbox_s``, ``cases_run``, ``run_s``, ``runtime_error``); writes a markdown table and a PNG.

    python bench/code_run_report.py runs/code/latest [--out docs/results/code-rl.md] [--plot docs/results/code-rl.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation between order statistics."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def per_unit(rollouts: list[dict], seconds: str, units: str) -> dict[int, list[float]]:
    """step -> each sample's ``seconds`` component spread evenly over its ``units`` (one value per
    unit): the latency of each sandbox call (sandbox_s / sandbox_calls), or the run time of each
    case (run_s / cases_run)."""
    by_step: dict[int, list[float]] = defaultdict(list)
    for r in rollouts:
        c = r.get("components") or {}
        n = int(c.get(units, 0))
        if n and seconds in c:
            by_step[r["step"]] += [c[seconds] / n] * n
    return by_step


def report(run: Path) -> tuple[str, dict]:
    metrics = read_jsonl(run / "metrics.jsonl")
    rollouts = read_jsonl(run / "rollouts.jsonl")
    latencies, case_times = per_unit(rollouts, "sandbox_s", "sandbox_calls"), per_unit(rollouts, "run_s", "cases_run")
    evals = [(m["step"], m["eval/accuracy"]) for m in metrics if "eval/accuracy" in m]
    steps = [m for m in metrics if "time/step" in m]
    rows = ["| step | reward | pass (sampled) | generate s | score s | update s | step s | sandbox calls | call p50 ms | call p99 ms | cases run | case p50 ms | case p99 ms | timeouts | runtime errors | wrong | passed |", "|" + "---|" * 17]
    for m in steps:
        lat, case = latencies.get(m["step"], []), case_times.get(m["step"], [])
        rows.append(
            f"| {m['step']} | {m['reward/mean']:.3f} | {m['accuracy']:.3f} | {m['time/generate']:.1f} | {m['time/score']:.1f} | {m['time/backward']:.1f} | {m['time/step']:.1f} | "
            f"{m.get('code/sandbox_calls', 0):.0f} | {1000 * percentile(lat, 0.5):.0f} | {1000 * percentile(lat, 0.99):.0f} | {m.get('code/cases_run', 0):.0f} | {1000 * percentile(case, 0.5):.0f} | {1000 * percentile(case, 0.99):.0f} | "
            f"{m['scoring/timeout']:.0f} | {m.get('code/runtime_error', 0):.0f} | {m['scoring/wrong']:.0f} | {m['scoring/ok']:.0f} |"
        )
    everything = [x for v in latencies.values() for x in v]
    every_case = [x for v in case_times.values() for x in v]
    median = {k: statistics.median(m[k] for m in steps) for k in ("time/generate", "time/score", "time/backward", "time/step")}
    summary = {
        "pass@1 before": evals[0][1] if evals and evals[0][0] == 0 else None,
        "pass@1 after": evals[-1][1] if evals else None,
        "evals": evals,
        "median s/step": median,
        "sandbox calls per step (median)": statistics.median(m.get("code/sandbox_calls", 0) for m in steps) if steps else 0,
        "call latency p50 / p99 ms (all steps)": (1000 * percentile(everything, 0.5), 1000 * percentile(everything, 0.99)),
        "case run time p50 / p99 ms (all steps)": (1000 * percentile(every_case, 0.5), 1000 * percentile(every_case, 0.99)),
    }
    lines = [
        f"held-out pass@1 (greedy, every case passes): {', '.join(f'step {s}: {a:.1%}' for s, a in evals)}",
        f"median s/step: {median['time/step']:.1f} (generate {median['time/generate']:.1f}, score {median['time/score']:.1f}, update {median['time/backward']:.1f})",
        f"sandbox calls per step (median): {summary['sandbox calls per step (median)']:.0f}; over all steps, call latency (a free slot waited for included) p50 {summary['call latency p50 / p99 ms (all steps)'][0]:.0f} ms, p99 {summary['call latency p50 / p99 ms (all steps)'][1]:.0f} ms; one case's run time p50 {summary['case run time p50 / p99 ms (all steps)'][0]:.0f} ms, p99 {summary['case run time p50 / p99 ms (all steps)'][1]:.0f} ms",
        "",
        *rows,
    ]
    return "\n".join(lines), {"metrics": steps, "evals": evals, "latencies": latencies}


def plot(data: dict, path: Path) -> None:
    steps = data["metrics"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    ax.plot([s for s, _ in data["evals"]], [100 * a for _, a in data["evals"]], "o-", label="held-out pass@1 (greedy)")
    ax.plot([m["step"] for m in steps], [100 * m["reward/mean"] for m in steps], ".-", alpha=0.7, label="training reward x 100 (share of cases)")
    ax.set(xlabel="step", ylabel="%", title="pass@1 and reward")
    ax.legend(fontsize=8)
    ax = axes[1]
    x = [m["step"] for m in steps]
    bottom = [0.0] * len(steps)
    for key, label in (("time/generate", "generate"), ("time/score", "score (sandbox)"), ("time/backward", "update")):
        values = [m[key] for m in steps]
        ax.bar(x, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set(xlabel="step", ylabel="seconds", title="one step, split")
    ax.legend(fontsize=8)
    ax = axes[2]
    lat = data["latencies"]
    ks = sorted(lat)
    ax.plot(ks, [1000 * percentile(lat[k], 0.5) for k in ks], "o-", label="p50")
    ax.plot(ks, [1000 * percentile(lat[k], 0.99) for k in ks], "s-", label="p99")
    ax2 = ax.twinx()
    ax2.bar(ks, [len(lat[k]) for k in ks], alpha=0.2, color="gray")
    ax2.set_ylabel("sandbox calls")
    ax.set(xlabel="step", ylabel="ms per sandbox call", title="sandbox calls per step and latency")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run folder (or an output_dir's latest link)")
    parser.add_argument("--out", type=Path, help="write the report here (markdown)")
    parser.add_argument("--plot", type=Path, help="write the curves here (PNG)")
    args = parser.parse_args(argv)
    text, data = report(args.run)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.plot:
        plot(data, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
