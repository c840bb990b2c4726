"""Tool episodes end to end against the real Sandbox service: the runner's turns, replay, limits
and failures with scripted model turns, and the engines' stop strings and budgets with the real
model."""

from __future__ import annotations

import pytest

from serving.client import ClientOptions
from trainer.model import load_model, load_tokenizer
from trainer.rollout.base import Rollout, SamplingParams
from trainer.rollout.hf import HFEngine
from trainer.tools.episodes import EpisodeRunner, turn_seed
from trainer.tools.protocol import CLOSE_FENCE
from trainer.tools.python import PythonTool

MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(MODEL)


class ScriptedTurns:
    """Stands in for the model in a test of the runner: each prompt (told apart by its first token)
    writes its script's turns in order, cut at the call's budget; it records every call."""

    def __init__(self, tokenizer, scripts: dict[int, list[str]]):
        self.tokenizer, self.scripts, self.calls = tokenizer, {k: list(v) for k, v in scripts.items()}, []

    def generate(self, prompts, params, seeds=None, budgets=None):
        self.calls.append({"rows": len(prompts), "stop": params.stop, "seeds": list(seeds), "budgets": list(budgets)})
        out = []
        for prompt, budget in zip(prompts, budgets):
            text = self.scripts[prompt[0]].pop(0)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            ends = not text.endswith(CLOSE_FENCE)
            ids = ids + [self.tokenizer.eos_token_id] if ends else ids
            stopped = not ends and bool(params.stop)
            out.append(Rollout(prompt, ids[:budget], [-0.5] * min(len(ids), budget), ends and len(ids) <= budget, stopped=stopped and len(ids) <= budget))
        return out


def tool_for(server, **kwargs) -> PythonTool:
    return PythonTool([server.address], ClientOptions(retries=1, backoff_s=0.05), **kwargs)


pytestmark = pytest.mark.sandbox


def test_an_episode_runs_its_blocks_with_the_earlier_ones_replayed(sandbox_server, tokenizer):
    scripts = {
        101: ["Let me set it up.\n```python\nx = 6\nprint('set')\n```\n", "Now the product.\n```python\nprint(x * 7)\n```\n", "So the answer is \\boxed{42}."],
        102: ["```python\nprint(x)\n```\n", "I see."],  # another episode: no x from the first
        103: ["It is \\boxed{5}."],  # no call
    }
    written = {k: list(v) for k, v in scripts.items()}
    engine = ScriptedTurns(tokenizer, scripts)
    tool = tool_for(sandbox_server)
    try:
        episodes = EpisodeRunner(engine, tokenizer, tool, max_calls=4)([[101, 7], [102, 7], [103, 7]], SamplingParams(max_new_tokens=200), seeds=[1, 2, 3])
    finally:
        tool.close()
    first, second, plain = episodes
    assert [t.output for t in first.turns[:2]] == ["```output\nset\n```\n", "```output\n42\n```\n"]
    assert first.calls == 2 and first.answer == "".join(written[101])
    assert "NameError: name 'x' is not defined" in second.turns[0].output and second.turns[0].status == "RUNTIME_ERROR"
    assert plain.calls == 0 and plain.rollout.tool_mask == [False] * len(plain.rollout.response_ids)
    # the tool's tokens are exactly its output blocks, with log-prob 0; the model's keep theirs
    r = first.rollout
    tool_text = tokenizer.decode([t for t, m in zip(r.response_ids, r.tool_mask) if m])
    assert tool_text == "```output\nset\n```\n```output\n42\n```\n"
    assert all(lp == 0.0 for lp, m in zip(r.logprobs, r.tool_mask) if m) and all(lp == -0.5 for lp, m in zip(r.logprobs, r.tool_mask) if not m)
    assert first.transcript == first.answer.replace("```\nNow", "```\n```output\nset\n```\nNow").replace("```\nSo", "```\n```output\n42\n```\nSo")
    # each turn is one batched call over the episodes still running, seeded per episode and turn
    assert [c["rows"] for c in engine.calls] == [3, 2, 1]
    assert engine.calls[1]["seeds"] == [turn_seed(1, 1), turn_seed(2, 1)] and engine.calls[0]["seeds"] == [1, 2, 3]
    assert engine.calls[1]["budgets"][0] == 200 - len(tokenizer("Let me set it up.\n```python\nx = 6\nprint('set')\n```\n", add_special_tokens=False)["input_ids"])


