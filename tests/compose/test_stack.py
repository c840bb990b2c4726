"""The local stack for real: images built FROM a Debian image made here, one container per service,
a training run across them that rides out a verifier stopped mid-run, scoring through every
service (the sandbox's isolation included), replicas, the least-privilege settings, and a verifier
of the user's own swapped in by an override file."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request

import pytest
import yaml

from tests.compose.conftest import ROOT, Stack, docker

pytestmark = [pytest.mark.compose, pytest.mark.timeout(1800)]

OWN_VERIFIER = ("docker-compose.own-verifier.yml",)
SHORT_RUN = "rollout.prompts_per_step=2 rollout.group_size=8 rollout.max_new_tokens=64 data.arithmetic.test_size=8 eval.before=false train.checkpoint_every=0"


def wait_for_log(container: str, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        logs = docker("logs", container)
        if text in logs.stdout + logs.stderr:
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared in the logs of {container}")


def finish(stack: Stack, service: str, timeout_s: float = 900) -> tuple[int, str]:
    """Wait for a service's container to exit: its exit code and its logs."""
    container = stack.container(service)
    code = int(subprocess.run(["docker", "wait", container], capture_output=True, text=True, timeout=timeout_s).stdout.strip())
    logs = docker("logs", container)
    return code, logs.stdout + logs.stderr


def score_in_stack(stack: Stack, samples: list[dict], endpoints: list[str], files: tuple[str, ...] = (), token: bool = True) -> dict[str, dict]:
    """`verity score` in a one-off trainer container against the stack's services (sending the
    stack's token unless ``token`` is false): id -> score; its exit code is checked against the
    statuses (3 with an ERROR, else 1 with an INVALID, else 0)."""
    args = " ".join(f"--endpoint {e}" for e in endpoints) + (" --auth-token-file /run/secrets/auth_token" if token else "")
    script = f"cat > /tmp/in.jsonl; verity score --input /tmp/in.jsonl --output /tmp/out.jsonl {args} >&2; code=$?; cat /tmp/out.jsonl; printf '{{\"exit\": %d}}\\n' $code"
    out = stack.run_in_trainer("sh", "-c", script, input="".join(json.dumps(s) + "\n" for s in samples), files=files)
    *rows, (exit_line) = map(json.loads, out.splitlines())
    statuses = {r["status"] for r in rows}
    assert exit_line["exit"] == (3 if "ERROR" in statuses else 1 if "INVALID" in statuses else 0), out
    return {r["id"]: r for r in rows}


def test_a_build_leaves_only_the_stacks_tagged_images(stack: Stack):
    """Build stages and replaced images are removed, so rebuilding never piles up untagged images."""
    untagged = docker("images", "--quiet", "--filter", "dangling=true", "--filter", "label=verity.stack").stdout.split()
    assert untagged == []
    labelled = docker("images", "--format", "{{.Repository}}", "--filter", "label=verity.stack").stdout.split()
    assert {"verity-trainer", "verity-sandbox", "verity-code", "verity-math", "verity-telecom"} <= set(labelled)


def test_training_rides_out_a_verifier_stopped_mid_run(stack: Stack):
    env = {"RUN_NAME": "ci-restart", "TRAIN_OVERRIDES": f"train.steps=2 {SHORT_RUN}"}
    stack.compose("up", "-d", "trainer", env=env)  # the services first, the trainer once they are healthy
    math, trainer = stack.container("math"), stack.container("trainer")
    wait_for_log(math, "scored batch", timeout_s=600)  # step 1 is scored; step 2 is still generating
    docker("stop", math)
    wait_for_log(trainer, "answered UNAVAILABLE: retry 3 of", timeout_s=300)  # step 2's scoring meets the stopped verifier
    assert docker("inspect", "-f", "{{.State.Running}}", trainer).stdout.strip() == "true", "the trainer gave up while the verifier was away"
    docker("start", math)
    code, logs = finish(stack, "trainer")
    assert code == 0, logs[-3000:]
    records = [r for r in stack.metrics("ci-restart") if "scoring/ok" in r]
    assert [r["step"] for r in records] == [1, 2]
    first, second = records
    assert first["scoring/retried_calls"] == 0
    assert second["scoring/retried_calls"] > 0, "step 2 was scored without meeting the stopped verifier"
    assert second["scoring/dropped_error"] == 0 and second["scoring/failed_batches"] == 0
    assert second["scoring/ok"] + second["scoring/wrong"] == 16  # every response scored for real
    assert "held-out accuracy after 2 steps" in logs


