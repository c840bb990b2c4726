"""The compose group's machinery: a Docker engine (installed and started when missing), the
stack's images built FROM a Debian image made here with debootstrap, and a ``Stack`` handle on one
compose project that is torn down, volumes included, after the group."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, load_script

build = load_script("compose/build.py", "compose_build")  # the images are built as a user builds them

PROJECT = "verity-test"  # apart from a user's own "verity" stack on the same engine
APT_PACKAGES = {"dockerd": "docker.io", "docker-compose": "docker-compose", "debootstrap": "debootstrap", "apparmor_parser": "apparmor"}


def _engine_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def ensure_engine(tmp: Path) -> subprocess.Popen | None:
    """Install what is missing of Docker, Compose, debootstrap and apparmor_parser (apt-get, as
    root), and start dockerd unless one answers. Returns the dockerd it started, if any."""
    missing = [pkg for tool, pkg in APT_PACKAGES.items() if shutil.which(tool) is None]
    if missing:
        if os.geteuid() != 0:
            pytest.fail(f"the compose group needs {', '.join(missing)}: install them (apt-get install {' '.join(missing)}) or run as root")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env, stdout=subprocess.DEVNULL)
    if _engine_answers():
        return None
    log = open(tmp / "dockerd.log", "w")
    daemon = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(120):
        if _engine_answers():
            return daemon
        if daemon.poll() is not None:
            break
        time.sleep(0.5)
    pytest.fail(f"dockerd did not start: {(tmp / 'dockerd.log').read_text()[-2000:]}")


class Stack:
    """``docker compose`` (or ``docker-compose``) on compose/docker-compose.yml under project ``PROJECT``."""

    def __init__(self, base_image: str):
        self.base_image = base_image
        self.compose_cmd = build.compose_command()

    def compose(self, *args: str, files: tuple[str, ...] = (), env: dict[str, str] | None = None, check: bool = True, timeout: float = 900, input: str | None = None) -> subprocess.CompletedProcess:
        cmd = [*self.compose_cmd, "-p", PROJECT, "-f", str(build.COMPOSE_FILE)]
        for f in files:
            cmd += ["-f", str(ROOT / "compose" / f)]
        result = subprocess.run([*cmd, *args], cwd=ROOT, env={**build.compose_env(self.base_image), **(env or {})}, capture_output=True, text=True, timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).stdout.split()

    def container(self, service: str) -> str:
        """The id of the service's (first) container."""
        ids = self.containers(service)
        assert ids, f"no container for {service}"
        return ids[0]

    def wait_healthy(self, service: str, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = [docker("inspect", "-f", "{{.State.Health.Status}}", c).stdout.strip() for c in self.containers(service)]
            if states and all(s == "healthy" for s in states):
                return
            time.sleep(1)
        raise AssertionError(f"{service} not healthy after {timeout_s:g}s: {states}; logs:\n{self.compose('logs', '--tail', '40', service).stdout}")

    def run_in_trainer(self, *command: str, input: str | None = None, files: tuple[str, ...] = ()) -> str:
        """``command`` in a one-off trainer container on the stack's network (no dependencies started)."""
        return self.compose("run", "--rm", "-T", "--no-deps", "trainer", *command, input=input, files=files).stdout

    def metrics(self, run_name: str) -> list[dict]:
        text = self.run_in_trainer("cat", f"/runs/{run_name}/latest/metrics.jsonl")
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Stack:
    """Engine up, images built FROM verity-base:bookworm, and everything of the project removed afterwards."""
    daemon = ensure_engine(tmp_path_factory.mktemp("docker"))
    assert build.main(["--debootstrap"]) == 0, "compose/build.py --debootstrap failed (its output is above)"
    handle = Stack(build.DEBOOTSTRAP_IMAGE)
    try:
        yield handle
    finally:
        handle.compose("--profile", "tensorboard", "down", "-v", "--remove-orphans", files=("docker-compose.own-verifier.yml",), check=False)
        docker("image", "prune", "--all", "--force", "--filter", f"label={build.STACK_LABEL}", check=False)
        if daemon is not None:
            daemon.terminate()
            daemon.wait(timeout=60)
