"""Training end to end with the real model and real gRPC verifier subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from contract.schema import Score, Status
from trainer.config import load_config
from trainer.data.arithmetic import arithmetic_splits
from trainer.experience import Experience
from trainer.loop import Trainer
from trainer.model import load_model, load_tokenizer
from trainer.rollout.base import Rollout
from trainer.rollout.hf import HFEngine
from trainer.run import eval_main, train_main

pytestmark = pytest.mark.model

TINY = [
    "rollout.prompts_per_step=2",
    "rollout.group_size=4",
    "rollout.max_new_tokens=12",
    "eval.max_new_tokens=12",
    "data.arithmetic.test_size=4",
    "rewards.local_workers=1",
    "rollout.temperature=1.5",
]


def metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "latest" / "metrics.jsonl").read_text().splitlines()]


def test_two_steps_through_real_grpc(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_main(None, [*TINY, "train.steps=2", f"train.output_dir={out}"]) == 0
    records = metrics(out)
    assert [r["step"] for r in records] == [0, 1, 2]
    for r in records[1:]:
        assert r["scoring/ok"] + r["scoring/wrong"] + r["scoring/timeout"] + r["scoring/invalid"] == 8
        assert r["scoring/dropped_error"] == 0
        assert r["tokens/generated"] > 0 and r["time/generate"] > 0
        assert r["train/sequences_trained"] + r["train/sequences_skipped"] == 8
    assert "eval/accuracy" in records[0] and "eval/accuracy" in records[-1]
    assert (out / "latest" / "checkpoints" / "step-000002" / "model" / "model.safetensors").is_file()
    assert (out / "latest" / "curves.png").stat().st_size > 10_000
    assert any((out / "latest" / "tensorboard").iterdir())
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "latest" / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    shown = [e.tensor_proto.string_val[0].decode() for e in events.Tensors("rollouts/text_summary")]
    assert len(shown) == 2 and all(text.startswith("| prompt | response | reward | status | advantage |") for text in shown)
    rollouts = [json.loads(line) for line in (out / "latest" / "rollouts.jsonl").read_text().splitlines()]
    assert [(r["step"], r["group"], r["index"]) for r in rollouts] == [(s, g, i) for s in (1, 2) for g in (0, 1) for i in range(4)]
    for r in rollouts:
        assert r["response"] and r["status"] in ("OK", "WRONG") and r["reward"] in (0.0, 1.0) and r["detail"]
    for step in (1, 2):
        for g in (0, 1):
            group = [r for r in rollouts if (r["step"], r["group"]) == (step, g)]
            rewards, advantages = torch.tensor([r["reward"] for r in group], dtype=torch.float64), torch.tensor([r["advantage"] for r in group], dtype=torch.float64)
            expected = (rewards - rewards.mean()) / (rewards.std() + 1e-6) if rewards.std() > 0 else torch.zeros(4, dtype=torch.float64)
            assert torch.allclose(advantages, expected, atol=1e-5)  # GRPO's, recomputed here

    data = tmp_path / "test.jsonl"
    data.write_text("".join(s.model_dump_json() + "\n" for s in arithmetic_splits(test_size=4)[1]))
    assert eval_main(str(out), str(data), ["eval.max_new_tokens=12", "rewards.local_workers=1"]) == 0
    out_text = capsys.readouterr().err.replace("\n", "")  # rich wraps long lines
    assert "checkpoints/step-000002: accuracy" in out_text and "on 4 samples" in out_text

    # a second run of the same name writes its own folder: the first is left as it was
    first = (out / "latest").resolve()
    first_metrics = (first / "metrics.jsonl").read_text()
    assert train_main(None, [*TINY, "train.steps=1", "eval.before=false", "eval.after=false", f"train.output_dir={out}"]) == 0
    second = (out / "latest").resolve()
    assert second != first and sorted(p.name for p in out.iterdir()) == sorted([first.name, second.name, "latest"])
    assert (first / "metrics.jsonl").read_text() == first_metrics and (first / "checkpoints" / "step-000002").is_dir()
    assert [r["step"] for r in metrics(out)] == [1]
    capsys.readouterr()
    assert eval_main(str(out), str(data), ["eval.max_new_tokens=12", "rewards.local_workers=1"]) == 0
    assert f"{second.name}/checkpoints/step-000001: accuracy" in capsys.readouterr().err.replace("\n", "")


def test_telecom_config_trains_through_the_telecom_grader(tmp_path):
    """configs/telecom.yaml as shipped, shortened: generated questions, graded over gRPC."""
    out = tmp_path / "telecom"
    overrides = [*TINY[:4], "rewards.local_workers=1", "data.telecom.train_size=16", "data.telecom.test_size=4", "train.steps=1", f"train.output_dir={out}"]
    assert train_main(str(Path(__file__).resolve().parents[2] / "configs" / "telecom.yaml"), overrides) == 0
    records = metrics(out)
    assert records[-1]["scoring/ok"] + records[-1]["scoring/wrong"] == 8 and records[-1]["scoring/invalid"] == 0
    assert "eval/accuracy" in records[-1]


@pytest.mark.vllm
def test_two_steps_with_the_vllm_engine(tmp_path):
    """rollout.engine=vllm: rollouts from vLLM, weights synced in memory after each step."""
    out = tmp_path / "vllm"
    overrides = ["rollout.engine=vllm", "rollout.vllm.max_model_len=256", "algorithm.tis.cap=2", "train.skip_zero_advantage=false", "train.steps=2", "eval.before=false"]
    assert train_main(None, [*TINY, *overrides, f"train.output_dir={out}"]) == 0
    records = metrics(out)
    assert [r["step"] for r in records] == [1, 2]
    assert all(r["time/weight_sync"] > 0 and r["tokens/generated"] > 0 for r in records)
    trained = [r for r in records if r["train/sequences_trained"] > 0]
    assert trained and all(0.95 < r["tis/weight"] < 1.05 and r["tis/capped"] < 0.01 for r in trained)  # engine and trainer agree
    assert "eval/accuracy" in records[-1]


@pytest.mark.vllm
@pytest.mark.sandbox
def test_tool_episodes_with_the_vllm_engine(tmp_path):
    """rollout.tools with vllm: each turn one vLLM call over the running episodes, the blocks run in
    a local sandbox; on the model's own tokens the engine's log-probs still match the trainer's
    (the tool's tokens between them are masked out), so the importance weights stay near 1."""
    out = tmp_path / "tool"
    overrides = ["data.task=products", "data.products.test_size=4", "rollout.tools=[python]", "rollout.engine=vllm", "rollout.vllm.max_model_len=1024", "rollout.max_new_tokens=64", "rollout.group_size=8", "rollout.temperature=1.0", "algorithm.tis.cap=2", "train.skip_zero_advantage=false", "train.steps=1", "eval.before=false", "eval.after=false", "eval.every=0"]
    assert train_main(None, [*TINY, *overrides, f"train.output_dir={out}"]) == 0
    (step,) = metrics(out)
    assert step["tools/calls_per_episode"] > 0 and step["tools/errors"] == 0 and step["time/tool"] > 0
    assert step["train/sequences_trained"] == 16 and 0.95 < step["tis/weight"] < 1.05
    rollouts = [json.loads(line) for line in (out / "latest" / "rollouts.jsonl").read_text().splitlines()]
    called = [r for r in rollouts if r.get("turns")]
    assert called and all("```output\n" in r["response"] and r["tool_tokens"] > 0 for r in called)


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return load_model("smollm2-135m-instruct"), load_tokenizer("smollm2-135m-instruct")


def make_trainer(policy, tmp_path, score, *overrides, ref_model=None):
    model, tokenizer = policy
    cfg = load_config(None, [*TINY, f"train.output_dir={tmp_path}", *overrides])
    train, test = arithmetic_splits(test_size=4)
    return Trainer(cfg, model, tokenizer, HFEngine(model, tokenizer), score, train, test, ref_model=ref_model)


def hand_made_batch(tokenizer):
    """Two responses to one prompt, the right one rewarded, each twice."""
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2 + 2?"}], add_generation_prompt=True, tokenize=True)
    prompt = list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
    good, bad = tokenizer("\\boxed{4}")["input_ids"], tokenizer("\\boxed{5}")["input_ids"]
    rollouts = [Rollout(prompt, good, [0.0] * len(good), True), Rollout(prompt, bad, [0.0] * len(bad), True)] * 2
    exp = Experience.build(rollouts, torch.tensor([1.0, 0.0, 1.0, 0.0]), torch.tensor([0, 0, 0, 0]), tokenizer.pad_token_id)
    return prompt, good, bad, exp


def test_update_moves_the_policy_toward_rewarded_responses(policy, tmp_path):
    model, tokenizer = policy
    trainer = make_trainer(policy, tmp_path, None)
    prompt, good, bad, exp = hand_made_batch(tokenizer)

    def logp(tokens):
        ids = torch.tensor([prompt + tokens])
        with torch.no_grad():
            lp = model(ids).logits[0, len(prompt) - 1 : -1].log_softmax(-1)
        return lp.gather(1, torch.tensor(tokens)[:, None]).sum().item()

    before = logp(good) - logp(bad)
    for _ in range(3):
        m = trainer.learn(exp)
    assert m["grad_norm"] > 0 and m["train/sequences_trained"] == 4
    assert logp(good) - logp(bad) > before


def test_several_passes_with_kl_penalty(policy, tmp_path):
    model, tokenizer = policy
    ref = load_model("smollm2-135m-instruct").eval().requires_grad_(False)
    trainer = make_trainer(policy, tmp_path, None, "algorithm.updates_per_batch=3", "algorithm.kl.coef=0.5", "optim.lr=1e-4", ref_model=ref)
    _, _, _, exp = hand_made_batch(tokenizer)
    first = trainer.learn(exp)
    second = trainer.learn(exp)
    assert first["kl"] >= 0 and second["kl"] > 0  # the policy has left the reference
    assert second["clip_fraction"] > 0  # later passes move the ratio past 1 + eps
    assert 0 <= second["clip_fraction"] <= 1


class DropSome:
    """Fault injection: the real verifier's verdicts, with every third one replaced by ERROR."""

    def __call__(self, samples):
        from rewards.math.check import check_one

        out = []
        for i, s in enumerate(samples):
            if i % 3 == 0:
                out.append(Score(s.id, 0.0, Status.ERROR, "injected infrastructure failure"))
            else:
                status, reward, detail = check_one(s.response, s.reference["answer"])
                out.append(Score(s.id, reward, Status(status), detail))
        return out


def test_error_scores_are_dropped_and_counted_never_zeroed(policy, tmp_path):
    trainer = make_trainer(policy, tmp_path, score=DropSome())
    m = trainer.train_step()
    assert m["scoring/dropped_error"] == 3  # of 8 samples: indices 0, 3, 6
    assert m["train/sequences_trained"] + m["train/sequences_skipped"] == 5


OWN_LOSS = '''
from trainer.algorithms import Mean, PolicyLossOutput


def reinforce(inp):
    """-A log pi per token: on policy, the gradient of the PPO clip surrogate."""
    metrics = {"own/mean_logp": Mean((inp.logp.detach() * inp.mask).sum(), inp.mask.sum())}
    return PolicyLossOutput(inp.aggregate(-inp.advantages * inp.logp), metrics)
'''


def test_a_loss_from_a_module_outside_the_package_trains_a_step(policy, tmp_path, monkeypatch):
    (tmp_path / "own_rl.py").write_text(OWN_LOSS)
    monkeypatch.syspath_prepend(str(tmp_path))
    model, tokenizer = policy
    start = {k: v.clone() for k, v in model.state_dict().items()}
    _, _, _, exp = hand_made_batch(tokenizer)
    steps = {}
    try:
        for loss in ("ppo_clip", "own_rl:reinforce"):
            model.load_state_dict(start)
            metrics = make_trainer(policy, tmp_path / loss.replace(":", "-"), None, f"algorithm.loss={loss}").learn(exp)
            steps[loss] = (metrics, {k: (v - start[k]).clone() for k, v in model.state_dict().items()})
    finally:
        model.load_state_dict(start)
    (ours, ours_step), (own, own_step) = steps["ppo_clip"], steps["own_rl:reinforce"]
    assert own["train/sequences_trained"] == 4 and own["own/mean_logp"] < 0 and "clip_fraction" not in own
    assert own["grad_norm"] == pytest.approx(ours["grad_norm"], rel=1e-5) and own["grad_norm"] > 0
    moved = max(float(d.abs().max()) for d in own_step.values())
    assert moved > 0 and max(float((own_step[k] - ours_step[k]).abs().max()) for k in own_step) < 1e-3 * moved  # the same update