def test_the_code_recipe_trains_through_the_sandbox_container(stack: Stack):
    """configs/code.yaml for 2 steps: every program the trainer samples goes to the code
    container, which runs it in the sandbox container."""
    short = "rollout.prompts_per_step=2 rollout.group_size=4 rollout.max_new_tokens=160 eval.before=false eval.after=false eval.every=0 train.checkpoint_every=0"
    env = {"RUN_NAME": "ci-code", "TRAIN_CONFIG": "configs/code.yaml", "TRAIN_OVERRIDES": f"train.steps=2 {short}"}
    stack.compose("up", "-d", "trainer", env=env)
    code, logs = finish(stack, "trainer")
    assert code == 0, logs[-3000:]
    records = [r for r in stack.metrics("ci-code") if "scoring/ok" in r]
    assert [r["step"] for r in records] == [1, 2]
    for r in records:
        assert r["scoring/error"] == 0 and r["scoring/ok"] + r["scoring/wrong"] + r["scoring/timeout"] == 8
    assert sum(r.get("code/sandbox_calls", 0) for r in records) > 0, "no program reached the sandbox container"
    assert sum(r.get("code/cases_run", 0) for r in records) >= sum(r.get("code/sandbox_calls", 0) for r in records)


def test_every_service_scores_across_containers_and_the_sandbox_isolates(stack: Stack):
    stack.compose("up", "-d", "math", "telecom", "code")
    for service in ("math", "telecom", "code", "sandbox"):
        stack.wait_healthy(service)
    isolated_net = "import socket\ntry:\n    socket.create_connection(('math', 50051), timeout=2)\n    print('reached math')\nexcept OSError:\n    print('isolated')"
    samples = [
        {"id": "math-ok", "verifier": "math", "prompt": "1/2?", "reference": {"answer": "\\frac{1}{2}"}, "response": "\\boxed{0.5}"},
        {"id": "math-wrong", "verifier": "math", "prompt": "1/2?", "reference": {"answer": "\\frac{1}{2}"}, "response": "\\boxed{0.25}"},
        {"id": "tel-mcq", "verifier": "telecom", "prompt": "?", "reference": {"kind": "mcq", "options": ["3 dB", "6 dB", "10 dB"], "answer": 2}, "response": "The answer is \\boxed{2}"},
        {"id": "tel-num", "verifier": "telecom", "prompt": "1 W in dBm?", "reference": {"kind": "numeric", "answer": 30, "unit": "dBm", "rel_tol": 0.01}, "response": "\\boxed{1 W}"},
        {"id": "code-ok", "verifier": "code", "prompt": "double", "reference": {"tests": [{"stdin": "21\n", "stdout": "42\n"}]}, "response": "```python\nprint(int(input()) * 2)\n```"},
        {"id": "code-wrong", "verifier": "code", "prompt": "double", "reference": {"tests": [{"stdin": "21\n", "stdout": "42\n"}]}, "response": "```python\nprint(int(input()) + 2)\n```"},
        {"id": "code-no-network", "verifier": "code", "prompt": "-", "reference": {"tests": [{"stdin": "", "stdout": "isolated\n"}]}, "response": f"```python\n{isolated_net}\n```"},
        {"id": "code-no-proc", "verifier": "code", "prompt": "-", "reference": {"tests": [{"stdin": "", "stdout": "False\n"}]}, "response": "```python\nimport os\nprint(os.path.exists('/proc/1/cmdline'))\n```"},
    ]
    scores = score_in_stack(stack, samples, ["math=math:50051", "telecom=telecom:50051", "code=code:50051"])
    statuses = {i: s["status"] for i, s in scores.items()}
    assert statuses == {"math-ok": "OK", "math-wrong": "WRONG", "tel-mcq": "OK", "tel-num": "OK", "code-ok": "OK", "code-wrong": "WRONG", "code-no-network": "OK", "code-no-proc": "OK"}, scores
    refused = score_in_stack(stack, samples[:1], ["math=math:50051"], token=False)  # a caller without the stack's token
    assert refused["math-ok"]["status"] == "ERROR" and "UNAUTHENTICATED" in refused["math-ok"]["detail"]


def test_a_scaled_verifier_shares_the_calls(stack: Stack):
    stack.compose("up", "-d", "--scale", "telecom=2", "telecom")
    stack.wait_healthy("telecom")
    replicas = stack.containers("telecom")
    assert len(replicas) == 2
    before = [docker("logs", c).stderr.count("scored batch") for c in replicas]
    script = (
        "import asyncio\n"
        "from rewards.client import VerifierClient\n"
        "from serving.client import ClientOptions\n"
        "from contract.schema import Sample\n"
        "ref = {'kind': 'numeric', 'answer': 30, 'unit': 'dBm', 'rel_tol': 0.01}\n"
        "samples = [Sample(id=str(i), verifier='telecom', prompt='?', reference=ref, response='30 dBm') for i in range(64)]\n"
        "async def main():\n"
        "    token = open('/run/secrets/auth_token').read().strip()\n"
        "    client = VerifierClient(['telecom:50051'], ClientOptions(batch_size=4, auth_token=token))\n"
        "    scores = await client.score(samples)\n"
        "    await client.close()\n"
        "    print(sum(s.status.value == 'OK' for s in scores))\n"
        "asyncio.run(main())\n"
    )
    assert stack.run_in_trainer("python3", "-c", script).strip() == "64"
    calls = [docker("logs", c).stderr.count("scored batch") - b for c, b in zip(replicas, before)]
    assert sum(calls) == 16 and min(calls) >= 4, f"batches per replica: {calls}"  # round-robin over the name's addresses
    stack.compose("up", "-d", "--scale", "telecom=1", "telecom")


