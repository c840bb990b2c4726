"""verity against TRL's GRPOTrainer on the same CPU run, measured side by side.

Both train SmolLM2-135M-Instruct on the quickstart task ('What is a + b?', boxed answer, verity's
math check as the reward) with the same prompts in the same order, group size, prompts per step,
max new tokens, learning rate (constant), temperature, seed, loss (token-mean over the step, no
KL, one update per batch) and threads, one after the other on this machine; each side's held-out
greedy accuracy on the same 64 problems is taken every ``--eval-every`` steps, outside the timed
steps. TRL runs in its own virtual environment (made on first use, pinned to TRL 1.16 and to this
environment's torch / transformers / accelerate / math-verify versions).

Reported, as ratios verity / TRL: median seconds per step, generated tokens per second (rollout
phase), peak resident memory (ru_maxrss of the run's process), held-out accuracy after the same
steps, and training wall-clock to a held-out accuracy of ``--target``. Writes vs-trl.md, vs-trl.json
and vs-trl.png (held-out accuracy against training wall-clock) to ``--out``.

    python bench/vs_trl.py [--steps 16] [--eval-every 2] [--target 0.6] [--out docs/results]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn  # noqa: E402

from trainer.config import Config  # noqa: E402
from trainer.data.arithmetic import arithmetic_splits  # noqa: E402
from trainer.data.sampler import EpochSampler  # noqa: E402
from trainer.model import load_tokenizer, resolve_model_path  # noqa: E402
from trainer.scoring import encode_prompt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRL = "trl==1.16.*"
console = Console(stderr=True)


@dataclass
class Run:
    """One side's record: per-step timings and held-out accuracy at the evaluated steps."""

    name: str
    steps: list[dict] = field(default_factory=list)  # step, time/step, time/generate, tokens/generated
    evals: list[dict] = field(default_factory=list)  # step, eval/accuracy (step 0: before training)
    peak_rss_mb: float = 0.0
    wall_s: float = 0.0  # the whole process: start-up, training and evaluation

    def median_step_s(self) -> float:
        return statistics.median(s["time/step"] for s in self.steps)

    def tokens_per_s(self) -> float:
        return sum(s["tokens/generated"] for s in self.steps) / sum(s["time/generate"] for s in self.steps)

    def final_accuracy(self) -> float:
        return self.evals[-1]["eval/accuracy"]

    def curve(self) -> list[tuple[float, float]]:
        """(training seconds so far, held-out accuracy) at each evaluation."""
        elapsed = {0: 0.0}
        for s in self.steps:
            elapsed[s["step"]] = elapsed[s["step"] - 1] + s["time/step"]
        return [(elapsed[e["step"]], e["eval/accuracy"]) for e in self.evals]

    def seconds_to(self, target: float) -> float | None:
        return next((t for t, acc in self.curve() if acc >= target), None)


def run_process(cmd: list[str], log: Path, steps_done, total: int, label: str, env: dict | None = None) -> tuple[float, float]:
    """Run to completion with output to ``log``, a progress bar fed by ``steps_done()``; (peak RSS
    of the process in MB, wall seconds)."""
    start = time.perf_counter()
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("steps"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with log.open("w") as out, Progress(*columns, console=console) as bar:
        task = bar.add_task(label, total=total)
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            bar.update(task, completed=steps_done())
            time.sleep(2)
        bar.update(task, completed=steps_done())
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{label} failed (exit {os.waitstatus_to_exitcode(status)}); its output is in {log}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def lines_with(path: Path, text: str) -> int:
    """How many lines of ``path`` contain ``text`` (0 while it does not exist)."""
    return sum(text in line for line in path.read_text().splitlines()) if path.exists() else 0


def trl_python(venv: Path) -> Path:
    """TRL's interpreter; the virtual environment is made and filled on first use."""
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import trl"], capture_output=True).returncode == 0:
        return python
    pins = [TRL] + [f"{p}=={importlib.metadata.version(p)}" for p in ("torch", "transformers", "accelerate", "math-verify")]
    console.print(f"installing {', '.join(pins)} into {venv} (about a minute)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", *pins], check=True)
    return python


def task_spec(args, cfg: Config, work: Path) -> dict:
    """What both sides train on: verity's sampling order of the training prompts, the tokenized
    held-out prompts, and the shared hyperparameters (verity's defaults)."""
    a, r = cfg.data.arithmetic, cfg.rollout
    train, test = arithmetic_splits(a.low, a.high, a.test_size, a.seed)
    ordered = EpochSampler(train, cfg.train.seed).next_batch(args.steps * r.prompts_per_step)
    tokenizer = load_tokenizer(cfg.model.path)
    return {
        "model": resolve_model_path(cfg.model.path),
        "seed": cfg.train.seed,
        "threads": args.threads,
        "steps": args.steps,
        "eval_every": args.eval_every,
        "micro_batch_size": cfg.train.micro_batch_size,
        "prompts_per_step": r.prompts_per_step,
        "group_size": r.group_size,
        "max_new_tokens": r.max_new_tokens,
        "temperature": r.temperature,
        "lr": cfg.optim.lr,
        "grad_clip": cfg.optim.grad_clip,
        "output_dir": str(work / "trl"),
        "train": [{"messages": [m.model_dump() for m in s.prompt], "answer": s.reference["answer"]} for s in ordered],
        "test": {"prompt_ids": [encode_prompt(tokenizer, s, True) for s in test], "answers": [s.reference["answer"] for s in test]},
    }


