"""Seconds per step and memory per process: one process against N processes of one thread each
(data-parallel with ddp, and sharded with fsdp), on the same global batch.

Every run is ``verity train`` with the quickstart defaults (8 prompts x 8 responses a step),
evaluation off, through real local gRPC services, launched by torchrun on this machine, one after
the other; each process uses one torch thread, so N processes use N cores. Reported: the median
``time/step`` over the steps after the first (which warms caches), each phase's median
(generate, score, backward: the slowest process's), the ratio N / 1, the largest process's
parameters and AdamW state in MiB (gradients take as much as parameters), and whether the runs
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
MEMORY = ["memory/parameters_mb", "memory/optimizer_mb"]


def run(processes: int, steps: int, work: Path, parallel: str = "ddp") -> list[dict]:
    out = work / f"p{processes}-{parallel}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), "-m", "verity.cli", "train",
           f"train.steps={steps}", "train.threads=1", "train.device=cpu", "eval.before=false", "eval.after=false", "train.checkpoint_every=0", f"train.parallel={parallel}", f"train.output_dir={out}"]  # fmt: skip
    print(f"$ {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return [json.loads(line) for line in (out / "latest" / "metrics.jsonl").read_text().splitlines()]


def median(records: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in records[1:])


def report(runs: dict[str, list[dict]], processes: int, steps: int) -> str:
    names = list(runs)
    lines = [
        "# Scale-out on this machine: one process against several",
        "",
        f"`python bench/scale_out.py --processes {processes} --steps {steps}`: the quickstart's step (8 prompts x 8 responses,",
        "40 new tokens) under torchrun, one torch thread per process, median over steps 2..N; memory is the",
        "largest process's.",
        "",
        "| measure | " + " | ".join(names) + " | " + " | ".join(f"{n} / {names[0]}" for n in names[1:]) + " |",
        "| --- | " + " | ".join("---" for _ in names) + " | " + " | ".join("---" for _ in names[1:]) + " |",
    ]
    for key in PHASES + MEMORY:
        values = [median(runs[n], key) for n in names]
        lines.append(f"| {key} | " + " | ".join(f"{v:.1f}" for v in values) + " | " + " | ".join(f"{v / values[0]:.2f}" for v in values[1:]) + " |")
    first = runs[names[0]][0]
    same = all(all(r[0][k] == first[k] for k in ("reward/mean", "tokens/generated", "scoring/ok")) for r in runs.values())
    lines += ["", f"The first step sampled the same in every run (reward, tokens generated, OK count): {'yes' if same else 'NO'}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None, help="also write the report here (markdown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="verity-scale-") as work:
        runs = {
            "1 process": run(1, args.steps, Path(work)),
            f"{args.processes} ddp": run(args.processes, args.steps, Path(work), "ddp"),
            f"{args.processes} fsdp": run(args.processes, args.steps, Path(work), "fsdp"),
        }
    text = report(runs, args.processes, args.steps)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
