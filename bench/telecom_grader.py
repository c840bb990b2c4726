"""Grades per second: `verity serve telecom` over batched gRPC vs the same grader in-process.

Both sides grade the same samples on the same machine in the same run, alternating over rounds:
in-process is one thread calling the grader directly; the service is a real `verity serve
telecom` subprocess (one grading thread) fed by the gRPC client in batches. The samples are the
generated telecom questions with responses in the forms models write: a boxed option or value,
a distractor, an "answer is" line with a unit to convert, free text, and a hedge.

    ratio = service rate / in-process rate        (1.0: gRPC costs nothing)

Usage: python bench/telecom_grader.py [--samples 10000] [--batch 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from grpc_scoring import score_over_grpc
from rich.console import Console
from rich.progress import Progress

from contract.schema import Sample
from rewards.telecom.service import grade
from rewards.verifier import Request
from serving.local import LocalServices
from trainer.data.telecom import telecom_splits


def response(reference: dict, rng: random.Random) -> str:
    """A right, wrong or hedged response of a form models write."""
    kind, form = reference["kind"], rng.randrange(5)
    if kind == "mcq":
        k, n = reference["answer"], len(reference["options"])
        return [f"\\boxed{{{k}}}", f"\\boxed{{{k % n + 1}}}", f"The answer is {reference['options'][k - 1]}.", f"So option {chr(64 + k)}.", f"either {k} or {k % n + 1}"][form]
    if kind == "label":
        return [f"\\boxed{{{reference['answer']}}}", "\\boxed{FR1}", f"It lies in {reference['answer']}.", "Answer: FR2", "FR1 or FR2"][form]
    value, unit = reference["answer"], reference["unit"]
    return [
        f"Working it out step by step, the result is \\boxed{{{value:.4g} {unit}}}.",
        f"\\boxed{{{value * 1.3 + 1:.4g}}}",
        f"The answer is {value:.5g}\\,\\text{{{unit}}}",
        f"Using the formula, x = 2 * 3 = {value:.4g} {unit}. Done.",
        f"either {value:.4g} {unit} or {value + 5:.4g} {unit}",
    ][form]


def make_samples(n: int, seed: int = 0) -> list[Sample]:
    rng = random.Random(seed)
    train, _ = telecom_splits(train_size=min(n, 2000), test_size=10, seed=seed)
    return [Sample(id=f"t{i}", verifier="telecom", prompt="", reference=(s := train[i % len(train)]).reference, response=response(s.reference, rng)) for i in range(n)]


def in_process(samples: list[Sample]) -> tuple[float, int]:
    start = time.perf_counter()
    ok = sum(grade(Request(s.id, s.reference, s.response)).status.value == "OK" for s in samples)
    return time.perf_counter() - start, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    console = Console()
    samples = make_samples(args.samples)
    local_rates, grpc_rates, oks = [], [], set()
    with Progress(console=console, transient=True) as bar, LocalServices({"telecom"}) as endpoints:
        task = bar.add_task("grading", total=2 * args.rounds)
        for r in range(args.rounds):
            for side in ("local", "grpc") if r % 2 == 0 else ("grpc", "local"):
                if side == "local":
                    seconds, ok = in_process(samples)
                    local_rates.append(args.samples / seconds)
                else:
                    seconds, ok = asyncio.run(score_over_grpc(endpoints["telecom"][0], samples, args.batch))
                    grpc_rates.append(args.samples / seconds)
                oks.add(ok)
                bar.advance(task)
    if len(oks) != 1:
        console.print(f"[red]verdicts differ between runs: {sorted(oks)} OK[/]")
    ratios = [g / loc for g, loc in zip(grpc_rates, local_rates)]
    console.print(f"samples {args.samples} ({oks.pop()} OK), batch {args.batch}, {args.rounds} rounds (median, range)")
    console.print(f"in-process (1 thread):    {statistics.median(local_rates):8.0f} grades/s  ({min(local_rates):.0f}-{max(local_rates):.0f})")
    console.print(f"gRPC service (1 thread):  {statistics.median(grpc_rates):8.0f} grades/s  ({min(grpc_rates):.0f}-{max(grpc_rates):.0f})")
    console.print(f"ratio gRPC / in-process:  {statistics.median(ratios):8.2f}        ({min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
