"""Shared fixtures: real verifier services and a real sandbox server on loopback ports chosen by the OS."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from contract.v1 import sandbox_pb2 as pb
from contract.v1 import sandbox_pb2_grpc as pb_grpc
from rewards.client import VerifierClient
from rewards.host import serve_verifier
from rewards.math.service import MathVerifier
from serving.client import ClientOptions
from serving.health import wait_healthy

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative_path: str, module_name: str):
    """A repository script that is not in a package (proto/generate.py, compose/build.py), as a module."""
    spec = importlib.util.spec_from_file_location(module_name, ROOT / relative_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def score_samples(address, samples, **options):
    """Score ``samples`` on the verifier at ``address`` (or the list of replicas) with a real
    client taking ``options`` (ClientOptions fields): (scores, the closed client, for its counters)."""

    async def run():
        client = VerifierClient([address] if isinstance(address, str) else address, ClientOptions(**options))
        try:
            return await client.score(samples), client
        finally:
            await client.close()

    return asyncio.run(run())


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


SLOTS = 2
UID_BASE = 64000  # far above 61000, where sandboxes that training and scoring start lease their uids


@dataclass
class SandboxServer:
    address: str
    port: int
    secret: str  # in the server's environment: no program may ever read it
    proc: subprocess.Popen
    stub: pb_grpc.SandboxStub

    def run(self, code: str | bytes, language: str = "python", stdin: bytes = b"", **limits) -> pb.ExecuteResult:
        code = code.encode() if isinstance(code, str) else code
        request = pb.ExecuteRequest(code=code, language=language, stdin=stdin, limits=pb.Limits(**limits))
        return self.stub.Execute(request, timeout=120)

    def slot_processes(self) -> list[str]:
        """Command lines of the processes running under the slots' uids (host view)."""
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"{entry.path}/status") as f:
                    status = dict(line.split(":", 1) for line in f if ":" in line)
                uid = int(status["Uid"].split()[0])
                if UID_BASE <= uid < UID_BASE + SLOTS and not status["State"].strip().startswith("Z"):
                    with open(f"{entry.path}/cmdline", "rb") as f:
                        found.append(f.read().replace(b"\0", b" ").decode(errors="replace")[:80])
            except (OSError, KeyError, ValueError):
                continue
        return found


@contextlib.contextmanager
def running_sandbox_server(uid_base: int = UID_BASE, slots: int = SLOTS, *extra_args: str):
    """A real `verity serve sandbox` process on a free loopback port, stopped on exit."""
    secret = secrets.token_hex(16)
    env = dict(os.environ, VERITY_TEST_SECRET=secret)
    cmd = [sys.executable, "-m", "verity.cli", "serve", "sandbox", "--host", "127.0.0.1", "--port", "0", "--slots", str(slots), "--uid-base", str(uid_base), "--max-wait-s", "120", "--log-level", "WARNING", *extra_args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)
    line = proc.stdout.readline()
    assert "listening on" in line, f"the sandbox server did not start: {line!r} (exit {proc.poll()})"
    address = line.rsplit(" ", 1)[1].strip()
    wait_healthy(address)
    channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 << 20)])
    try:
        yield SandboxServer(address, int(address.rsplit(":", 1)[1]), secret, proc, pb_grpc.SandboxStub(channel))
    finally:
        channel.close()
        proc.terminate()
        proc.wait(30)


@pytest.fixture(scope="session")
def sandbox_server():
    with running_sandbox_server() as server:
        yield server


@pytest.fixture
def healthy(sandbox_server):
    """After the test: the service still serves, and nothing but the slots' waiting environments
    (bubblewrap, its init and the runner: 3 processes each) runs under the slots' uids."""
    yield sandbox_server
    result = sandbox_server.run("print(6 * 7)")
    assert result.status == pb.EXEC_STATUS_OK and result.stdout == b"42\n", result
    assert sandbox_server.proc.poll() is None
    for _ in range(50):  # killed processes take a moment to be reaped
        leftovers = sandbox_server.slot_processes()
        if len(leftovers) <= 3 * SLOTS:
            break
        time.sleep(0.1)
    assert len(leftovers) <= 3 * SLOTS, leftovers
