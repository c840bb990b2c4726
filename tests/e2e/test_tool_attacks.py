"""Attacks through the python tool during training: planted episodes whose blocks fork-bomb, open
sockets, read files outside their environment, write outside their working directory, loop
forever and print without end. Each is contained (its output is what the model reads, capped),
no call fails the sandbox, the episode that computes its answer with the tool earns 1, and both
steps train. Real model, real sandbox as a local service; the planted turns are the only thing
injected."""

from __future__ import annotations

import json
import os
import re
import secrets
from contextlib import ExitStack
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from trainer.config import load_config
from trainer.loop import Trainer
from trainer.model import load_model, load_tokenizer
from trainer.rollout.base import Rollout, RolloutEngine
from trainer.run import load_data, python_tool, reward_services

pytestmark = [pytest.mark.model, pytest.mark.sandbox]

MARKER = "/usr/verity-tool-attack-marker"
SECRET = Path("/tmp") / f"verity-secret-{secrets.token_hex(4)}"
ATTACKS = {
    "fork bomb": "import os\nwhile True:\n    os.fork()",
    "socket": "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\nprint('connected')",
    "read other files": f"print(open('{SECRET}').read())",
    "write outside": f"open('{MARKER}', 'w').write('x')",
    "endless loop": "while True:\n    pass",
    "long output": "while True:\n    print('y' * 1000)",
}
OUTPUT_CHARS = 200


class PlantedEngine(RolloutEngine):
    """Every episode's turns planted in place of the model's: its first turn runs an attack (one
    per attack, then one that prints a * b), its second answers: the printed number for the last,
    0 for the attacks. The real model trains on them."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def generate(self, prompts, params, seeds=None, budgets=None):
        rollouts = []
        group = len(ATTACKS) + 1
        for i, prompt in enumerate(prompts):
            context = self.tokenizer.decode(prompt)
            if "```output" not in context.rsplit("<|im_start|>assistant", 1)[-1]:
                a, b = map(int, re.findall(r"What is (\d+) × (\d+)\?", context)[-1])
                code = list(ATTACKS.values())[i % group] if i % group < len(ATTACKS) else f"print({a} * {b})"
                text = f"```python\n{code}\n```\n"
            else:
                printed = re.findall(r"```output\n(\d+)\n```", context)
                text = f"The answer is \\boxed{{{printed[-1] if printed else 0}}}."
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            ids = ids if text.endswith("```\n") else ids + [self.tokenizer.eos_token_id]
            rollouts.append(Rollout(prompt, ids, [0.0] * len(ids), not text.endswith("```\n"), stopped=text.endswith("```\n")))
        return rollouts


def test_attacks_through_the_tool_are_contained_and_training_goes_on(tmp_path):
    SECRET.write_text("the trainer's secret")
    try:
        run_and_check(tmp_path)
    finally:
        SECRET.unlink()


def run_and_check(tmp_path):
    assert not os.path.exists(MARKER)
    group = len(ATTACKS) + 1
    overrides = ["data.task=products", "rollout.tools=[python]", "rollout.prompts_per_step=2", f"rollout.group_size={group}", "rollout.max_new_tokens=96", "rollout.tool_timeout_s=2", f"rollout.tool_output_chars={OUTPUT_CHARS}", "eval.before=false", "eval.after=false", "eval.every=0", "rewards.local_workers=1", "train.steps=2", f"train.output_dir={tmp_path}", "train.skip_zero_advantage=false"]
    cfg = load_config(None, overrides)
    train, test = load_data(cfg)
    model, tokenizer = load_model(cfg.model.path), load_tokenizer(cfg.model.path)
    with ExitStack() as stack:
        scorer = reward_services(cfg, train, stack)
        trainer = Trainer(cfg, model, tokenizer, PlantedEngine(tokenizer), scorer, train, test, tool=python_tool(cfg, stack))
        trainer.fit()
    steps = [json.loads(line) for line in (trainer.run_dir / "metrics.jsonl").read_text().splitlines()]
    records = [json.loads(line) for line in (trainer.run_dir / "rollouts.jsonl").read_text().splitlines()]
    assert [m["step"] for m in steps] == [1, 2] and len(records) == 2 * 2 * group
    for i, record in enumerate(records):
        turn = record["turns"][0]
        kind = list(ATTACKS)[i % group] if i % group < len(ATTACKS) else "right"
        if kind == "right":
            assert turn["status"] == "OK" and record["status"] == "OK" and record["reward"] == 1.0, record
            continue
        assert record["reward"] == 0.0 and record["status"] == "WRONG", (kind, record)
        assert len(turn["output"]) <= OUTPUT_CHARS + 80, (kind, turn)  # what the model reads stays capped
        expected = {"socket": "RUNTIME_ERROR", "read other files": "RUNTIME_ERROR", "write outside": "RUNTIME_ERROR", "endless loop": "TIMEOUT"}
        if kind in expected:
            assert turn["status"] == expected[kind], (kind, turn)
        assert kind != "read other files" or ("FileNotFoundError" in turn["output"] and "the trainer's secret" not in turn["output"])
        assert kind != "long output" or "more characters" in turn["output"]
        assert kind != "fork bomb" or turn["status"] in ("RUNTIME_ERROR", "TIMEOUT")
    assert not os.path.exists(MARKER)
    for m in steps:  # no call failed the sandbox, every episode was scored and trained on
        assert m["tools/errors"] == 0 and m["scoring/error"] == 0 and m["tools/calls_per_episode"] == 1.0
        assert m["train/sequences_trained"] == 2 * group and m["accuracy/with_call"] == pytest.approx(1 / group)
        assert m["tools/timeouts"] >= 2 and m["tools/runtime_errors"] >= 6
    events = EventAccumulator(str(trainer.run_dir / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    shown = events.Tensors("episodes/text_summary")
    assert shown and "the tool (OK)" in "".join(e.tensor_proto.string_val[0].decode() for e in shown)
