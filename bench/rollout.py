"""Generated tokens per second of the hf and vllm rollout engines, side by side in one run.

Both engines get the same prompts (the quickstart's arithmetic questions in the chat template),
the same sampling settings (temperature 1, max_new_tokens) and the same machine, at two batch
sizes (prompts per generate call); rounds alternate the order. vLLM's start-up (engine build and
warm-up) is reported apart and not counted.

    ratio = vllm tokens/s / hf tokens/s

Usage: python bench/rollout.py [--batches 8 64] [--max-new-tokens 64] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

from rich.console import Console
from rich.progress import Progress

from trainer.data.arithmetic import arithmetic_splits
from trainer.model import load_model, load_tokenizer, resolve_model_path
from trainer.prompts import encode_prompt
from trainer.rollout.base import SamplingParams
from trainer.rollout.hf import HFEngine

MODEL = "smollm2-135m-instruct"


def tokens_per_second(engine, prompts: list[list[int]], params: SamplingParams) -> float:
    start = time.perf_counter()
    rollouts = engine.generate(prompts, params)
    return sum(len(r.response_ids) for r in rollouts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    console = Console(width=120)
    from trainer.rollout.vllm import VLLMEngine

    tokenizer, model = load_tokenizer(MODEL), load_model(MODEL).eval()
    train, _ = arithmetic_splits()
    prompts = [encode_prompt(tokenizer, s, True) for s in train[: max(args.batches)]]
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=1.0)
    start = time.perf_counter()
    engines = {"hf": HFEngine(model, tokenizer, batch_size=max(args.batches)), "vllm": VLLMEngine(resolve_model_path(MODEL), "float32", max_model_len=512)}
    engines["vllm"].generate(prompts[:2], params)  # warm-up
    startup = time.perf_counter() - start
    rates: dict[tuple[str, int], list[float]] = {(e, b): [] for e in engines for b in args.batches}
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("generating", total=args.rounds * len(rates))
        for r in range(args.rounds):
            for name in list(engines) if r % 2 == 0 else list(reversed(engines)):
                for batch in args.batches:
                    rates[name, batch].append(tokens_per_second(engines[name], prompts[:batch], params))
                    bar.advance(task)
    console.print(f"{MODEL}, max_new_tokens {args.max_new_tokens}, temperature 1, {args.rounds} rounds (median); vllm start-up {startup:.0f} s (not counted)")
    for batch in args.batches:
        hf, vllm = statistics.median(rates["hf", batch]), statistics.median(rates["vllm", batch])
        console.print(f"batch {batch:>3}: hf {hf:8.1f} tokens/s   vllm {vllm:8.1f} tokens/s   ratio vllm / hf {vllm / hf:6.2f}")


if __name__ == "__main__":
    main()
