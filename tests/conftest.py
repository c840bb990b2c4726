"""Shared fixtures: real verifier services on loopback ports chosen by the OS."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rewards.host import serve_verifier
from rewards.math.service import MathVerifier


class ServerThread:
    """A real gRPC verifier server running in its own thread and event loop."""

    def __init__(self, verifier, **kwargs):
        self.verifier = verifier
        self.kwargs = kwargs
        self.address: str | None = None
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        await serve_verifier(self.verifier, port=0, stop=self._stop, grace_s=0.5, announce=self._bound, **self.kwargs)

    def _bound(self, address: str) -> None:
        self.address = address
        self._ready.set()

    def start(self) -> "ServerThread":
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("server did not start")
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)


@pytest.fixture(scope="session")
def math_server():
    """One math service for the session (2 workers, 1 s per-sample deadline)."""
    server = ServerThread(MathVerifier(workers=2, deadline_s=1.0)).start()
    yield server
    server.stop()
