"""The reward contract: one small abstract class that every verifier implements.

A verifier receives a batch of :class:`Request` (one per sample, reference already decoded from
JSON) and returns one :class:`~contract.schema.Score` per request, in order. The gRPC host
(:mod:`rewards.host`) turns any verifier into a ``verity.v1.Verifier`` service.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from contract.schema import Score


@dataclass(frozen=True)
class Request:
    """What a verifier needs of one sample."""

    id: str
    reference: dict[str, Any]
    response: str
    prompt: str = ""


class Verifier(ABC):
    """Scores batches of responses against references."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    #: JSON Schema of the ``reference`` object (served by ``Describe``).
    reference_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    #: Largest batch one ``Score`` call accepts.
    max_batch_size: int = 4096

    async def start(self) -> None:
        """Acquire resources (worker pools) before the server accepts calls."""

    async def close(self) -> None:
        """Release resources; called once after the server stopped."""

    @abstractmethod
    async def score(self, requests: list[Request]) -> list[Score]:
        """One score per request, in the same order, with the request's id."""
