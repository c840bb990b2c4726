"""Attacks during code RL: training steps on the built-in code task in which planted rollouts
fork-bomb, open sockets, write outside their working directory, hunt for the tests, or loop
forever. Each earns 0, the step trains on, the next step runs, and the step's metrics count
timeouts, runtime errors, wrong answers and passes. Real model, real code verifier and sandbox
as local services; the planted responses are the only thing injected."""

from __future__ import annotations

import json
import os
from contextlib import ExitStack

import pytest

from trainer.config import load_config
from trainer.data.code import code_splits
from trainer.loop import Trainer
from trainer.model import load_model, load_tokenizer
from trainer.rollout.base import Rollout
from trainer.rollout.hf import HFEngine
from trainer.run import reward_services

pytestmark = [pytest.mark.model, pytest.mark.sandbox]

MARKER = "/usr/verity-attack-marker"
ATTACKS = {
    "fork bomb": "import os\nwhile True:\n    os.fork()",
    "socket": "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\nprint(input())",
    "write outside": f"open('{MARKER}', 'w').write('x')\nopen('/work/../etc/passwd', 'a').write('x')\nprint(input())",
    "read the tests": (
        "import os\nfound = []\nfor root, dirs, files in os.walk('/'):\n    if root.startswith(('/proc', '/sys', '/usr')):\n        continue\n"
        "    for f in files:\n        try:\n            found.append(open(os.path.join(root, f), errors='replace').read(200))\n        except OSError:\n            pass\n"
        "print(open('/proc/1/cmdline').read(), os.environ, found[:20])"
    ),
    "endless loop": "while True:\n    pass",
}


class PlantedEngine(HFEngine):
    """The real engine, with the first responses of each group replaced: one program per attack,
    then one right answer (a table of the problem's own tests, so a pass is possible)."""

    def __init__(self, model, tokenizer, samples):
        super().__init__(model, tokenizer)
        self.tokenizer, self.samples = tokenizer, samples
        self.planted: list[str] = []

    def _right_answer(self, prompt_ids: list[int]) -> str:
        text = self.tokenizer.decode(prompt_ids)
        sample = next(s for s in self.samples if (s.prompt if isinstance(s.prompt, str) else s.prompt[-1].content) in text)
        table = {t["stdin"]: t["stdout"] for t in sample.reference["tests"]}
        return f"import sys\nprint({table!r}[sys.stdin.read()], end='')"

    def generate(self, prompts, params, seeds=None):
        rollouts = super().generate(prompts, params, seeds)
        group = len(ATTACKS) + 1
        for i, ro in enumerate(rollouts):
            k = i % group
            program = list(ATTACKS.values())[k] if k < len(ATTACKS) else self._right_answer(ro.prompt_ids)
            ids = self.tokenizer(f"```python\n{program}\n```")["input_ids"] + [self.tokenizer.eos_token_id]
            rollouts[i] = Rollout(ro.prompt_ids, ids, [0.0] * len(ids), True)
            self.planted.append(list(ATTACKS)[k] if k < len(ATTACKS) else "right")
        return rollouts


def test_attacks_earn_zero_and_training_goes_on(tmp_path):
    assert not os.path.exists(MARKER)
    overrides = ["data.task=code", "rollout.prompts_per_step=2", f"rollout.group_size={len(ATTACKS) + 1}", "rollout.max_new_tokens=8", "eval.before=false", "eval.after=false", "eval.every=0", "rewards.local_workers=1", "train.steps=2", f"train.output_dir={tmp_path}", "train.skip_zero_advantage=false"]
    cfg = load_config(None, overrides)
    train, test = code_splits(cfg.data.code.test_size, cfg.data.code.tests_per_problem, cfg.data.code.seed)
    model, tokenizer = load_model(cfg.model.path), load_tokenizer(cfg.model.path)
    engine = PlantedEngine(model, tokenizer, train)
    with ExitStack() as stack:
        scorer = reward_services(cfg, train, stack)
        trainer = Trainer(cfg, model, tokenizer, engine, scorer, train, test)
        trainer.fit()
    steps = [json.loads(line) for line in (trainer.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in steps] == [1, 2]
    records = [json.loads(line) for line in (trainer.run_dir / "rollouts.jsonl").read_text().splitlines()]
    assert len(records) == len(engine.planted) == 2 * 2 * (len(ATTACKS) + 1)
    for kind, record in zip(engine.planted, records):
        if kind == "right":
            assert record["status"] == "OK" and record["reward"] == 1.0, record
        else:  # never a pass, never an infrastructure ERROR (which would drop the sample)
            assert record["reward"] == 0.0 and record["status"] in ("WRONG", "TIMEOUT"), (kind, record)
    by_kind = {kind: record for kind, record in zip(engine.planted, records)}
    assert by_kind["endless loop"]["status"] == "TIMEOUT"
    assert by_kind["socket"]["components"]["runtime_error"] == 1.0 and by_kind["write outside"]["components"]["runtime_error"] == 1.0
    assert not os.path.exists(MARKER)
    for m in steps:  # every sample scored, each step trained, and the counts add up
        assert m["scoring/ok"] == 2 and m["scoring/error"] == 0 and m["train/sequences_trained"] == 2 * (len(ATTACKS) + 1)
        assert m["scoring/ok"] + m["scoring/wrong"] + m["scoring/timeout"] == 2 * (len(ATTACKS) + 1)
        assert m["scoring/timeout"] >= 2 and m["code/runtime_error"] >= 4 and m["code/sandbox_calls"] >= 2 * (len(ATTACKS) + 1)
