"""GRPO against each algorithm on the quickstart task, side by side in one run.

Every run is ``verity train CONFIG`` (configs/*.yaml) with the same seed, steps and held-out
evaluation, in its own process, one after the other. Writes to docs/results/:
  study.md                    the table (final and best held-out accuracy, seconds per step,
                              gradient-norm variance across micro-batches, tokens generated)
  study-accuracy.png          held-out accuracy per step and per wall-clock second
  study-grad-variance.png     gradient-norm variance across micro-batches per step
  study-otb-tokens.png        OTB with group size 4 against GRPO with group size 16, by tokens
  study/<run>.jsonl           the metrics of every run

    python bench/study.py [--steps 8] [--seeds 0] [--eval-every 2] [--only grpo,otb]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"

# name -> (config file, extra overrides)
# name -> (config file, extra overrides), in the order they run
RUNS = {
    "grpo": ("grpo.yaml", []),  # standard GRPO: per-micro-batch generation, every sample trained
    "dash": ("dash.yaml", []),
    "quickstart": (None, []),  # the defaults: GRPO with preemptive sampling and exact zero-advantage skipping
    # tokens to the same accuracy: OTB with 4 responses per prompt against GRPO with 16
    "otb_n4": ("otb.yaml", ["rollout.prompts_per_step=4", "rollout.group_size=4"]),
    "grpo_n16": ("grpo.yaml", ["rollout.prompts_per_step=4", "rollout.group_size=16"]),
    "rlpt": ("rlpt.yaml", []),
    "otb": ("otb.yaml", []),
    "dppo": ("dppo.yaml", []),
    "dapo": ("dapo.yaml", []),
    "combined": ("combined.yaml", []),
    "dppo_topk": ("dppo_topk.yaml", []),
}
DEFAULT = [n for n in RUNS if n != "dppo_topk"]


def run(name: str, seed: int, steps: int, eval_every: int, workdir: Path) -> list[dict]:
    config, extra = RUNS[name]
    out = workdir / f"{name}-seed{seed}"
    cmd = [sys.executable, "-m", "verity.cli", "train", *([str(ROOT / "configs" / config)] if config else []), f"train.steps={steps}", f"train.seed={seed}", f"eval.every={eval_every}", f"train.output_dir={out}", "train.checkpoint_every=0", *extra]
    print("$", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return read_jsonl(out / "latest" / "metrics.jsonl")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def series(records: list[dict], key: str) -> list[tuple[int, float]]:
    return [(r["step"], r[key]) for r in records if key in r]


def cumulative(records: list[dict], key: str) -> dict[int, float]:
    """step -> running sum of ``key`` up to and including that step (0 at step 0)."""
    total, out = 0.0, {0: 0.0}
    for r in records:
        if r["step"] > 0:
            total += r.get(key, 0.0)
            out[r["step"]] = total
    return out


def first_reaching(records: list[dict], target: float, clock: dict[int, float]) -> float | None:
    for step, acc in series(records, "eval/accuracy"):
        if acc >= target - 1e-9:
            return clock[step]
    return None


def summarize(results: dict[str, list[list[dict]]]) -> str:
    def mean(xs):
        xs = [x for x in xs if x is not None]
        return sum(xs) / len(xs) if xs else float("nan")

    lines = ["| run | final held-out acc. | best held-out acc. | s / step | grad-norm var. (micro-batches) | tokens generated |", "| --- | --- | --- | --- | --- | --- |"]
    for name, seeds in results.items():
        final = mean([series(r, "eval/accuracy")[-1][1] for r in seeds])
        best = mean([max(a for _, a in series(r, "eval/accuracy")) for r in seeds])
        sps = mean([mean([x["time/step"] for x in r if "time/step" in x]) for r in seeds])
        var = mean([mean([x.get("grad_norm/micro_var") for x in r if "time/step" in x and (x.get("grad_norm/micro_batches") or 0) > 1]) for r in seeds])
        tokens = mean([sum(x.get("tokens/generated", 0) for x in r) for r in seeds])
        shown = "n/a (one micro-batch per step)" if math.isnan(var) else f"{var:.3g}"
        lines.append(f"| {name} | {final:.1%} | {best:.1%} | {sps:.1f} | {shown} | {tokens:,.0f} |")
    return "\n".join(lines)


def reach_lines(results: dict[str, list[list[dict]]], a: str, b: str, clock_key: str, unit: str) -> list[str]:
    """How much of ``clock_key`` a and b needed to first reach the accuracy both end at or above."""
    out = []
    for seed, (ra, rb) in enumerate(zip(results[a], results[b])):
        target = min(max(x for _, x in series(ra, "eval/accuracy")), max(x for _, x in series(rb, "eval/accuracy")))
        ta, tb = first_reaching(ra, target, cumulative(ra, clock_key)), first_reaching(rb, target, cumulative(rb, clock_key))
        ratio = f"{tb / ta:.2f}" if ta and tb else "n/a"
        out.append(f"- seed {seed}: held-out accuracy {target:.1%} first reached after {ta:,.0f} {unit} ({a}) and {tb:,.0f} {unit} ({b}); {b} / {a} = {ratio}" if ta is not None and tb is not None else f"- seed {seed}: target {target:.1%}: {a} {ta}, {b} {tb}")
    return out


def _save(fig, axes, name: str) -> None:
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / name, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)


def plot(results: dict[str, list[list[dict]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main = [n for n in results if n not in ("grpo_n16", "otb_n4") and results[n]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name in main:
        r = results[name][0]
        clock = cumulative(r, "time/step")
        pts = series(r, "eval/accuracy")
        ax1.plot([s for s, _ in pts], [a for _, a in pts], marker="o", markersize=3, label=name)
        ax2.plot([clock[s] for s, _ in pts], [a for _, a in pts], marker="o", markersize=3, label=name)
    ax1.set_xlabel("optimizer step")
    ax2.set_xlabel("training wall-clock (s, generation + scoring + update)")
    for ax in (ax1, ax2):
        ax.set_ylabel("held-out greedy accuracy")
    _save(fig, [ax1, ax2], "study-accuracy.png")

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name in main:
        pts = series(results[name][0], "grad_norm/micro_var")
        ax.plot([s for s, _ in pts], [v for _, v in pts], marker="o", markersize=3, label=name)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("variance of micro-batch gradient norms")
    ax.set_yscale("log")
    _save(fig, [ax], "study-grad-variance.png")

    if "grpo_n16" in results and "otb_n4" in results:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for name in ("grpo_n16", "otb_n4"):
            r = results[name][0]
            tokens = cumulative(r, "tokens/generated")
            pts = series(r, "eval/accuracy")
            ax.plot([tokens[s] for s, _ in pts], [a for _, a in pts], marker="o", markersize=3, label=name)
        ax.set_xlabel("generated tokens consumed")
        ax.set_ylabel("held-out greedy accuracy")
        _save(fig, [ax], "study-otb-tokens.png")


def write_report(results: dict[str, list[list[dict]]], args) -> str:
    report = ["# Algorithm study on the quickstart task\n", f"`python bench/study.py --steps {args.steps} --seeds {args.seeds} --eval-every {args.eval_every}` "
              "(SmolLM2-135M-Instruct, 'What is a + b?', 8 prompts x 8 responses per step unless named, held-out accuracy on 64 problems with greedy decoding, CPU). "
              "Seconds per step count generation, scoring and the update, not evaluation.\n", summarize(results), ""]
    if "grpo" in results and "dash" in results:
        report += ["DASH against standard GRPO, training wall-clock to the same held-out accuracy:", *reach_lines(results, "grpo", "dash", "time/step", "s"), ""]
    if "grpo_n16" in results and "otb_n4" in results:
        report += ["OTB with group size 4 against GRPO with group size 16 (4 prompts per step), generated tokens to the same held-out accuracy:", *reach_lines(results, "grpo_n16", "otb_n4", "tokens/generated", "tokens"), ""]
    text = "\n".join(report) + "\n"
    (RESULTS / "study.md").write_text(text)
    plot(results)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds")
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--only", default=",".join(DEFAULT), help="comma-separated runs: " + ", ".join(RUNS))
    parser.add_argument("--report-only", action="store_true", help="rebuild study.md and the plots from docs/results/study/*.jsonl")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(RUNS))
    if unknown:
        parser.error(f"unknown run(s) {', '.join(unknown)}: choose from {', '.join(RUNS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.report_only:
        saved = {name: [read_jsonl(RESULTS / "study" / f"{name}-seed{seed}.jsonl") for seed in seeds if (RESULTS / "study" / f"{name}-seed{seed}.jsonl").exists()] for name in names}
        print(write_report({k: v for k, v in saved.items() if v}, args))
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "study").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="verity-study-"))
    results: dict[str, list[list[dict]]] = {}
    for name in names:  # the report and plots are rewritten after every run
        results[name] = []
        for seed in seeds:
            records = run(name, seed, args.steps, args.eval_every, workdir)
            results[name].append(records)
            (RESULTS / "study" / f"{name}-seed{seed}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        report = write_report({k: v for k, v in results.items() if v}, args)
    shutil.rmtree(workdir, ignore_errors=True)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