def run_verity(args, work: Path) -> Run:
    out = work / "verity"
    overrides = [f"train.steps={args.steps}", f"eval.every={args.eval_every}", f"train.output_dir={out}", "train.checkpoint_every=0", f"train.threads={args.threads}"]
    console.print(f"verity train {' '.join(overrides)}")
    metrics = out / "metrics.jsonl"
    metrics.unlink(missing_ok=True)
    rss, wall = run_process([sys.executable, "-m", "verity.cli", "train", *overrides], work / "verity.log", lambda: lines_with(metrics, '"time/step"'), args.steps, "verity")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [{k: r[k] for k in ("step", "time/step", "time/generate", "tokens/generated")} for r in rows if "time/step" in r]
    evals = [{"step": r["step"], "eval/accuracy": r["eval/accuracy"]} for r in rows if "eval/accuracy" in r]
    return Run("verity", steps, evals, rss, wall)


def run_trl(args, spec: dict, work: Path) -> Run:
    python = trl_python(args.trl_venv)
    (work / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    log = work / "trl.log"
    rss, wall = run_process([str(python), str(ROOT / "bench" / "trl_worker.py"), str(work / "spec.json"), str(work / "trl.json")], log, lambda: lines_with(log, "trl step "), args.steps, "TRL", env)
    record = json.loads((work / "trl.json").read_text())
    return Run("TRL", record["steps"], record["evals"], rss, wall)


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def seconds(x: float | None) -> str:
    return f"{x:.0f} s" if x is not None else "not reached"


def report(args, verity: Run, trl: Run, command: str) -> str:
    v_to, t_to = verity.seconds_to(args.target), trl.seconds_to(args.target)
    rows = [
        ("seconds per step (median)", f"{verity.median_step_s():.1f}", f"{trl.median_step_s():.1f}", ratio(verity.median_step_s(), trl.median_step_s())),
        ("generated tokens per second", f"{verity.tokens_per_s():.0f}", f"{trl.tokens_per_s():.0f}", ratio(verity.tokens_per_s(), trl.tokens_per_s())),
        ("peak resident memory (MB)", f"{verity.peak_rss_mb:.0f}", f"{trl.peak_rss_mb:.0f}", ratio(verity.peak_rss_mb, trl.peak_rss_mb)),
        (f"held-out accuracy after {args.steps} steps", f"{verity.final_accuracy():.1%}", f"{trl.final_accuracy():.1%}", ratio(verity.final_accuracy(), trl.final_accuracy())),
        (f"training wall-clock to {args.target:.0%} held-out", seconds(v_to), seconds(t_to), ratio(v_to, t_to)),
    ]
    lines = [
        "# verity against TRL's GRPOTrainer, same CPU run",
        "",
        f"`{command}`",
        "",
        f"SmolLM2-135M-Instruct, 'What is a + b?' (a, b in 1..30), {args.steps} steps of 8 prompts x 8 responses, 40 new tokens, temperature 1, AdamW lr 1e-5 constant, token-mean loss, no KL, one update per batch, micro-batch 16, seed 0; the same prompts in the same order on both sides; held-out greedy accuracy on the same 64 problems every {args.eval_every} steps (not timed). TRL 1.16 with gradient checkpointing off (its default is on; verity does not checkpoint) and float32, like verity. Machine: {os.cpu_count()} CPU cores.",
        "",
        "| measure | verity | TRL | verity / TRL |",
        "| --- | --- | --- | --- |",
        *[f"| {name} | {v} | {t} | {r} |" for name, v, t, r in rows],
        "",
        f"Whole process, start-up and evaluations included: verity {verity.wall_s:.0f} s, TRL {trl.wall_s:.0f} s.",
        "",
        "Held-out accuracy by step (training seconds so far):",
        "",
        "| step | verity | TRL |",
        "| --- | --- | --- |",
    ]
    curves = [{e["step"]: point for e, point in zip(run.evals, run.curve())} for run in (verity, trl)]
    for step in sorted(set(curves[0]) | set(curves[1])):
        cells = [f"{c[step][1]:.1%} ({c[step][0]:.0f} s)" if step in c else "" for c in curves]
        lines.append(f"| {step} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def plot(verity: Run, trl: Run, target: float, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run, style in ((verity, "o-"), (trl, "s--")):
        t, acc = zip(*run.curve())
        ax.plot([x / 60 for x in t], acc, style, label=f"{run.name} ({run.median_step_s():.0f} s/step)")
    ax.axhline(target, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("training wall-clock (min, evaluation excluded)")
    ax.set_ylabel("held-out greedy accuracy (64 problems)")
    ax.set_title("SmolLM2-135M on a + b, 8 x 8 rollouts per step, CPU")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--target", type=float, default=0.6, help="held-out accuracy whose training wall-clock is compared")
    parser.add_argument("--threads", type=int, default=0, help="torch threads on both sides (0: torch's default)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "vs_trl", help="run folders, logs and the spec")
    parser.add_argument("--trl-venv", type=Path, default=Path.home() / ".cache" / "verity" / "trl-1.16-venv")
    args = parser.parse_args()
    if args.steps < 1 or args.eval_every < 1:
        parser.error("--steps and --eval-every must be at least 1")
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    spec = task_spec(args, Config(), args.work)
    verity = run_verity(args, args.work)
    console.print(f"verity: {verity.median_step_s():.1f} s/step, held-out {verity.final_accuracy():.1%}")
    trl = run_trl(args, spec, args.work)
    console.print(f"TRL: {trl.median_step_s():.1f} s/step, held-out {trl.final_accuracy():.1%}")
    command = "python bench/vs_trl.py " + " ".join(sys.argv[1:])
    text = report(args, verity, trl, command.strip())
    (args.out / "vs-trl.md").write_text(text)
    (args.out / "vs-trl.json").write_text(json.dumps({"verity": verity.__dict__, "trl": trl.__dict__}, indent=1))
    plot(verity, trl, args.target, args.out / "vs-trl.png")
    print(text)


if __name__ == "__main__":
    main()
