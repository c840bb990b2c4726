"""The built-in task: "What is a + b?" with a boxed answer, scored by the math verifier.

Small models get this wrong often enough (SmolLM2-135M-Instruct: about 30% greedy) for RL to show a
real gain within minutes on a CPU. Every (a, b) pair with low <= a, b <= high is enumerated,
shuffled with the seed, and split so that no pair is in both train and test.
"""

from __future__ import annotations

import random

from contract.schema import ChatMessage, Sample

PROMPT = "What is {a} + {b}? Put the final answer in \\boxed{{}}."


def arithmetic_splits(low: int = 1, high: int = 30, test_size: int = 64, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """(train, test) samples; test_size problems are held out."""
    pairs = [(a, b) for a in range(low, high + 1) for b in range(low, high + 1)]
    if test_size >= len(pairs):
        raise ValueError(f"data.arithmetic.test_size={test_size} leaves no training problems out of {len(pairs)}: lower it or widen low..high")
    random.Random(seed).shuffle(pairs)

    def sample(split: str, i: int, a: int, b: int) -> Sample:
        return Sample(
            id=f"arith-{split}-{i}",
            verifier="math",
            prompt=[ChatMessage(role="user", content=PROMPT.format(a=a, b=b))],
            reference={"answer": str(a + b)},
        )

    test = [sample("test", i, a, b) for i, (a, b) in enumerate(pairs[:test_size])]
    train = [sample("train", i, a, b) for i, (a, b) in enumerate(pairs[test_size:])]
    return train, test
