"""The rollout engine interface shared by every engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``greedy`` ignores temperature, top_k and top_p.

    ``topk_logprobs`` > 0 asks for the top-K ids and log-probs of the sampling distribution at every
    generated token (DPPO top-K, RLPT's rollout support). ``stop``: strings that end a row as soon as
    its generated text contains one (the tokens that wrote it are kept), as EOS does.
    """

    max_new_tokens: int
    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    greedy: bool = False
    topk_logprobs: int = 0  # K; 0 = not recorded
    stop: tuple[str, ...] = ()


@dataclass
class Rollout:
    """One generated response.

    ``response_ids`` ends at the first EOS (included) or at max_new_tokens; ``logprobs[t]`` is the
    log-probability of ``response_ids[t]`` under the distribution it was sampled from (after
    temperature, top-k and top-p), in nats. When top-K log-probs were asked for, ``topk_ids[t]`` are
    the K most likely ids of that distribution, with ``response_ids[t]`` forced in (it replaces the
    K-th entry when absent), and ``topk_logprobs[t]`` their log-probs; ids the sampling warpers
    removed have log-prob -inf.

    In a tool episode (:mod:`trainer.tools.episodes`) the response interleaves the model's tokens
    and the tool's output: ``tool_mask[t]`` is True where a tool wrote ``response_ids[t]``; there
    ``logprobs[t]`` is 0 and the top-K row holds no ids (-1).
    """

    prompt_ids: list[int]
    response_ids: list[int]
    logprobs: list[float]
    finished: bool  # True when the response ended with EOS, False when it hit max_new_tokens or a stop string
    topk_ids: torch.Tensor | None = None  # [response_len, K] int32
    topk_logprobs: torch.Tensor | None = None  # [response_len, K] float32
    stopped: bool = False  # ended at one of SamplingParams.stop
    tool_mask: list[bool] | None = None  # [response_len] True on tokens a tool wrote (None: none did)

    @property
    def generated_tokens(self) -> int:
        """The tokens the model generated (a tool's output tokens not counted)."""
        return len(self.response_ids) - sum(self.tool_mask or [])


def response_length(new_tokens: list[int], eos_ids: set[int]) -> int:
    """Generated tokens up to and including the first EOS (what follows is padding)."""
    return next((t + 1 for t, tok in enumerate(new_tokens) if tok in eos_ids), len(new_tokens))


class RolloutEngine(ABC):
    @abstractmethod
    def generate(self, prompts: list[list[int]], params: SamplingParams, seeds: list[int] | None = None, budgets: list[int] | None = None) -> list[Rollout]:
        """One rollout per prompt, in order (repeat a prompt to sample it several times). ``seeds``:
        one per prompt; a row's sampling noise depends on its seed alone, so the same seed and
        prompt give the same response in any batch and any process (None: seeds drawn from torch's
        global generator). ``budgets``: one per prompt, the most tokens that row may generate (at
        most ``params.max_new_tokens``; None: ``params.max_new_tokens`` for every row)."""

    def update_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Take the trainer's weights after an optimizer step, as (state-dict name, tensor) pairs
        consumed one at a time. Engines that generate with the trainer's own model (``hf``) have
        nothing to do."""

    def sleep(self) -> None:
        """Release device memory while the trainer updates (engines that can); ``generate`` wakes."""
