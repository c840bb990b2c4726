"""Verifications per second: `verity serve math` over batched gRPC vs math-verify in-process.

Both sides check the same samples on the same machine in the same run. The in-process side is one
core calling math-verify directly (parse the reference and the extracted answer as LaTeX, verify);
the service side is a real `verity serve math` subprocess with W worker processes, fed by the gRPC
client in batches. The report divides each rate by the cores it used:

    ratio per core = (service rate / W) / (in-process rate / 1)        target: >= 0.8

Usage: python bench/math_verifier.py [--samples 10000] [--workers N] [--batch 256]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time

from grpc_scoring import score_over_grpc
from rich.console import Console
from rich.progress import Progress

from contract.schema import Sample
from rewards.math.check import check_one
from serving.local import LocalServices

FORMS = [
    lambda v: f"So the answer is \\boxed{{{v}}}.",
    lambda v: f"Adding them up gives {v}.",
    lambda v: f"#### {v}",
    lambda v: f"The answer is ${v}$.",
]


def make_samples(n: int, seed: int = 0) -> list[Sample]:
    """Arithmetic-style answers in several forms; about half are wrong; fractions included."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.randint(1, 99), rng.randint(2, 12)
        if i % 3 == 0:
            reference, shown = f"\\frac{{{a}}}{{{b}}}", f"\\frac{{{a}}}{{{b}}}" if rng.random() < 0.5 else f"{a + 1}/{b}"
        else:
            reference, shown = str(a * b), str(a * b + (0 if rng.random() < 0.5 else rng.randint(1, 9)))
        out.append(Sample(id=f"b{i}", verifier="math", prompt="", reference={"answer": reference}, response=rng.choice(FORMS)(shown)))
    return out


def in_process(samples: list[Sample]) -> tuple[float, int]:
    """(seconds, number OK) for one core calling the checker directly."""
    check_one("\\boxed{1}", "1")  # warm up imports
    start = time.perf_counter()
    ok = sum(check_one(s.response, s.reference["answer"])[0] == "OK" for s in samples)
    return time.perf_counter() - start, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    console = Console()
    samples = make_samples(args.samples)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("in-process math-verify", total=None)
        t_local, ok_local = in_process(samples)
        bar.update(task, description=f"verity serve math ({args.workers} workers)")
        with LocalServices({"math"}, workers=args.workers) as endpoints:
            t_grpc, ok_grpc = asyncio.run(score_over_grpc(endpoints["math"][0], samples, args.batch))
    if ok_local != ok_grpc:
        console.print(f"[red]verdicts differ: {ok_local} OK in-process vs {ok_grpc} over gRPC[/]")
    rate_local, rate_grpc = args.samples / t_local, args.samples / t_grpc
    ratio = (rate_grpc / args.workers) / rate_local
    console.print(f"samples {args.samples}, OK {ok_local} in-process / {ok_grpc} gRPC")
    console.print(f"in-process (1 core):           {rate_local:8.0f} verifications/s")
    console.print(f"gRPC service ({args.workers} workers):      {rate_grpc:8.0f} verifications/s")
    console.print(f"ratio per core used (target >= 0.8): {ratio:.2f}")


if __name__ == "__main__":
    main()
