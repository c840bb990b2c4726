"""Route each sample to the verifier its ``verifier`` field names."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from contract.schema import Sample, Score, Status
from rewards.client import VerifierClient
from serving.client import ClientOptions


class UnknownVerifierError(KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Router:
    """Holds one :class:`VerifierClient` per verifier name; ``endpoints`` maps name -> addresses."""

    def __init__(self, endpoints: dict[str, list[str]], options: ClientOptions | None = None):
        self.endpoints = {name: list(addrs) for name, addrs in endpoints.items()}
        self.options = options or ClientOptions()
        self._clients: dict[str, VerifierClient] = {}

    def client(self, verifier: str) -> VerifierClient:
        """The client for ``verifier``; an unknown name raises an error listing the configured ones."""
        if verifier not in self.endpoints:
            known = ", ".join(sorted(self.endpoints)) or "none"
            raise UnknownVerifierError(
                f"no endpoint for verifier '{verifier}' (configured: {known}); "
                f"add one with --endpoint {verifier}=HOST:PORT or rewards.endpoints.{verifier}=HOST:PORT"
            )
        if verifier not in self._clients:
            self._clients[verifier] = VerifierClient(self.endpoints[verifier], self.options)
        return self._clients[verifier]

    async def score(self, samples: list[Sample]) -> list[Score]:
        """One score per sample, in order; samples for an unknown verifier get INVALID."""
        results: list[Score | None] = [None] * len(samples)
        groups: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(samples):
            groups[s.verifier].append(i)
        calls, order = [], []
        for name, indices in groups.items():
            try:
                client = self.client(name)
            except UnknownVerifierError as e:
                for i in indices:
                    results[i] = Score(id=samples[i].id, reward=0.0, status=Status.INVALID, detail=str(e))
                continue
            calls.append(client.score([samples[i] for i in indices]))
            order.append(indices)
        for indices, scores in zip(order, await asyncio.gather(*calls)):
            for i, score in zip(indices, scores):
                results[i] = score
        return results  # type: ignore[return-value]

    def counters(self) -> dict[str, int]:
        """Retries and failed batches summed over clients."""
        return {
            "retried_calls": sum(c.retried for c in self._clients.values()),
            "failed_batches": sum(c.failed_batches for c in self._clients.values()),
        }

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._clients.values()))
        self._clients.clear()


def parse_endpoints(specs: list[str]) -> dict[str, list[str]]:
    """``["math=h:1", "math=h:2", "code=h:3"]`` -> ``{"math": ["h:1", "h:2"], "code": ["h:3"]}``;
    a comma-separated value lists replicas too (``math=h:1,h:2``)."""
    out: dict[str, list[str]] = defaultdict(list)
    for spec in specs:
        name, sep, value = spec.partition("=")
        addrs = [a.strip() for a in value.split(",") if a.strip()]
        if not sep or not name.strip() or not addrs or any(":" not in a for a in addrs):
            raise ValueError(f"bad endpoint {spec!r}: write NAME=HOST:PORT, e.g. math=127.0.0.1:50051")
        out[name.strip()].extend(addrs)
    return dict(out)