def test_least_privilege_and_only_tensorboard_published(stack: Stack):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    stack.compose("--profile", "tensorboard", "up", "-d", "tensorboard", env={"TENSORBOARD_PORT": str(port)})
    sandbox = json.loads(docker("inspect", stack.container("sandbox")).stdout)[0]["HostConfig"]
    assert sandbox["Privileged"] is False
    assert sandbox["CapDrop"] == ["ALL"] and sorted(sandbox["CapAdd"]) == ["KILL", "SETGID", "SETUID"]
    opts = sandbox["SecurityOpt"]
    assert "no-new-privileges:true" in opts or "no-new-privileges" in opts
    seccomp = json.loads(next(o for o in opts if o.startswith("seccomp="))[len("seccomp=") :])
    assert {"setns", "bpf", "ptrace", "kexec_load"} <= set(seccomp["syscalls"][0]["names"])
    for service in ("math", "telecom", "code", "sandbox"):
        host = json.loads(docker("inspect", stack.container(service)).stdout)[0]["HostConfig"]
        assert not host["Privileged"] and not any(host.get("PortBindings") or {}), f"{service} publishes a port"
    backend = json.loads(docker("network", "inspect", "verity-test_backend").stdout)[0]
    assert backend["Internal"] is True
    tensorboard = json.loads(docker("inspect", stack.container("tensorboard")).stdout)[0]["HostConfig"]["PortBindings"]
    assert tensorboard == {"6006/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                assert page.status == 200 and b"TensorBoard" in page.read()
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    stack.compose("--profile", "tensorboard", "stop", "tensorboard")


def test_the_apparmor_profile_compiles(stack: Stack):
    """apparmor_parser compiles it (no kernel load: this machine may not run AppArmor)."""
    result = subprocess.run(["apparmor_parser", "--skip-kernel-load", "--skip-cache", str(ROOT / "compose" / "sandbox" / "apparmor.profile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_own_verifier_replaces_math_without_touching_the_trainer(stack: Stack):
    stack.compose("build", "math", files=OWN_VERIFIER)
    stack.compose("up", "-d", "math", files=OWN_VERIFIER)
    stack.wait_healthy("math")
    image = docker("inspect", "-f", "{{.Config.Image}}", stack.container("math")).stdout.strip()
    assert image == "verity-own-verifier"
    samples = [
        {"id": "last", "verifier": "math", "prompt": "12 + 7?", "reference": {"answer": 19}, "response": "12 + 7 = 19"},
        {"id": "boxed", "verifier": "math", "prompt": "12 + 7?", "reference": {"answer": 19}, "response": "\\boxed{19}"},
        {"id": "wrong", "verifier": "math", "prompt": "12 + 7?", "reference": {"answer": 19}, "response": "19 or 20"},
        {"id": "bad-ref", "verifier": "math", "prompt": "12 + 7?", "reference": {"value": 19}, "response": "19"},
    ]
    scores = score_in_stack(stack, samples, ["math=math:50051"], files=OWN_VERIFIER)
    assert {i: s["status"] for i, s in scores.items()} == {"last": "OK", "boxed": "OK", "wrong": "WRONG", "bad-ref": "INVALID"}
    assert "last integer" in scores["last"]["detail"]  # the example's own words: not the built-in checker
    env = {"RUN_NAME": "ci-own-verifier", "TRAIN_OVERRIDES": f"train.steps=1 eval.after=false {SHORT_RUN}"}
    stack.compose("up", "-d", "--no-deps", "trainer", env=env, files=OWN_VERIFIER)
    code, logs = finish(stack, "trainer")
    assert code == 0, logs[-3000:]
    (record,) = [r for r in stack.metrics("ci-own-verifier") if "scoring/ok" in r]
    assert record["scoring/ok"] + record["scoring/wrong"] == 16 and record["scoring/dropped_error"] == 0
    stack.compose("up", "-d", "math")  # the built-in verifier back


def test_the_gpu_override_is_a_valid_compose_file(stack):
    """compose/docker-compose.gpu.yml, merged by ``docker compose config``: the trainer reserves
    GPUS_PER_NODE NVIDIA GPUs and runs one process per GPU under torchrun."""
    merged = yaml.safe_load(stack.compose("config", files=("docker-compose.gpu.yml",)).stdout)
    trainer = merged["services"]["trainer"]
    (device,) = trainer["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"] and str(device["count"]) == "1"
    command = " ".join(trainer["command"]) if isinstance(trainer["command"], list) else trainer["command"]
    assert command.startswith("torchrun --standalone --nproc_per_node 1 --no-python verity train") and "train.device=cuda" in command
    assert "rewards.endpoints.math=math:50051" in command