def test_timeouts_crashes_and_long_outputs_are_output_and_the_call_limit_holds(sandbox_server, tokenizer):
    scripts = {
        101: ["```python\nwhile True:\n    pass\n```\n", "```python\nprint('still here')\n```\n", "```python\nprint('third')\n```\n", "done"],
        102: ["```python\nprint('y' * 5000)\n```\n", "done"],
    }
    engine = ScriptedTurns(tokenizer, scripts)
    tool = tool_for(sandbox_server, timeout_s=1.0)
    try:
        loop, loud = EpisodeRunner(engine, tokenizer, tool, max_calls=2, output_chars=100)([[101], [102]], SamplingParams(max_new_tokens=400), seeds=[1, 2])
    finally:
        tool.close()
    assert loop.turns[0].status == "TIMEOUT" and "TimeoutError: the block ran longer than 1 s" in loop.turns[0].output
    assert loop.turns[1].output == "```output\nstill here\n```\n"  # the endless block is not replayed
    assert loop.calls == 2 and loop.turns[2].code is None and "print('third')" in loop.turns[2].text  # past max_calls, a block is text
    assert engine.calls[-1]["stop"] == ()  # an episode out of calls generates without the fence stop
    assert loud.turns[0].output == "```output\n" + "y" * 100 + "\n... (4900 more characters)\n```\n"


def test_a_failed_sandbox_drops_the_episode(tokenizer):
    engine = ScriptedTurns(tokenizer, {101: ["```python\nprint(1)\n```\n"], 102: ["no call, \\boxed{3}"]})
    tool = PythonTool(["127.0.0.1:9"], ClientOptions(retries=1, backoff_s=0.05))  # nothing listens there
    try:
        failed, plain = EpisodeRunner(engine, tokenizer, tool)([[101], [102]], SamplingParams(max_new_tokens=50), seeds=[1, 2])
    finally:
        tool.close()
    assert failed.failed is not None and "UNAVAILABLE" in failed.failed
    assert plain.failed is None and plain.answer == "no call, \\boxed{3}"


@pytest.mark.model
def test_the_hf_engine_stops_at_a_closing_fence_and_at_each_rows_budget(tokenizer):
    model = load_model(MODEL)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Write Python code that prints 6 * 7, in a ```python block, then explain it."}], add_generation_prompt=True, tokenize=True)
    prompt = list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
    engine = HFEngine(model, tokenizer)
    stopped, short = engine.generate([prompt, prompt], SamplingParams(max_new_tokens=80, greedy=True, stop=(CLOSE_FENCE,)), budgets=[80, 6])
    (whole,) = engine.generate([prompt], SamplingParams(max_new_tokens=80, greedy=True))
    text = tokenizer.decode(stopped.response_ids)
    assert stopped.stopped and not stopped.finished and text.startswith("```python") and CLOSE_FENCE in text
    assert CLOSE_FENCE not in tokenizer.decode(stopped.response_ids[:-1])  # it stopped at the token that closed the fence
    assert whole.response_ids[: len(stopped.response_ids)] == stopped.response_ids and len(whole.response_ids) > len(stopped.response_ids)
    assert len(short.response_ids) == 6 and not short.stopped and not short.finished
    assert short.response_ids == stopped.response_ids[:6]


class FirstRowCalls:
    """Stands in for the model in a fault test: in each call, row 0 writes a python block and the
    other rows answer without one."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def generate(self, prompts, params, seeds=None, budgets=None):
        out = []
        for i, prompt in enumerate(prompts):
            text = "```python\nprint(1)\n```\n" if i == 0 else "\\boxed{1}"
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] + ([] if i == 0 else [self.tokenizer.eos_token_id])
            out.append(Rollout(prompt, ids, [-0.5] * len(ids), i != 0, stopped=i == 0))
        return out


def test_a_step_drops_and_counts_the_episodes_whose_sandbox_failed(tokenizer):
    from contract.schema import Score, Status
    from rewards.math.check import check_one
    from trainer.algorithms.reductions import StepStats
    from trainer.collect import Collector
    from trainer.config import load_config
    from trainer.data.products import product_splits
    from trainer.data.sampler import EpochSampler

    cfg = load_config(None, ["data.task=products", "rollout.tools=[python]", "rollout.prompts_per_step=1", "rollout.group_size=4"])
    train = product_splits(train_size=10, test_size=2)[0]

    def score(samples):
        return [Score(s.id, r, Status(st), d) for s in samples for st, r, d in [check_one(s.response, s.reference["answer"])]]

    tool = PythonTool(["127.0.0.1:9"], ClientOptions(retries=1, backoff_s=0.05))  # nothing listens there
    try:
        collector = Collector(cfg, EpisodeRunner(FirstRowCalls(tokenizer), tokenizer, tool), score, EpochSampler(train, 0), cfg.algorithm.needs())
        stats = StepStats()
        exp = collector.collect(train[:1], stats)
    finally:
        tool.close()
    values = stats.values()
    assert len(exp) == 3 and values["tools/errors"] == 1 and values["scoring/dropped_error"] == 1 and values["scoring/wrong"] == 3
    assert values["tools/calls_per_episode"] == 0 and values["accuracy/without_call"] == 0.0
    assert [r["status"] for r in collector.records] == ["ERROR", "WRONG", "WRONG", "WRONG"] and collector.records[0]["detail"].startswith("tool: sandbox:")
