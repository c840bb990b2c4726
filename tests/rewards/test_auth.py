"""Who may call: loopback by default, a warning when bound wider, and the shared token of
``--auth-token-file`` (UNAUTHENTICATED without it, health checks open), on real services."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import grpc
import pytest

from contract.schema import Sample, Score, Status
from rewards.client import VerifierClient
from serving.client import ClientOptions
from serving.health import health_status
from serving.local import LocalServices
from tests.conftest import ROOT
from tests.test_cli import run_verity
from trainer.config import load_config
from trainer.run import reward_services

TOKEN = "0123456789abcdef-token"


@pytest.fixture(scope="module")
def token_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("auth") / "token"
    path.write_text(TOKEN + "\n")
    return path


TELECOM_ROW = {"verifier": "telecom", "prompt": "Which generation?", "reference": {"kind": "numeric", "answer": 20, "unit": "MHz"}, "response": "The bandwidth is 20 MHz."}


def telecom_sample(i: int) -> Sample:
    return Sample(id=f"t{i}", **TELECOM_ROW)


def score(address: str, token: str | None) -> tuple[Score, str]:
    async def run():
        client = VerifierClient([address], ClientOptions(retries=0, deadline_s=20, auth_token=token))
        try:
            (result,) = await client.score([telecom_sample(0)])
            try:
                described = (await client.describe()).name
            except grpc.aio.AioRpcError as e:
                described = e.code().name
            return result, described
        finally:
            await client.close()

    return asyncio.run(run())


def serve(*args: str) -> tuple[subprocess.Popen, str, str]:
    """``verity serve telecom ARGS --port 0``: the process, its address and its stderr's first line."""
    proc = subprocess.Popen([sys.executable, "-m", "verity.cli", "serve", "telecom", "--port", "0", "--log-level", "WARNING", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline()
    assert "listening on" in line, proc.stderr.read()
    address = line.rsplit(" ", 1)[1].strip()
    return proc, address, line


def test_a_token_is_required_of_every_call_but_health_checks(token_file, tmp_path):
    proc, address, _ = serve("--auth-token-file", str(token_file))
    try:
        port = address.rsplit(":", 1)[1]
        local = f"127.0.0.1:{port}"
        assert health_status(local) == "SERVING"  # no token needed to ask
        right, described = score(local, TOKEN)
        none, none_described = score(local, None)
        wrong, _ = score(local, TOKEN + "x")
        assert (right.status, right.reward, described) == (Status.OK, 1.0, "telecom")
        for refused in (none, wrong):
            assert refused.status is Status.ERROR and "UNAUTHENTICATED" in refused.detail
        assert none_described == "UNAUTHENTICATED"
        assert "without this service's token" in none.detail and "wrong token" in wrong.detail
        inp = tmp_path / "in.jsonl"
        inp.write_text(json.dumps({"id": "t1", **TELECOM_ROW}) + "\n")
        with_token = run_verity("score", "--input", str(inp), "--output", str(tmp_path / "a.jsonl"), "--endpoint", f"telecom={local}", "--auth-token-file", str(token_file))
        without = run_verity("score", "--input", str(inp), "--output", str(tmp_path / "b.jsonl"), "--endpoint", f"telecom={local}")
        assert with_token.returncode == 0, with_token.stderr
        assert json.loads((tmp_path / "a.jsonl").read_text())["status"] == "OK"
        assert without.returncode == 3 and json.loads((tmp_path / "b.jsonl").read_text())["status"] == "ERROR"
    finally:
        proc.terminate()
        proc.wait(20)


def test_loopback_by_default_and_a_wider_bind_says_who_may_call(token_file):
    quiet, address, _ = serve()
    open_wide, wide_address, _ = serve("--host", "0.0.0.0")
    guarded, _, _ = serve("--host", "0.0.0.0", "--auth-token-file", str(token_file))
    try:
        assert address.startswith("127.0.0.1:") and wide_address.startswith("0.0.0.0:")
        warnings = {}
        for name, proc in {"quiet": quiet, "open": open_wide, "guarded": guarded}.items():
            proc.terminate()
            proc.wait(20)
            warnings[name] = proc.stderr.read()
        assert "reachable" not in warnings["quiet"]
        assert "reachable from other machines: anyone who reaches it may call it; add --auth-token-file" in warnings["open"]
        assert "reachable from other machines: only callers sending its token" in warnings["guarded"]
    finally:
        for proc in (quiet, open_wide, guarded):
            proc.kill()


def test_locally_started_code_and_sandbox_require_the_token_and_pass_it_on(token_file, tmp_path):
    """verity score starts the code verifier and its sandbox with the token: the verifier's calls
    to the sandbox carry it too, so a right program passes."""
    inp = tmp_path / "code.jsonl"
    rows = [
        {"id": "right", "verifier": "code", "prompt": "p", "reference": {"tests": [{"stdin": "2 3\n", "stdout": "5\n"}]}, "response": "```python\na, b = map(int, input().split())\nprint(a + b)\n```"},
        {"id": "wrong", "verifier": "code", "prompt": "p", "reference": {"tests": [{"stdin": "2 3\n", "stdout": "5\n"}]}, "response": "```python\nprint(6)\n```"},
    ]
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run_verity("score", "--input", str(inp), "--output", str(tmp_path / "out.jsonl"), "--auth-token-file", str(token_file), timeout=300)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["status"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == ["OK", "WRONG"]


@pytest.mark.parametrize("content, why", [(None, "cannot read"), ("", "must hold one token"), ("two words", "must hold one token")])
def test_an_unusable_token_file_is_one_line_naming_the_option(tmp_path, content, why):
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    served = run_verity("serve", "telecom", "--port", "0", "--auth-token-file", str(path), timeout=60)
    assert served.returncode == 2
    assert served.stderr.startswith("verity serve: --auth-token-file: ") and why in served.stderr and served.stderr.count("\n") == 1
    cfg = load_config(None, [f"rewards.auth_token_file={path}", "rewards.endpoints.telecom=127.0.0.1:1"])
    with pytest.raises(ValueError, match=f"rewards.auth_token_file: .*{why}"):
        reward_services(cfg, [telecom_sample(0)], None)


def test_the_trainer_sends_the_configured_token(token_file):
    from contextlib import ExitStack

    with LocalServices(["telecom"], auth_token_file=str(token_file)) as endpoints, ExitStack() as stack:
        cfg = load_config(None, [f"rewards.auth_token_file={token_file}", f"rewards.endpoints.telecom={endpoints['telecom'][0]}"])
        scorer = reward_services(cfg, [telecom_sample(0)], stack)
        (scored,) = scorer([telecom_sample(0)])
    assert (scored.status, scored.reward) == (Status.OK, 1.0)
