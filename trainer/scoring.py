"""The trainer's side of the reward services: prompts rendered to token ids, responses scored over gRPC.

gRPC aio channels belong to one event loop, so the trainer keeps a private loop for the router and
runs each batch of calls to completion on it.
"""

from __future__ import annotations

import asyncio

from contract.schema import ChatMessage, Sample, Score
from rewards.router import Router
from serving.client import ClientOptions


class RemoteScorer:
    """Synchronous facade over :class:`rewards.router.Router`."""

    def __init__(self, endpoints: dict[str, list[str]], options: ClientOptions):
        self._loop = asyncio.new_event_loop()
        self.router = Router(endpoints, options)

    def __call__(self, samples: list[Sample]) -> list[Score]:
        return self._loop.run_until_complete(self.router.score(samples))

    def counters(self) -> dict[str, int]:
        """Calls retried after UNAVAILABLE and batches that ended as ERROR, since the start."""
        return self.router.counters()

    def close(self) -> None:
        self._loop.run_until_complete(self.router.close())
        self._loop.close()


def encode_prompt(tokenizer, sample: Sample, chat_template: bool) -> list[int]:
    """Token ids of the prompt, ready for the assistant's reply."""
    if not chat_template:
        text = sample.prompt if isinstance(sample.prompt, str) else "\n".join(m.content for m in sample.prompt)
        return tokenizer(text, add_special_tokens=True)["input_ids"]
    messages = [ChatMessage(role="user", content=sample.prompt)] if isinstance(sample.prompt, str) else sample.prompt
    ids = tokenizer.apply_chat_template([m.model_dump() for m in messages], add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)


def with_response(sample: Sample, response: str, suffix: str = "") -> Sample:
    """A copy of a dataset sample carrying a response to score (``suffix`` keeps ids unique)."""
    return sample.model_copy(update={"response": response, "id": sample.id + suffix})
