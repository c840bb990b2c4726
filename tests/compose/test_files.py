"""The stack's files, checked without Docker: the services' requirement list against pyproject,
the variables the compose files need against compose/.env, what the compose file publishes and
grants, and the example verifier of the override file served on loopback."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from contract.schema import Sample
from rewards.client import VerifierClient
from serving.client import ClientOptions
from serving.health import wait_healthy
from tests.compose.conftest import ROOT

COMPOSE = ROOT / "compose"


def env_file() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in (COMPOSE / ".env").read_text().splitlines() if "=" in line and not line.startswith("#")]
    return {k.strip(): v.strip() for k, v in pairs}


def test_service_requirements_are_pyproject_dependencies():
    deps = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    wanted = [line.strip() for line in (COMPOSE / "requirements-services.txt").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert wanted and set(wanted) <= deps, f"not in pyproject.toml as written: {sorted(set(wanted) - deps)}"
    assert not [w for w in wanted if w.startswith(("torch", "transformers"))]


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.own-verifier.yml", "docker-compose.gpu.yml"])
def test_every_required_variable_is_set_in_the_env_file(name):
    required = set(re.findall(r"\$\{(\w+):\?", (COMPOSE / name).read_text()))
    env = env_file()
    assert required and not [v for v in required if v not in env or not env[v]], f"unset in compose/.env: {sorted(required - set(env))}"


def test_only_tensorboard_publishes_and_nothing_is_privileged():
    services = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())["services"]
    assert set(services) == {"sandbox", "code", "math", "telecom", "trainer", "tensorboard"}
    assert [name for name, s in services.items() if s.get("ports")] == ["tensorboard"]
    assert services["tensorboard"]["ports"][0].startswith("127.0.0.1:")
    assert not [name for name, s in services.items() if s.get("privileged")]
    assert all(s.get("cap_drop") == ["ALL"] for s in services.values())
    assert services["sandbox"]["cap_add"] == ["SETUID", "SETGID", "KILL"]
    for name in ("math", "telecom", "code", "sandbox"):
        assert services[name]["healthcheck"]["test"][:3] == ["CMD", "verity", "health"]
    assert {d for d, c in services["trainer"]["depends_on"].items() if c["condition"] == "service_healthy"} == {"math", "telecom", "code"}


def test_every_call_in_the_stack_carries_its_token():
    stack = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    services = stack["services"]
    assert stack["secrets"]["auth_token"]["file"] == "./secrets/auth-token"
    for name in ("math", "telecom", "code", "sandbox"):
        command = services[name]["command"]
        assert command[command.index("--auth-token-file") + 1] == "/run/secrets/auth_token" and command[command.index("--host") + 1] == "0.0.0.0", name
        assert services[name]["secrets"] == ["auth_token"], name
    own = yaml.safe_load((COMPOSE / "docker-compose.own-verifier.yml").read_text())["services"]["math"]["command"]
    assert own[own.index("--auth-token-file") + 1] == "/run/secrets/auth_token"
    for name in ("docker-compose.yml", "docker-compose.gpu.yml"):
        trainer = yaml.safe_load((COMPOSE / name).read_text())["services"]["trainer"]["command"]
        assert "rewards.auth_token_file=/run/secrets/auth_token" in trainer.split(), name
    assert services["trainer"]["secrets"] == ["auth_token"]


def test_the_example_verifier_speaks_the_verifier_proto(tmp_path):
    (tmp_path / "token").write_text("example-token\n")
    server = subprocess.Popen([sys.executable, str(COMPOSE / "own-verifier" / "server.py"), "--port", "0", "--auth-token-file", str(tmp_path / "token")], stdout=subprocess.PIPE, text=True)
    try:
        address = "127.0.0.1:" + server.stdout.readline().rsplit(":", 1)[1].strip()
        wait_healthy(address)
        samples = [
            Sample(id="right", verifier="math", prompt="12 + 7?", reference={"answer": 19}, response="so 12 + 7 = 19."),
            Sample(id="wrong", verifier="math", prompt="12 + 7?", reference={"answer": 19}, response="19, no: 20"),
            Sample(id="none", verifier="math", prompt="12 + 7?", reference={"answer": 19}, response="nineteen"),
            Sample(id="bad", verifier="math", prompt="12 + 7?", reference={"answer": "x"}, response="19"),
        ]

        async def score(token):
            client = VerifierClient([address], ClientOptions(auth_token=token, retries=0))
            try:
                return await client.score(samples), await client.describe() if token else None
            finally:
                await client.close()

        scores, info = asyncio.run(score("example-token"))
        refused, _ = asyncio.run(score(None))
        assert {(s.status.value, "UNAUTHENTICATED" in s.detail) for s in refused} == {("ERROR", True)}
        assert [(s.id, s.status.value, s.reward) for s in scores] == [("right", "OK", 1.0), ("wrong", "WRONG", 0.0), ("none", "WRONG", 0.0), ("bad", "INVALID", 0.0)]
        assert info.name == "last-integer" and "answer" in scores[3].detail
    finally:
        server.terminate()
        server.wait(10)
