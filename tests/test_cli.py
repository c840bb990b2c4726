"""``verity score`` and ``verity serve`` as a user runs them: real subprocesses, real gRPC."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from serving.local import LocalServices

ROOT = Path(__file__).resolve().parents[1]


def run_verity(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "verity.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def write_samples(path, lines):
    path.write_bytes(b"".join((json.dumps(x) if isinstance(x, dict) else x).encode() if not isinstance(x, bytes) else x for x in lines))


def good(i, response, answer):
    return {"id": f"g{i}", "verifier": "math", "prompt": "q", "reference": {"answer": answer}, "response": response}


def test_score_starts_local_services_and_keeps_order(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_samples(
        inp,
        [
            json.dumps({**good(0, "\\boxed{3}", "3"), "model": "m-7b", "extra_info": {"split": "test"}}) + "\n",
            "this is not json\n",
            json.dumps({"id": "nr", "verifier": "math", "prompt": "q", "response": "1"}) + "\n",
            b"\xff\xfe\xfd\n",
            "\n",
            json.dumps({"id": "x", "verifier": "nope", "prompt": "q", "reference": {}, "response": "1"}) + "\n",
            json.dumps(good(5, "it is 8", "7")) + "\n",
            json.dumps({"id": "noresp", "verifier": "math", "prompt": "q", "reference": {"answer": "1"}}) + "\n",
        ],
    )
    result = run_verity("score", "--input", str(inp), "--output", str(out), "--workers", "1")
    assert result.returncode == 1, result.stderr  # some rows INVALID
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["status"] for r in rows] == ["OK", "INVALID", "INVALID", "INVALID", "INVALID", "WRONG", "INVALID"]
    assert rows[0] == {"model": "m-7b", "extra_info": {"split": "test"}, "id": "g0", "reward": 1.0, "status": "OK", "detail": rows[0]["detail"], "components": {}}
    assert "in.jsonl:2: not valid JSON" in rows[1]["detail"]
    assert "field 'reference'" in rows[2]["detail"] and rows[2]["id"] == "nr"
    assert "not UTF-8" in rows[3]["detail"]
    assert "no endpoint for verifier 'nope'" in rows[4]["detail"]
    assert "field 'response' is missing" in rows[6]["detail"]
    summary = " ".join(result.stderr.split())
    assert "7 rows scored into" in summary and "INVALID │ 5 │ 71.4%" in summary and "WRONG │ 1 │ 14.3%" in summary


@pytest.mark.sandbox
def test_score_code_samples_starts_the_code_service_and_its_sandbox(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    tests = {"tests": [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "5 5\n", "stdout": "10\n"}]}
    samples = [
        {"id": "right", "verifier": "code", "prompt": "add", "reference": tests, "response": "```python\nprint(sum(map(int, input().split())))\n```"},
        {"id": "wrong", "verifier": "code", "prompt": "add", "reference": tests, "response": "```python\nprint(3)\n```"},
        good(2, "\\boxed{4}", "4"),
    ]
    write_samples(inp, [json.dumps(x) + "\n" for x in samples])
    result = run_verity("score", "--input", str(inp), "--output", str(out), "--workers", "1")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["status"], r["reward"]) for r in rows] == [("right", "OK", 1.0), ("wrong", "WRONG", 0.0), ("g2", "OK", 1.0)]
    c = rows[1]["components"]
    assert (c["passed"], c["total"], c["cases_run"], c["sandbox_calls"]) == (1.0, 2.0, 2.0, 1.0)
    result = run_verity("score", "--input", str(inp), "--output", str(tmp_path / "fraction.jsonl"), "--workers", "1", "--code-reward", "fraction", "--max-tests", "1")
    rows = [json.loads(line) for line in (tmp_path / "fraction.jsonl").read_text().splitlines()]
    assert result.returncode == 0 and [r["reward"] for r in rows] == [1.0, 1.0, 1.0]  # only the first case runs, and print(3) passes it
    assert rows[1]["components"]["total"] == 1.0


@pytest.mark.parametrize("content,message", [(b"", "is empty"), (None, "no such file")])
def test_score_rejects_unusable_input(tmp_path, content, message):
    inp = tmp_path / "in.jsonl"
    if content is not None:
        inp.write_bytes(content)
    result = run_verity("score", "--input", str(inp), "--output", str(tmp_path / "o.jsonl"))
    assert result.returncode == 2
    assert message in result.stderr


def test_score_against_a_running_service(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_samples(inp, [json.dumps(good(i, f"\\boxed{{{i}}}", str(i if i % 2 else i + 1))) + "\n" for i in range(50)])
    with LocalServices({"math"}, workers=1) as endpoints:
        result = run_verity("score", "--input", str(inp), "--output", str(out), "--endpoint", f"math={endpoints['math'][0]}")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"g{i}" for i in range(50)]
    assert [r["status"] for r in rows] == ["OK" if i % 2 else "WRONG" for i in range(50)]


def test_bad_endpoint_flag(tmp_path):
    inp = tmp_path / "in.jsonl"
    write_samples(inp, [json.dumps(good(0, "1", "1")) + "\n"])
    result = run_verity("score", "--input", str(inp), "--output", str(tmp_path / "o"), "--endpoint", "math")
    assert result.returncode == 2 and "NAME=HOST:PORT" in result.stderr


def test_serve_stops_gracefully_on_sigterm():
    services = LocalServices({"math"}, workers=1)
    with services:
        proc = services.processes["math"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0  # health NOT_SERVING, in-flight calls drained, pool closed


def test_serve_refuses_a_port_in_use():
    services = LocalServices({"math"}, workers=1)
    with services as endpoints:
        port = endpoints["math"][0].rsplit(":", 1)[1]
        result = run_verity("serve", "math", "--host", "127.0.0.1", "--port", port, "--workers", "1", timeout=60)
    assert result.returncode != 0
    assert "in use" in result.stderr


def test_health_exits_zero_only_for_a_serving_service(math_server):
    serving = run_verity("health", math_server.address)
    named = run_verity("health", math_server.address, "--service", "verity.v1.Verifier")
    unknown = run_verity("health", math_server.address, "--service", "no.such.Service")
    with LocalServices(["telecom"]) as endpoints:
        address = endpoints["telecom"][0]
    gone = run_verity("health", address, "--timeout-s", "1")  # its server has stopped
    assert (serving.returncode, serving.stdout.split()[-1]) == (0, "SERVING")
    assert (named.returncode, named.stdout.split()[-1]) == (0, "SERVING")
    assert (unknown.returncode, unknown.stdout.split()[-1]) == (1, "NOT_FOUND")
    assert (gone.returncode, gone.stdout.split()[-1]) == (1, "UNREACHABLE")


def test_health_needs_only_grpc(math_server):
    """An image with its own verifier carries verity without its dependencies for this probe."""
    blocked = ["pydantic", "torch", "transformers", "yaml", "rich", "math_verify", "pyarrow", "numpy"]
    probe = f"import sys; sys.modules.update(dict.fromkeys({blocked!r})); from verity.cli import main; sys.exit(main(['health', {math_server.address!r}]))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert (result.returncode, result.stdout.split()[-1:]) == (0, ["SERVING"]), result.stderr[-2000:]


def test_train_check_resolves_a_config_with_an_own_loss_without_loading_a_model(tmp_path):
    (tmp_path / "my_rl.py").write_text(
        "from trainer.algorithms import PolicyLossOutput\n\n\n"
        "def reinforce(inp):\n"
        '    """-A log pi per token."""\n'
        "    return PolicyLossOutput(inp.aggregate(-inp.advantages * inp.logp))\n"
    )
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "VERITY_CACHE": str(cache)}
    result = subprocess.run([sys.executable, "-m", "verity.cli", "train", "--check", "configs/dapo.yaml", "algorithm.loss=my_rl:reinforce"], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout.split("# this config's algorithms")[0])
    assert resolved["algorithm"]["loss"] == "my_rl:reinforce" and resolved["algorithm"]["dapo"]["dynamic_sampling"] is True
    assert "algorithm.loss=my_rl:reinforce: -A log pi per token." in result.stdout
    for name in ("grpo", "otb", "ppo_clip", "dppo_kl_topk", "rlpt", "tis", "kl"):
        assert f"\n  {name} " in result.stdout
    assert not cache.exists()  # no model was converted or loaded


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["algorithm.loss=my_missing_module:loss"], "config key 'algorithm.loss': 'my_missing_module:loss': module 'my_missing_module' does not import"),
        (["algorithm.advantage=grpo2"], "did you mean 'grpo'?"),
        (["data.train=/no/such/train.jsonl", "data.test=/no/such/test.jsonl"], "data.train: /no/such/train.jsonl does not exist"),
        (["rollout.group_size=1"], "with rollout.group_size=1 every advantage is 0 and nothing trains; set rollout.group_size to 2 or more"),
        (["algorithm.advantage=otb", "rollout.group_size=1"], "algorithm.advantage=otb compares each response with the rest of its group"),
        (["data.train=README.md"], "evaluation would measure the built-in arithmetic task instead of what is trained"),
        (["algorithm.loss=dapo", "algorithm.loss_agg=seq-mean-token-mean"], "set algorithm.loss_agg=token-mean"),
    ],
)
def test_train_check_exits_2_with_the_reason(overrides, message):
    result = run_verity("train", "--check", *overrides, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("verity train: ") and message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "data.train=/no/such/train.jsonl", "data.test=/no/such/test.jsonl"], "verity train: data.train: /no/such/train.jsonl does not exist: give the path of an existing file"),
        (["train", "model.path=README.md"], "verity train: model.path: README.md is not a folder: give a local Hugging Face model folder"),
        (["train", "--resume", "/no/such/run"], "verity train: --resume /no/such/run: not a run folder or checkpoint"),
        (["train", "train.output_dir=README.md/runs"], "verity train: train.output_dir: cannot create README.md/runs (Not a directory): choose a folder you can write"),
        (["eval", "--checkpoint", "/no/such/run", "--data", "README.md"], "verity eval: /no/such/run: no such checkpoint or run folder"),
        (["eval", "--checkpoint", "docs", "--data", "README.md"], "verity eval: docs: no checkpoint in docs yet"),
    ],
)
def test_user_mistakes_get_one_line_and_exit_2(args, message, tmp_path):
    first = [f"train.output_dir={tmp_path / 'run'}"] if args[0] == "train" else []  # a case's own output_dir comes later and wins
    result = run_verity(args[0], *first, *args[1:], timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr
    assert not (tmp_path / "run").exists()  # nothing started


def test_score_reads_parquet_and_json_arrays_and_names_misspelled_fields(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"data_source": "gsm", "prompt": [{"role": "user", "content": f"{i}+{i}?"}], "reward_model": {"ground_truth": str(2 * i)}, "extra_info": {"index": i}, "response": f"\\boxed{{{2 * i if i != 3 else 0}}}"} for i in range(4)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "verl.parquet")
    result = run_verity("score", "--input", str(tmp_path / "verl.parquet"), "--output", str(tmp_path / "p.jsonl"), "--workers", "1")
    assert result.returncode == 0, result.stderr
    scored = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [(r["id"], r["status"], r["data_source"], r["extra_info"]) for r in scored] == [(f"gsm-{i}", "OK" if i != 3 else "WRONG", "gsm", {"index": i}) for i in range(4)]

    array = [good(0, "\\boxed{1}", "1"), {"id": "typo", "verifier": "math", "refrence": {"answer": "1"}, "response": "1"}, {**good(2, "2", "2"), "responses": ["a", "b"], "prompt_id": 7}]
    (tmp_path / "samples.jsonl").write_text(json.dumps(array, indent=1))  # an array, whatever the name says
    result = run_verity("score", "--input", str(tmp_path / "samples.jsonl"), "--output", str(tmp_path / "a.jsonl"), "--workers", "1")
    scored = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert result.returncode == 1 and [r["status"] for r in scored] == ["OK", "INVALID", "OK"]
    assert "field 'refrence' is not in the schema: did you mean 'reference'?" in scored[1]["detail"] and "samples.jsonl:[1]" in scored[1]["detail"]
    assert scored[2]["responses"] == ["a", "b"] and scored[2]["prompt_id"] == 7  # extra fields that misspell nothing are kept


def test_score_exit_codes_and_checks_before_scoring(tmp_path):
    inp = tmp_path / "in.jsonl"
    write_samples(inp, [json.dumps(good(i, "1", "1")) + "\n" for i in range(3)])
    unreachable = run_verity("score", "--input", str(inp), "--output", str(tmp_path / "o.jsonl"), "--endpoint", "math=127.0.0.1:1")
    assert unreachable.returncode == 3 and "ERROR │ 3 │ 100.0%" in " ".join(unreachable.stderr.split())
    assert {json.loads(line)["status"] for line in (tmp_path / "o.jsonl").read_text().splitlines()} == {"ERROR"}
    nowhere = run_verity("score", "--input", str(inp), "--output", str(tmp_path / "missing" / "o.jsonl"))
    assert nowhere.returncode == 2 and nowhere.stderr.strip().splitlines() == [f"verity score: --output {tmp_path / 'missing' / 'o.jsonl'}: the folder {tmp_path / 'missing'} does not exist: create it (mkdir -p {tmp_path / 'missing'}) or write elsewhere"]


def test_a_row_too_large_for_one_message_is_invalid_on_its_own(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_samples(inp, [json.dumps(good(i, "\\boxed{1}" if i != 2 else "x" * (3 * 2**20) + "\\boxed{1}", "1")) + "\n" for i in range(6)])
    result = run_verity("score", "--input", str(inp), "--output", str(out), "--workers", "1", "--max-message-mb", "2")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert result.returncode == 1 and [r["status"] for r in rows] == ["OK", "OK", "INVALID", "OK", "OK", "OK"]
    assert "the sample is 3.0 MiB on the wire, over the 2 MiB message limit" in rows[2]["detail"]


def test_batches_are_split_by_bytes_under_the_message_limit():
    import asyncio

    from contract.schema import Sample
    from rewards.client import VerifierClient
    from serving.client import ClientOptions

    options = ClientOptions(max_message_bytes=2**20, batch_size=256)
    big = "y" * 300_000 + "\\boxed{1}"  # three fit one message, four do not
    samples = [Sample(id=f"s{i}", verifier="math", reference={"answer": "1"}, response=big) for i in range(10)]

    async def score(addresses):
        client = VerifierClient(addresses, options)
        try:
            return await client.score(samples), client.failed_batches
        finally:
            await client.close()

    with LocalServices({"math"}, workers=1, max_message_mb=1) as endpoints:
        scores, failed = asyncio.run(score(endpoints["math"]))
    assert [s.status.value for s in scores] == ["OK"] * 10 and failed == 0


def test_version_and_train_help_name_the_sections_and_the_reference():
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert run_verity("--version").stdout.strip() == f"verity {version}"
    help_text = run_verity("train", "--help").stdout
    for section in ("model", "data", "rollout", "algorithm", "optim", "train", "rewards", "eval", "log"):
        assert f"\n  {section} " in help_text
    assert "'Config reference' section of README.md" in help_text


@pytest.mark.model
def test_a_terminated_training_run_stops_the_services_it_started(tmp_path):
    """SIGTERM (docker stop, kill) ends verity train through its cleanup: no local service outlives it."""
    import time

    proc = subprocess.Popen([sys.executable, "-m", "verity.cli", "train", "train.steps=50", "data.arithmetic.test_size=4", "rewards.local_workers=1", f"train.output_dir={tmp_path / 'run'}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        if "held-out accuracy before training" in line or time.monotonic() > deadline:
            break  # the math service is up and has scored
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert children, "no local service was started"
    proc.terminate()
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    time.sleep(1)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
    assert not alive, f"services outlived the trainer: {alive}"
