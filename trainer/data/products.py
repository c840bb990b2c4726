"""The built-in task where a tool helps: "What is a × b?" for multi-digit a and b, boxed answer,
scored by the math verifier.

The product of two 3-digit numbers is easy to compute and hard to guess: a small model that writes
``print(a * b)`` and reads the output gets it right; one that multiplies in its head rarely does.
The answer must be the number itself (the math verifier's ``form: number``): "the answer is
385 * 435" restates the question and earns nothing. Pairs are drawn without repeats from the seed,
the first ``test_size`` held out.
"""

from __future__ import annotations

import random

from contract.schema import ChatMessage, Sample

PROMPT = "What is {a} × {b}? Put the final answer in \\boxed{{}}."


def product_splits(digits: int = 3, train_size: int = 2000, test_size: int = 64, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """(train, test) samples of distinct (a, b) pairs, a and b of ``digits`` digits each."""
    low, high = 10 ** (digits - 1), 10**digits - 1
    pairs_available = (high - low + 1) ** 2
    if train_size + test_size > pairs_available:
        raise ValueError(f"data.products: {train_size} + {test_size} problems exceed the {pairs_available} pairs of {digits}-digit numbers: lower train_size/test_size or raise digits")
    rng = random.Random(seed)
    chosen: dict[tuple[int, int], None] = {}
    while len(chosen) < train_size + test_size:
        chosen.setdefault((rng.randint(low, high), rng.randint(low, high)))
    pairs = list(chosen)

    def sample(split: str, i: int, a: int, b: int) -> Sample:
        return Sample(id=f"product-{split}-{i}", verifier="math", prompt=[ChatMessage(role="user", content=PROMPT.format(a=a, b=b))], reference={"answer": str(a * b), "form": "number"})

    test = [sample("test", i, a, b) for i, (a, b) in enumerate(pairs[:test_size])]
    train = [sample("train", i, a, b) for i, (a, b) in enumerate(pairs[test_size:])]
    return train, test
