"""Seconds per step of one process against N processes of one thread each, on the same global batch.

Both runs are ``verity train`` with the quickstart defaults (8 prompts x 8 responses a step),
evaluation off, through real local gRPC services, launched by torchrun on this machine, one after
the other; each process uses one torch thread, so N processes use N cores. Reported: the median
``time/step`` over the steps after the first (which warms caches), each phase's median
(generate, score, backward: the slowest process's), the ratio N / 1, and whether the two runs
sampled the same first step (they must: sampling noise is per response).

    python bench/scale_out.py [--processes 2] [--steps 4] [--out docs/results/scale-out.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ["time/step", "time/generate", "time/score", "time/backward"]


def run(processes: int, steps: int, work: Path) -> list[dict]:
    out = work / f"p{processes}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), "-m", "verity.cli", "train",
           f"train.steps={steps}", "train.threads=1", "train.device=cpu", "eval.before=false", "eval.after=false", "train.checkpoint_every=0", f"train.output_dir={out}"]  # fmt: skip
    print(f"$ {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def median(records: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in records[1:])


def report(one: list[dict], many: list[dict], processes: int, steps: int) -> str:
    lines = [
        "# Scale-out on this machine: one process against several",
        "",
        f"`python bench/scale_out.py --processes {processes} --steps {steps}`: the quickstart's step (8 prompts x 8 responses,",
        "40 new tokens) under torchrun, one torch thread per process, median over steps 2..N.",
        "",
        f"| seconds (median) | 1 process | {processes} processes | {processes} / 1 |",
        "| --- | --- | --- | --- |",
    ]
    for key in PHASES:
        a, b = median(one, key), median(many, key)
        lines.append(f"| {key} | {a:.1f} | {b:.1f} | {b / a:.2f} |")
    same = all(one[0][k] == many[0][k] for k in ("reward/mean", "tokens/generated", "scoring/ok"))
    lines += ["", f"First step sampled the same in both runs (reward, tokens generated, OK count): {'yes' if same else 'NO'}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None, help="also write the report here (markdown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="verity-scale-") as work:
        one = run(1, args.steps, Path(work))
        many = run(args.processes, args.steps, Path(work))
    text = report(one, many, args.processes, args.steps)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
