"""The Sandbox gRPC service: requests, batches, statuses and bad input, on the real server."""

from __future__ import annotations

import subprocess
import sys
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from contract.v1 import sandbox_pb2 as pb
from contract.v1 import sandbox_pb2_grpc as pb_grpc
from serving.health import wait_healthy
from tests.conftest import SLOTS, UID_BASE

pytestmark = pytest.mark.sandbox
ECHO = b"import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\n"


def test_health_reports_serving(sandbox_server):
    with grpc.insecure_channel(sandbox_server.address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        for service in ("", "verity.v1.Sandbox"):
            assert stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == health_pb2.HealthCheckResponse.SERVING


def test_files_argv_stdin_and_binary_output(sandbox_server):
    code = b"import sys\nprint(open('data/in.txt').read(), sys.argv[1:], sys.stdin.read(), flush=True)\nsys.stdout.buffer.write(bytes([0, 255]))\n"
    r = sandbox_server.stub.Execute(pb.ExecuteRequest(code=code, stdin=b"from stdin", argv=["-x", "two words"], files=[pb.File(path="data/in.txt", content=b"from a file")]), timeout=60)
    assert r.status == pb.EXEC_STATUS_OK, r
    assert r.stdout == b"from a file ['-x', 'two words'] from stdin\n\x00\xff"
    assert r.wall_time_s > 0 and r.cpu_time_s > 0 and r.max_rss_bytes > 1024 * 1024


def test_large_stdin_and_stdout_stream_without_deadlock(sandbox_server):
    data = bytes(range(256)) * 4096 * 4  # 4 MiB, far past any pipe buffer
    r = sandbox_server.stub.Execute(pb.ExecuteRequest(code=ECHO, stdin=data, limits=pb.Limits(max_output_bytes=8 * 1024 * 1024)), timeout=60)
    assert r.status == pb.EXEC_STATUS_OK and r.stdout == data and not r.stdout_truncated


def test_nonzero_exit_and_exceptions_are_runtime_errors(sandbox_server):
    exit3 = sandbox_server.run("import sys\nsys.exit(3)")
    raised = sandbox_server.run("raise ValueError('boom')")
    assert exit3.status == pb.EXEC_STATUS_RUNTIME_ERROR and exit3.exit_code == 3
    assert raised.status == pb.EXEC_STATUS_RUNTIME_ERROR and b"ValueError: boom" in raised.stderr


def test_batch_runs_every_case_in_one_environment(sandbox_server):
    code = b"import os\nn = int(input())\nopen(f'seen{n}', 'w').close()\nprint(n * 2, sorted(os.listdir('.')))\nassert n != 2\n"
    cases = [pb.TestCase(stdin=str(i).encode()) for i in range(4)]
    r = sandbox_server.stub.ExecuteBatch(pb.ExecuteBatchRequest(code=code, cases=cases), timeout=60)
    assert not r.HasField("compile")
    assert [x.status for x in r.results] == [pb.EXEC_STATUS_OK, pb.EXEC_STATUS_OK, pb.EXEC_STATUS_RUNTIME_ERROR, pb.EXEC_STATUS_OK]
    assert r.results[3].stdout == b"6 ['main.py', 'seen0', 'seen1', 'seen2', 'seen3']\n"  # one shared working dir
    stopped = sandbox_server.stub.ExecuteBatch(pb.ExecuteBatchRequest(code=code, cases=cases, stop_on_failure=True), timeout=60)
    assert len(stopped.results) == 3 and stopped.results[-1].status == pb.EXEC_STATUS_RUNTIME_ERROR


def test_cpp_compile_step_and_compile_errors(sandbox_server):
    good = b"#include <cstdio>\nint main(int argc, char** argv) { int x; if (scanf(\"%d\", &x) != 1) return 2; printf(\"%d\\n\", x * x); }\n"
    r = sandbox_server.stub.ExecuteBatch(pb.ExecuteBatchRequest(code=good, language="cpp", cases=[pb.TestCase(stdin=b"7"), pb.TestCase(stdin=b"x")]), timeout=120)
    assert r.compile.status == pb.EXEC_STATUS_OK
    assert [(x.status, x.stdout, x.exit_code) for x in r.results] == [(pb.EXEC_STATUS_OK, b"49\n", 0), (pb.EXEC_STATUS_RUNTIME_ERROR, b"", 2)]
    bad = sandbox_server.stub.ExecuteBatch(pb.ExecuteBatchRequest(code=b"int main() { return y; }", language="cpp", cases=[pb.TestCase()]), timeout=120)
    assert bad.compile.status == pb.EXEC_STATUS_COMPILE_ERROR and b"y" in bad.compile.stderr and not bad.results
    single = sandbox_server.run(b"int main( {", language="cpp")
    assert single.status == pb.EXEC_STATUS_COMPILE_ERROR


@pytest.mark.parametrize("request_,field", [
    (pb.ExecuteRequest(code=b""), "code is empty"),
    (pb.ExecuteRequest(code=b"   \n"), "code is empty"),
    (pb.ExecuteRequest(code=b"print(1)", language="rust"), "language 'rust'"),
    (pb.ExecuteRequest(code=b"x = 1\n" * (2 * 1024 * 1024)), "code is"),
    (pb.ExecuteRequest(code=b"print(1)", files=[pb.File(path="../escape", content=b"x")]), "files: path"),
    (pb.ExecuteRequest(code=b"print(1)", files=[pb.File(path="/etc/passwd", content=b"x")]), "files: path"),
    (pb.ExecuteRequest(code=b"print(1)", files=[pb.File(path="main.py", content=b"x")]), "files: path"),
    (pb.ExecuteRequest(code=b"print(1)", limits=pb.Limits(wall_time_s=10_000)), "limits.wall_time_s"),
    (pb.ExecuteRequest(code=b"print(1)", limits=pb.Limits(cpu_time_s=-1)), "limits.cpu_time_s"),
], ids=["empty", "blank", "language", "10MB", "dotdot", "absolute", "shadows-main", "limit-ceiling", "negative-limit"])  # fmt: skip
def test_bad_requests_are_invalid_results(sandbox_server, request_, field):
    r = sandbox_server.stub.Execute(request_, timeout=60)
    assert r.status == pb.EXEC_STATUS_INVALID and field in r.detail, r.detail


def test_non_utf8_source_is_a_runtime_error_not_a_crash(sandbox_server):
    r = sandbox_server.run(b"print('\xff\xfe')\n")
    assert r.status == pb.EXEC_STATUS_RUNTIME_ERROR and b"SyntaxError" in r.stderr


def test_empty_batch_is_invalid(sandbox_server):
    r = sandbox_server.stub.ExecuteBatch(pb.ExecuteBatchRequest(code=b"print(1)"), timeout=60)
    assert len(r.results) == 1 and r.results[0].status == pb.EXEC_STATUS_INVALID and "cases is empty" in r.results[0].detail


def test_full_queue_is_refused_after_the_bounded_wait(sandbox_server):
    """A second server on the same machine (its own uids, leased beside the first server's)."""
    cmd = [sys.executable, "-m", "verity.cli", "serve", "sandbox", "--host", "127.0.0.1", "--port", "0", "--slots", "1", "--max-wait-s", "0.5", "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        address = proc.stdout.readline().rsplit(" ", 1)[1].strip()
        wait_healthy(address)
        with grpc.insecure_channel(address) as ch:
            stub = pb_grpc.SandboxStub(ch)
            slow = threading.Thread(target=lambda: stub.Execute(pb.ExecuteRequest(code=b"import time\ntime.sleep(3)"), timeout=60))
            slow.start()
            threading.Event().wait(0.5)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Execute(pb.ExecuteRequest(code=b"print(1)"), timeout=60)
            slow.join()
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "slots" in refused.value.details()
            uid = stub.Execute(pb.ExecuteRequest(code=b"import os\nprint(os.getuid())"), timeout=60).stdout
            assert int(uid) not in range(UID_BASE, UID_BASE + SLOTS)
    finally:
        proc.terminate()
        proc.wait(30)
    for _ in range(2 * SLOTS):  # the first server's slots were left alone
        assert sandbox_server.run("print(1)").status == pb.EXEC_STATUS_OK


def test_uid_leases_are_exclusive():
    from sandbox.uids import UidsInUse, lease_uids

    first = lease_uids(2, 63000)
    try:
        with pytest.raises(UidsInUse, match="63001"):
            lease_uids(1, 63001)
        auto = lease_uids(3)
        assert not set(auto.uids) & {63000, 63001} and len(set(auto.uids)) == 3
        auto.release()
    finally:
        first.release()
    lease_uids(2, 63000).release()  # free again once released


def test_each_slot_runs_programs_under_its_own_non_root_uid(sandbox_server):
    from concurrent.futures import ThreadPoolExecutor

    code = b"import os, time\ntime.sleep(0.3)\nprint(os.getuid(), os.getgid(), os.getgroups())\n"
    with ThreadPoolExecutor(2 * SLOTS) as pool:
        results = list(pool.map(lambda _: sandbox_server.run(code), range(4 * SLOTS)))
    assert all(r.status == pb.EXEC_STATUS_OK for r in results), [(r.status, r.detail, r.stderr[-200:]) for r in results]
    ids = [r.stdout.decode().strip().split(" ", 2) for r in results]
    assert {uid for uid, _, _ in ids} == {str(UID_BASE + i) for i in range(SLOTS)}  # both slots used, each its own uid
    assert all(uid == gid and groups in ("[]", f"[{gid}]") for uid, gid, groups in ids)  # no supplementary groups


def test_an_environment_that_cannot_start_is_an_error_result_not_a_crash():
    import asyncio

    from sandbox.environment import Isolation
    from sandbox.isolation import find_python
    from sandbox.languages import available_languages
    from sandbox.pool import SlotPool
    from sandbox.service import SandboxService

    class Context:
        async def abort(self, code, details):
            raise AssertionError(f"no gRPC error expected: {code} {details}")

    async def run():
        broken = Isolation("/nonexistent/bwrap", find_python(), 1 << 20, switch_uid=False)
        service = SandboxService(SlotPool(broken, None, slots=1), available_languages())
        service.pool._free = asyncio.Queue()
        service.pool._free.put_nowait(service.pool.slots[0])
        return await service.Execute(pb.ExecuteRequest(code=b"print(1)"), Context())

    r = asyncio.run(run())
    assert r.status == pb.EXEC_STATUS_ERROR and "bwrap" in r.detail
