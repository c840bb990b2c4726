"""The rollout engine interface shared by every engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``greedy`` ignores temperature, top_k and top_p."""

    max_new_tokens: int
    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    greedy: bool = False


@dataclass
class Rollout:
    """One generated response.

    ``response_ids`` ends at the first EOS (included) or at max_new_tokens; ``logprobs[t]`` is the
    log-probability of ``response_ids[t]`` under the distribution it was sampled from (after
    temperature, top-k and top-p), in nats.
    """

    prompt_ids: list[int]
    response_ids: list[int]
    logprobs: list[float]
    finished: bool  # True when the response ended with EOS, False when it hit max_new_tokens


class RolloutEngine(ABC):
    @abstractmethod
    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Rollout]:
        """One rollout per prompt, in order (repeat a prompt to sample it several times)."""
