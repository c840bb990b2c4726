"""The math verifier behind real gRPC on loopback: verdicts, bad input, deadlines, faults."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from contract.schema import Sample, Status
from contract.v1 import verifier_pb2 as pb
from contract.v1 import verifier_pb2_grpc as pb_grpc
from rewards.client import VerifierClient
from rewards.math.service import MathVerifier
from rewards.router import Router, UnknownVerifierError, parse_endpoints
from serving.client import ClientOptions
from tests.conftest import ServerThread
from tests.conftest import score_samples as score
from tests.rewards.faults import hang_in_c_on_marker

# sympy grinds on 9^(9^(9^9)) far past any deadline.
HANGS = "\\boxed{9^{9^{9^{9}}}}"


def sample(i, response, answer="42", **extra):
    return Sample(id=f"s{i}", verifier="math", prompt="q", reference={"answer": answer}, response=response, **extra)


def test_health_and_describe(math_server):
    with grpc.insecure_channel(math_server.address) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        for service in ("", "verity.v1.Verifier"):
            assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
        info = pb_grpc.VerifierStub(ch).Describe(pb.DescribeRequest(), timeout=5)
    assert info.name == "math"
    assert json.loads(info.reference_schema_json)["required"] == ["answer"]


def test_verdicts_in_order(math_server):
    samples = [
        sample(0, "so the answer is \\boxed{42}"),
        sample(1, "I think it is 41."),
        sample(2, "#### 1,000", answer="1000"),
        sample(3, "The answer is $\\frac{1}{2}$.", answer="0.5"),
        sample(4, "= \\boxed{\\frac{2}{4}}", answer="\\frac{1}{2}"),
        sample(5, "no idea"),
        sample(6, "It equals \\(x^2 + 2x + 1\\)", answer="(x+1)^2"),
        sample(7, "−7", answer="-7"),
    ]
    scores, _ = score(math_server.address, samples)
    assert [s.id for s in scores] == [s.id for s in samples]
    assert [s.status for s in scores] == [Status.OK, Status.WRONG, Status.OK, Status.OK, Status.OK, Status.WRONG, Status.OK, Status.OK]
    assert [s.reward for s in scores] == [1.0, 0, 1, 1, 1, 0, 1, 1]
    assert "extracted '42' (boxed)" in scores[0].detail
    assert "no final answer" in scores[5].detail


def test_malformed_samples_are_invalid_and_the_rest_scored(math_server):
    with grpc.insecure_channel(math_server.address) as ch:
        stub = pb_grpc.VerifierStub(ch)
        request = pb.ScoreRequest(
            samples=[
                pb.Sample(id="bad-json", reference_json="{not json", response="\\boxed{1}"),
                pb.Sample(id="no-answer", reference_json='{"solution": "1"}', response="\\boxed{1}"),
                pb.Sample(id="", reference_json='{"answer": "1"}', response="\\boxed{1}"),
                pb.Sample(id="list-ref", reference_json="[1]", response="\\boxed{1}"),
                pb.Sample(id="good", reference_json='{"answer": 1}', response="\\boxed{1}"),
            ]
        )
        reply = stub.Score(request, timeout=30)
    statuses = [s.status for s in reply.scores]
    assert statuses == [pb.STATUS_INVALID] * 4 + [pb.STATUS_OK]
    assert "reference is not valid JSON" in reply.scores[0].detail
    assert "reference.answer is missing" in reply.scores[1].detail
    assert "sample.id is empty" in reply.scores[2].detail
    assert "not a JSON object" in reply.scores[3].detail


def test_a_number_form_reference_refuses_an_expression_that_restates_the_question(math_server):
    """385 * 435 equals 167475, but a reference with form number asks for the number itself."""
    samples = [
        Sample(id=str(i), verifier="math", prompt="What is 385 × 435?", reference={"answer": "167475", **form}, response=response)
        for i, (response, form) in enumerate([
            ("So the answer is 385 * 435.", {"form": "number"}),
            ("So the answer is \\boxed{385 \\times 435}.", {"form": "number"}),
            ("So the answer is \\boxed{167,475}.", {"form": "number"}),
            ("So the answer is 385 * 435.", {}),
            ("So the answer is 167475.", {"form": "exactly"}),
        ])
    ]  # fmt: skip
    scores, _ = score(math_server.address, samples)
    assert [s.status for s in scores] == [Status.WRONG, Status.WRONG, Status.OK, Status.OK, Status.INVALID]
    assert "is not a number: the reference asks for the number itself (reference.form = number)" in scores[0].detail
    assert "reference.form 'exactly' is not one of any, number" in scores[4].detail


@pytest.mark.parametrize("answer", ["  ", None, True, ["1"]])
def test_empty_or_non_scalar_reference_answer_is_invalid(math_server, answer):
    (s,), _ = score(math_server.address, [sample(0, "\\boxed{1}", answer=answer)])
    assert s.status is Status.INVALID and "reference.answer" in s.detail


@pytest.mark.parametrize(
    "response",
    ["\\boxed{" + "1" * 100_000 + "}", "\\boxed{" + "(" * 3000 + "1" + ")" * 3000 + "}", "(" * 3000 + "1" + ")" * 3000, "x" * 100_000],
    ids=["100k-answer", "3000-nested-boxed", "3000-nested-plain", "100k-text"],
)
def test_hostile_answers_get_a_status_within_budget(math_server, response):
    samples = [sample(0, response), sample(1, "\\boxed{42}")]
    start = time.monotonic()
    scores, _ = score(math_server.address, samples)
    elapsed = time.monotonic() - start
    assert scores[0].status in (Status.WRONG, Status.TIMEOUT, Status.INVALID)
    assert scores[0].detail
    assert scores[1].status is Status.OK  # the rest of the batch is scored
    assert elapsed < 1.0 * len(samples) + 2.0  # one second of budget per sample, plus RPC slack


def test_slow_check_times_out_within_its_deadline(math_server):
    samples = [sample(0, "\\boxed{42}"), sample(1, HANGS, answer="1"), sample(2, "\\boxed{7}", answer="7")]
    start = time.monotonic()
    scores, _ = score(math_server.address, samples)
    assert time.monotonic() - start < 5
    assert [s.status for s in scores] == [Status.OK, Status.TIMEOUT, Status.OK]
    assert "1s deadline" in scores[1].detail


def test_hanging_worker_is_killed_and_service_keeps_serving():
    server = ServerThread(MathVerifier(workers=2, deadline_s=1.0, check=hang_in_c_on_marker)).start()
    try:
        samples = [sample(0, "\\boxed{42}"), sample(1, "HANG-IN-C \\boxed{1}"), sample(2, "\\boxed{7}", answer="7")]
        start = time.monotonic()
        scores, _ = score(server.address, samples)
        assert time.monotonic() - start < 10
        assert [s.status for s in scores] == [Status.OK, Status.TIMEOUT, Status.OK]
        assert "worker was killed and replaced" in scores[1].detail
        again, _ = score(server.address, [sample(i, "\\boxed{42}") for i in range(8)])
        assert all(s.status is Status.OK for s in again)
    finally:
        server.stop()


def test_client_deadline_exceeded_gives_error_not_zero(math_server):
    scores, client = score(math_server.address, [sample(0, HANGS, answer="1")], deadline_s=0.3)
    assert scores[0].status is Status.ERROR
    assert "DEADLINE_EXCEEDED" in scores[0].detail
    assert client.retried == 0  # only UNAVAILABLE is retried


def test_oversize_request_is_rejected_cleanly():
    server = ServerThread(MathVerifier(workers=1), max_message_bytes=256 * 1024).start()
    try:
        big = [sample(i, "\\boxed{42} " + "x" * 100_000) for i in range(4)]
        scores, _ = score(server.address, big, batch_size=4)
        assert {s.status for s in scores} == {Status.ERROR}
        assert "RESOURCE_EXHAUSTED" in scores[0].detail
        small, _ = score(server.address, [sample(9, "\\boxed{42}")])
        assert small[0].status is Status.OK
    finally:
        server.stop()


def test_batch_over_the_limit_is_refused(math_server):
    math_server.verifier.max_batch_size, old = 3, math_server.verifier.max_batch_size
    try:
        scores, _ = score(math_server.address, [sample(i, "\\boxed{42}") for i in range(5)], batch_size=5)
    finally:
        math_server.verifier.max_batch_size = old
    assert {s.status for s in scores} == {Status.ERROR}
    assert "max_batch_size=3" in scores[0].detail


def test_dead_replica_is_retried_on_the_next_one(math_server):
    dead = "127.0.0.1:1"  # nothing listens on port 1
    scores, client = score([dead, math_server.address], [sample(i, "\\boxed{42}") for i in range(6)], batch_size=1, backoff_s=0.01)
    assert all(s.status is Status.OK for s in scores)
    assert client.retried >= 1


def test_unreachable_service_ends_in_error_after_retries():
    scores, client = score("127.0.0.1:1", [sample(0, "\\boxed{42}")], retries=2, backoff_s=0.01, deadline_s=2)
    assert scores[0].status is Status.ERROR
    assert "UNAVAILABLE after 3 attempts" in scores[0].detail
    assert client.retried == 2


class ConcurrencyProbe(MathVerifier):
    """The real math verifier, recording how many Score calls run at once."""

    def __init__(self):
        super().__init__(workers=1)
        self.now = self.peak = 0

    async def score(self, requests):
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(0.05)
            return await super().score(requests)
        finally:
            self.now -= 1


def test_calls_in_flight_are_bounded():
    probe = ConcurrencyProbe()
    server = ServerThread(probe).start()
    try:
        scores, _ = score(server.address, [sample(i, "\\boxed{42}") for i in range(24)], batch_size=1, max_in_flight=3)
    finally:
        server.stop()
    assert all(s.status is Status.OK for s in scores)
    assert 1 < probe.peak <= 3


def test_router_routes_and_rejects_unknown_verifiers(math_server):
    router = Router({"math": [math_server.address]})
    samples = [sample(0, "\\boxed{42}"), Sample(id="c", verifier="code", reference={}, response="x"), sample(2, "\\boxed{41}")]
    scores = asyncio.run(_route(router, samples))
    assert [s.status for s in scores] == [Status.OK, Status.INVALID, Status.WRONG]
    assert "no endpoint for verifier 'code' (configured: math)" in scores[1].detail
    with pytest.raises(UnknownVerifierError, match="configured: math"):
        router.client("telecom")


async def _route(router, samples):
    try:
        return await router.score(samples)
    finally:
        await router.close()


def test_parse_endpoints():
    assert parse_endpoints(["math=h:1", "math=h:2,h:3", "code=x:9"]) == {"math": ["h:1", "h:2", "h:3"], "code": ["x:9"]}
    for bad in ["math", "=h:1", "math=h"]:
        with pytest.raises(ValueError, match="NAME=HOST:PORT"):
            parse_endpoints([bad])


def test_server_killed_mid_run_is_retried_then_error_then_recovers():
    import subprocess
    import sys

    from serving.health import wait_healthy
    from serving.local import LocalServices

    services = LocalServices({"math"}, workers=1)
    with services as endpoints:
        address = endpoints["math"][0]
        first, _ = score(address, [sample(0, "\\boxed{42}")])
        assert first[0].status is Status.OK
        services.processes["math"].kill()
        services.processes["math"].wait()
        down, client = score(address, [sample(1, "\\boxed{42}")], retries=2, backoff_s=0.05)
        assert down[0].status is Status.ERROR and "UNAVAILABLE after 3 attempts" in down[0].detail
        assert client.retried == 2
    port = address.rsplit(":", 1)[1]
    cmd = [sys.executable, "-m", "verity.cli", "serve", "math", "--host", "127.0.0.1", "--port", port, "--workers", "1", "--log-level", "WARNING"]
    revived = None

    async def score_while_restarting():
        nonlocal revived
        client = VerifierClient([address], ClientOptions(retries=30, backoff_s=0.2, backoff_max_s=0.5))
        try:
            call = asyncio.ensure_future(client.score([sample(2, "\\boxed{42}")]))
            await asyncio.sleep(0.3)
            revived = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
            return await call, client.retried
        finally:
            await client.close()

    try:
        scores, retried = asyncio.run(score_while_restarting())
        wait_healthy(address, 30)
    finally:
        if revived:
            revived.terminate()
            revived.wait(20)
    assert scores[0].status is Status.OK
    assert retried >= 1
