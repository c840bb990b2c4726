"""The trainer's side of the reward services: responses scored over gRPC.

gRPC aio channels belong to one event loop, so the trainer keeps a private loop for the router and
runs each batch of calls to completion on it.
"""

from __future__ import annotations

import asyncio

from contract.schema import Sample, Score
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
