"""verity against TRL's GRPOTrainer on the same CPU run, measured side by side.

Both train SmolLM2-135M-Instruct on the quickstart task ('What is a + b?', boxed answer, verity's
math check as the reward) with the same prompts in the same order, group size, prompts per step,
max new tokens, learning rate (constant), temperature, seed, loss (token-mean over the step, no
KL, one update per batch) and threads, one after the other on this machine; each side's held-out
greedy accuracy on the same 64 problems is taken every ``--eval-every`` steps, outside the timed
steps. Each of ``--seeds`` is one such pair of runs (the seed sets the prompt order, the sampling
and both sides' torch seed), so sampling luck can be told apart from method. TRL runs in its own
virtual environment (made on first use, pinned to TRL 1.16 and to this environment's torch /
transformers / accelerate / math-verify versions).

Reported, as ratios verity / TRL, each side's median over seeds of: median seconds per step,
generated tokens per second (rollout phase), peak resident memory (ru_maxrss of the run's process)
and training wall-clock to a held-out accuracy of ``--target``; and the mean over seeds of held-out
accuracy after the same steps. Writes vs-trl.md, vs-trl.json and vs-trl.png (held-out accuracy
against training wall-clock and against step, every seed) to ``--out``. ``--reuse`` keeps the runs
already finished in ``--work`` with the same settings (a stopped benchmark goes on where it was);
``--from-json`` only re-renders the report and plot of an earlier vs-trl.json.

    python bench/vs_trl.py [--seeds 0 1 2] [--steps 16] [--eval-every 2] [--target 0.6] [--reuse]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn  # noqa: E402

from trainer.config import Config, load_config  # noqa: E402
from trainer.data.arithmetic import arithmetic_splits  # noqa: E402
from trainer.data.sampler import EpochSampler  # noqa: E402
from trainer.model import load_tokenizer, resolve_model_path  # noqa: E402
from trainer.prompts import encode_prompt  # noqa: E402

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
    """What both sides train on: verity's sampling order of the training prompts (for ``cfg``'s
    seed), the tokenized held-out prompts, and the shared hyperparameters (verity's defaults)."""
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


def run_verity(args, seed: int, work: Path) -> Run:
    out = work / "verity"
    overrides = [f"train.seed={seed}", f"train.steps={args.steps}", f"eval.every={args.eval_every}", f"train.output_dir={out}", "train.checkpoint_every=0", f"train.threads={args.threads}"]
    console.print(f"verity train {' '.join(overrides)}")
    metrics = out / "latest" / "metrics.jsonl"
    metrics.unlink(missing_ok=True)
    rss, wall = run_process([sys.executable, "-m", "verity.cli", "train", *overrides], work / "verity.log", lambda: lines_with(metrics, '"time/step"'), args.steps, f"verity, seed {seed}")
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    steps = [{k: r[k] for k in ("step", "time/step", "time/generate", "tokens/generated")} for r in rows if "time/step" in r]
    evals = [{"step": r["step"], "eval/accuracy": r["eval/accuracy"]} for r in rows if "eval/accuracy" in r]
    return Run("verity", steps, evals, rss, wall)


def run_trl(args, seed: int, work: Path) -> Run:
    python = trl_python(args.trl_venv)
    spec = task_spec(args, load_config(None, [f"train.seed={seed}"]), work)
    (work / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    log = work / "trl.log"
    rss, wall = run_process([str(python), str(ROOT / "bench" / "trl_worker.py"), str(work / "spec.json"), str(work / "trl.json")], log, lambda: lines_with(log, "trl step "), args.steps, f"TRL, seed {seed}", env)
    record = json.loads((work / "trl.json").read_text())
    return Run("TRL", record["steps"], record["evals"], rss, wall)


def run_side(args, seed: int, side: str) -> Run:
    """One side's run of one seed, or (``--reuse``) the one already finished in ``--work`` with the
    same settings; each finished run is kept there as ``seed<N>/<side>.run.json``."""
    work = args.work / f"seed{seed}"
    work.mkdir(parents=True, exist_ok=True)
    kept = work / f"{side}.run.json"
    wanted = {"seed": seed, "steps": args.steps, "eval_every": args.eval_every, "threads": args.threads}
    if args.reuse and kept.exists() and (record := json.loads(kept.read_text()))["settings"] == wanted:
        console.print(f"seed {seed}: {side} run reused from {kept}")
        return Run(**record["run"])
    run = (run_verity if side == "verity" else run_trl)(args, seed, work)
    kept.write_text(json.dumps({"settings": wanted, "run": asdict(run)}))
    return run


def median_time(values: list[float | None]) -> float | None:
    """Median of times to the target, a run that never reached it counting as later than any; None
    when the median run did not reach it."""
    middle = statistics.median(math.inf if v is None else v for v in values)
    return None if math.isinf(middle) else middle


@dataclass
class Comparison:
    """Both sides' runs, one pair per seed, and what the report compares."""

    settings: dict  # steps, eval_every, target, threads, cpus, command
    seeds: list[int]
    verity: list[Run]
    trl: list[Run]

    def sides(self) -> tuple[tuple[str, list[Run]], tuple[str, list[Run]]]:
        return ("verity", self.verity), ("TRL", self.trl)

    def to_json(self) -> dict:
        return {"settings": self.settings, "seeds": [{"seed": s, "verity": asdict(v), "trl": asdict(t)} for s, v, t in zip(self.seeds, self.verity, self.trl)]}

    @classmethod
    def from_json(cls, record: dict) -> Comparison:
        pairs = record["seeds"]
        return cls(record["settings"], [p["seed"] for p in pairs], [Run(**p["verity"]) for p in pairs], [Run(**p["trl"]) for p in pairs])

    @staticmethod
    def accuracy_by_step(runs: list[Run]) -> dict[int, list[float]]:
        """step -> held-out accuracy of each seed's run evaluated there."""
        table: dict[int, list[float]] = {}
        for run in runs:
            for e in run.evals:
                table.setdefault(e["step"], []).append(e["eval/accuracy"])
        return table

    def headline(self) -> list[tuple[str, float | None, float | None, str]]:
        """(measure, verity, TRL, how the value is shown): medians over seeds, accuracy a mean."""
        s, target = self.settings, self.settings["target"]
        measures = [
            ("seconds per step (median)", lambda runs: statistics.median(r.median_step_s() for r in runs), "{:.1f}"),
            ("generated tokens per second", lambda runs: statistics.median(r.tokens_per_s() for r in runs), "{:.0f}"),
            ("peak resident memory (MB)", lambda runs: statistics.median(r.peak_rss_mb for r in runs), "{:.0f}"),
            (f"held-out accuracy after {s['steps']} steps (mean)", lambda runs: statistics.fmean(r.final_accuracy() for r in runs), "{:.1%}"),
            (f"training wall-clock to {target:.0%} held-out", lambda runs: median_time([r.seconds_to(target) for r in runs]), "{:.0f} s"),
        ]
        return [(name, of(self.verity), of(self.trl), shown) for name, of, shown in measures]

    def paired(self) -> dict[str, list[float]]:
        """Each seed's verity accuracy minus TRL's (same prompts, same seed): after the last step,
        and averaged over every evaluation after step 0."""

        def trained(run: Run) -> list[float]:
            return [e["eval/accuracy"] for e in run.evals if e["step"] > 0]

        return {
            f"after {self.settings['steps']} steps": [v.final_accuracy() - t.final_accuracy() for v, t in zip(self.verity, self.trl)],
            "averaged over the evaluations": [statistics.fmean(trained(v)) - statistics.fmean(trained(t)) for v, t in zip(self.verity, self.trl)],
        }


def mean_and_error(values: list[float]) -> tuple[float, float]:
    """The mean and its standard error (sample standard deviation / sqrt(n); 0 for one value)."""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), spread / math.sqrt(len(values))


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def shown(value: float | None, fmt: str) -> str:
    """``value`` in ``fmt``; None is a target not reached."""
    return fmt.format(value) if value is not None else "not reached"


def report(c: Comparison) -> str:
    s, target = c.settings, c.settings["target"]
    lines = [
        "# verity against TRL's GRPOTrainer, same CPU run",
        "",
        f"`{s['command']}`",
        "",
        f"SmolLM2-135M-Instruct, 'What is a + b?' (a, b in 1..30), {s['steps']} steps of 8 prompts x 8 responses, 40 new tokens, temperature 1, AdamW lr 1e-5 constant, token-mean loss, no KL, one update per batch, micro-batch 16; the same prompts in the same order on both sides; held-out greedy accuracy on the same 64 problems every {s['eval_every']} steps (not timed). TRL 1.16 with gradient checkpointing off (its default is on; verity does not checkpoint) and float32, like verity. Seeds {', '.join(map(str, c.seeds))}: each seed sets the prompt order, the sampling and the torch seed, the same on both sides. Machine: {s['cpus']} CPU cores.",
        "",
        f"Each side's median over the {len(c.seeds)} seeds (held-out accuracy: the mean):",
        "",
        "| measure | verity | TRL | verity / TRL |",
        "| --- | --- | --- | --- |",
        *[f"| {name} | {shown(v, fmt)} | {shown(t, fmt)} | {ratio(v, t)} |" for name, v, t, fmt in c.headline()],
        "",
        f"Whole processes, start-up and evaluations included: verity {sum(r.wall_s for r in c.verity):.0f} s, TRL {sum(r.wall_s for r in c.trl):.0f} s.",
        "",
        "Each seed:",
        "",
        f"| seed | s/step verity | s/step TRL | accuracy after {s['steps']} steps, verity | TRL | to {target:.0%}, verity | TRL | verity / TRL |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for seed, v, t in zip(c.seeds, c.verity, c.trl):
        v_to, t_to = v.seconds_to(target), t.seconds_to(target)
        lines.append(f"| {seed} | {v.median_step_s():.1f} | {t.median_step_s():.1f} | {v.final_accuracy():.1%} | {t.final_accuracy():.1%} | {shown(v_to, '{:.0f} s')} | {shown(t_to, '{:.0f} s')} | {ratio(v_to, t_to)} |")
    lines += ["", "verity's held-out accuracy minus TRL's, seed by seed (percentage points; the mean with its standard error over seeds):", ""]
    for name, diffs in c.paired().items():
        mean, error = mean_and_error(diffs)
        lines.append(f"- {name}: {' / '.join(f'{100 * d:+.1f}' for d in diffs)}; mean {100 * mean:+.1f} +/- {100 * error:.1f}")
    lines += ["", "Held-out accuracy by step, mean over seeds (each seed's in brackets):", "", "| step | verity | TRL |", "| --- | --- | --- |"]
    tables = [c.accuracy_by_step(runs) for _, runs in c.sides()]
    for step in sorted(set(tables[0]) | set(tables[1])):
        cells = [f"{statistics.fmean(t[step]):.1%} ({' / '.join(f'{a:.0%}' for a in t[step])})" if step in t else "" for t in tables]
        lines.append(f"| {step} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def plot(c: Comparison, path: Path) -> None:
    fig, (by_time, by_step) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for (name, runs), color in zip(c.sides(), ("tab:blue", "tab:orange")):
        for k, run in enumerate(runs):
            t, acc = zip(*run.curve())
            label = f"{name} ({statistics.median(r.median_step_s() for r in runs):.0f} s/step)" if k == 0 else None
            by_time.plot([x / 60 for x in t], acc, "o-", color=color, alpha=0.75, ms=3, label=label)
            by_step.plot([e["step"] for e in run.evals], acc, "o-", color=color, alpha=0.75, ms=3, label=name if k == 0 else None)
    for ax, xlabel in ((by_time, "training wall-clock (min, evaluation excluded)"), (by_step, "optimizer step")):
        ax.axhline(c.settings["target"], color="grey", lw=0.8, ls=":")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.legend()
    by_time.set_ylabel("held-out greedy accuracy (64 problems)")
    fig.suptitle(f"SmolLM2-135M on a + b, 8 x 8 rollouts per step, CPU; one line per seed ({len(c.seeds)} seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(c: Comparison, out: Path) -> str:
    text = report(c)
    (out / "vs-trl.md").write_text(text)
    (out / "vs-trl.json").write_text(json.dumps(c.to_json(), indent=1))
    plot(c, out / "vs-trl.png")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one verity run and one TRL run per seed")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--target", type=float, default=0.6, help="held-out accuracy whose training wall-clock is compared")
    parser.add_argument("--threads", type=int, default=0, help="torch threads on both sides (0: torch's default)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "vs_trl", help="run folders, logs and specs, one folder per seed")
    parser.add_argument("--trl-venv", type=Path, default=Path.home() / ".cache" / "verity" / "trl-1.16-venv")
    parser.add_argument("--reuse", action="store_true", help="keep runs already finished in --work with the same settings")
    parser.add_argument("--from-json", type=Path, help="only re-render the report and plot of this vs-trl.json into --out")
    args = parser.parse_args()
    if args.steps < 1 or args.eval_every < 1 or not 0 < args.target <= 1:
        parser.error("--steps and --eval-every must be at least 1, and --target in (0, 1]")
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds must differ from each other (got {args.seeds})")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.from_json:
        print(write(Comparison.from_json(json.loads(args.from_json.read_text())), args.out))
        return
    verity, trl = [], []
    for seed in args.seeds:
        verity.append(run_side(args, seed, "verity"))
        trl.append(run_side(args, seed, "trl"))
        console.print(f"seed {seed}: verity {verity[-1].median_step_s():.1f} s/step, held-out {verity[-1].final_accuracy():.1%}; TRL {trl[-1].median_step_s():.1f} s/step, held-out {trl[-1].final_accuracy():.1%}")
    command = " ".join(["python bench/vs_trl.py", *sys.argv[1:]])
    settings = {"steps": args.steps, "eval_every": args.eval_every, "target": args.target, "threads": args.threads, "cpus": os.cpu_count(), "command": command}
    print(write(Comparison(settings, args.seeds, verity, trl), args.out))


if __name__ == "__main__":
    main()
