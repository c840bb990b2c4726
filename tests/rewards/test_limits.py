"""Past its concurrency bound a service answers RESOURCE_EXHAUSTED at once instead of queueing,
and still answers its health checks:
checked with a verifier that holds its calls until released (fault injection), so that the bound
is reached for certain, whatever the machine's speed."""

from __future__ import annotations

import asyncio
import threading

import grpc

from contract.schema import Sample, Score, Status
from contract.v1 import verifier_pb2 as pb
from contract.v1 import verifier_pb2_grpc as pb_grpc
from rewards.client import VerifierClient
from rewards.verifier import Request, Verifier
from serving.client import ClientOptions
from serving.health import health_status
from tests.conftest import ServerThread


class HeldCalls(Verifier):
    """Scores OK, but only once ``release`` is set; counts the calls it holds."""

    name = "held"

    def __init__(self):
        self.release = threading.Event()
        self.held = 0

    async def score(self, requests: list[Request]) -> list[Score]:
        self.held += 1
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        return [Score(id=r.id, reward=1.0, status=Status.OK) for r in requests]


def request(i: int) -> pb.ScoreRequest:
    return pb.ScoreRequest(samples=[pb.Sample(id=str(i), reference_json='{"answer": 1}', response="1")])


def test_calls_past_the_bound_are_refused_while_the_bound_holds():
    verifier = HeldCalls()
    server = ServerThread(verifier, max_concurrent_rpcs=2).start()

    async def run():
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = pb_grpc.VerifierStub(channel)
            held = [asyncio.ensure_future(stub.Score(request(i), timeout=60)) for i in range(2)]
            while verifier.held < 2:
                await asyncio.sleep(0.01)
            refused = []
            for i in range(5):
                try:
                    await stub.Score(request(10 + i), timeout=60)
                    refused.append(("OK", ""))
                except grpc.aio.AioRpcError as e:
                    refused.append((e.code(), e.details()))
            health = await asyncio.to_thread(health_status, server.address)
            client = VerifierClient([server.address], ClientOptions(retries=100, backoff_s=0.05, backoff_max_s=0.1))
            waiting = asyncio.ensure_future(client.score([Sample(id="patient", reference={"answer": 1}, response="1")]))
            while client.retried < 2:  # refused, and tried again, while the bound holds
                await asyncio.sleep(0.01)
            still_held = not any(f.done() for f in held)  # every refusal came while both calls were held
            verifier.release.set()
            done = await asyncio.gather(*held)
            (patient,) = await waiting  # let in once there was room
            await client.close()
            after = await stub.Score(request(99), timeout=60)  # room again once they finish
            return refused, health, still_held, done, after, patient

    try:
        refused, health, still_held, done, after, patient = asyncio.run(run())
    finally:
        verifier.release.set()
        server.stop()
    assert [code for code, _ in refused] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 5
    assert "2 calls in flight" in refused[0][1] and "--max-concurrent-rpcs" in refused[0][1]
    assert still_held
    assert [r.scores[0].status for r in done] == [pb.STATUS_OK, pb.STATUS_OK]
    assert after.scores[0].status == pb.STATUS_OK
    assert patient.status is Status.OK  # the verifier client waits out a full service (RESOURCE_EXHAUSTED is retried)
    assert health == "SERVING"  # a busy service is not taken for a dead one
