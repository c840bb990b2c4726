"""The sandbox killed while it runs a batch: those samples are ERROR (dropped by the trainer,
never a reward of 0), no process of theirs outlives it, and the code verifier scores on the
sandbox once it is back."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from contract.schema import Sample, Status
from rewards.code.service import CodeVerifier
from serving.health import wait_healthy
from tests.conftest import ROOT, ServerThread, score_samples
from tests.e2e.test_faults import free_port, gone_within

pytestmark = pytest.mark.sandbox
UID_BASE = 64100  # apart from the suite's shared sandbox (64000) and from local runs (61000)
SLEEPER = "```python\nimport time\ntime.sleep(40)\nprint(1)\n```"


def start_sandbox(port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "verity.cli", "serve", "sandbox", "--port", str(port), "--slots", "2", "--uid-base", str(UID_BASE), "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, cwd=ROOT)
    wait_healthy(f"127.0.0.1:{port}", 120)
    return proc


def slot_processes() -> list[psutil.Process]:
    """Every process running under the slots' uids: what the sandbox runs."""
    return [p for p in psutil.process_iter(["uids", "name"]) if p.info["uids"] and UID_BASE <= p.info["uids"].real < UID_BASE + 2]




def score(address: str, samples: list[Sample]):
    return score_samples(address, samples, deadline_s=300, retries=0)[0]


def test_a_killed_sandbox_fails_its_batch_as_error_leaves_no_process_and_is_used_again():
    port = free_port()
    sandbox = start_sandbox(port)
    verifier = ServerThread(CodeVerifier([f"127.0.0.1:{port}"])).start()
    reference = {"tests": [{"stdin": "", "stdout": "1\n"}], "time_limit_s": 30}
    try:
        samples = [Sample(id=f"s{i}", verifier="code", reference=reference, response=SLEEPER) for i in range(4)]
        pending = ThreadPoolExecutor(1).submit(score, verifier.address, samples)
        deadline = time.monotonic() + 120
        while len([p for p in slot_processes() if "python" in (p.info["name"] or "")]) < 2:  # both slots run a sleeper
            assert time.monotonic() < deadline, "the programs never started"
            time.sleep(0.1)
        running = slot_processes()
        sandbox.kill()
        sandbox.wait()
        scores = pending.result(240)
        assert gone_within(running, 10), f"processes of the killed sandbox outlived it: {[(p.pid, p.info['name']) for p in running if p.is_running()]}"
        assert {s.status for s in scores} == {Status.ERROR}, scores
        assert all("sandbox" in s.detail.lower() or "UNAVAILABLE" in s.detail for s in scores), scores
        sandbox = start_sandbox(port)  # back on the same address: the verifier finds it again
        right = Sample(id="right", verifier="code", reference={"tests": [{"stdin": "2\n", "stdout": "4\n"}]}, response="```python\nprint(int(input()) * 2)\n```")
        (again,) = score(verifier.address, [right])
        assert again.status is Status.OK, again
    finally:
        verifier.stop()
        sandbox.kill()
        sandbox.wait()

