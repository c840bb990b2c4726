"""Deterministic, resumable prompt order: each epoch is a seeded permutation of the dataset."""

from __future__ import annotations

import random
from typing import Generic, TypeVar

T = TypeVar("T")


class EpochSampler(Generic[T]):
    """Yields batches without replacement; its position (epoch, index) is saved in checkpoints."""

    def __init__(self, items: list[T], seed: int):
        if not items:
            raise ValueError("cannot sample from an empty dataset")
        self.items, self.seed = items, seed
        self.epoch, self.index = 0, 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> list[int]:
        order = list(range(len(self.items)))
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        return order

    def next_batch(self, n: int) -> list[T]:
        out = []
        while len(out) < n:
            if self.index == len(self._order):
                self.epoch, self.index = self.epoch + 1, 0
                self._order = self._permutation(self.epoch)
            out.append(self.items[self._order[self.index]])
            self.index += 1
        return out

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}

    def load_state(self, state: dict[str, int]) -> None:
        self.epoch, self.index = state["epoch"], state["index"]
        self._order = self._permutation(self.epoch)
