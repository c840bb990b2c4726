"""The rollout log: entries in group order, the table's choice of examples, resume, and the
advantage written per entry."""

from __future__ import annotations

import json

import torch
from rich.console import Console

from trainer.loop import note_advantages
from trainer.rollout_log import RolloutLog, episodes_markdown, examples, in_group_order, rollout_markdown, rollout_table


def entry(step, group, index, reward, response="r"):
    return {"step": step, "group": group, "index": index, "id": f"p{group}#{index}", "prompt": [{"role": "user", "content": f"q{group}"}], "response": response, "reward": reward, "status": "OK" if reward else "WRONG", "detail": "" if reward else "differs", "tokens": 3, "finished": True, "advantage": None}


def test_entries_from_every_process_come_out_in_group_order():
    parts = [[entry(1, 2, 0, 1.0), entry(1, 0, 1, 0.0)], [entry(1, 1, 0, 0.0), entry(1, 0, 0, 1.0)]]
    assert [(r["group"], r["index"]) for r in in_group_order(parts)] == [(0, 0), (0, 1), (1, 0), (2, 0)]


def test_examples_show_each_groups_best_and_worst():
    records = [entry(1, 0, 0, 0.0), entry(1, 0, 1, 1.0), entry(1, 0, 2, 0.0), entry(1, 1, 0, 0.0), entry(1, 1, 1, 0.0), entry(1, 2, 0, 1.0)]
    assert [(r["group"], r["index"]) for r in examples(records, 4)] == [(0, 1), (0, 2), (1, 0), (2, 0)]  # a group of equal rewards shows one
    assert len(examples(records, 1)) == 1


def test_the_log_keeps_what_is_asked_and_drops_what_follows_a_resumed_step(tmp_path):
    log = RolloutLog(tmp_path, per_step=None)
    for step in (1, 2, 3):
        log.write([entry(step, 0, 0, 1.0), entry(step, 0, 1, 0.0)])
    RolloutLog(tmp_path, per_step=1, resume_step=2).write([entry(3, 0, 0, 0.5)])
    lines = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert [(r["step"], r["reward"]) for r in lines] == [(1, 1.0), (1, 0.0), (2, 1.0), (2, 0.0), (3, 0.5)]


def test_tables_show_text_as_it_is():
    records = [entry(4, 0, 0, 1.0, response="[bold]not markup[/] | a pipe"), entry(4, 0, 1, 0.0, response="x" * 500)]
    console = Console(width=100, record=True)
    console.print(rollout_table(records, step=4, total=16))
    text = console.export_text()
    assert "[bold]not markup[/]" in text and "step 4: 2 of 16 rollouts" in text and "differs" in text
    assert "\\|" in rollout_markdown(records) and "…" in rollout_markdown(records)


def test_each_entry_gets_the_mean_of_its_advantages_over_its_response_tokens():
    records = [entry(1, 0, i, 0.0) for i in range(3)]
    advantages = torch.tensor([[1.0, 1.0, 0.0], [0.5, -1.5, 2.0], [3.0, 0.0, 0.0]], dtype=torch.float64)  # [rows, seq]
    mask = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 0, 0]], dtype=torch.float64)
    note_advantages(records, torch.tensor([2, 0, 1]), advantages, mask)  # row 0 is entry 2's, row 1 entry 0's...
    assert [r["advantage"] for r in records] == [round(1.0 / 3.0, 6), 0.0, 1.0]  # an empty response: 0


def test_tool_episodes_are_shown_turn_by_turn():
    turns = [{"text": "```python\nprint(6 * 7)\n```\n", "code": "print(6 * 7)\n", "output": "```output\n42\n```\n", "status": "OK"}, {"text": "So \\boxed{42}."}]
    records = [entry(1, 0, 0, 1.0) | {"turns": turns}, entry(1, 0, 1, 0.0)]
    text = episodes_markdown(records)
    assert text.count("**p0#") == 1  # only the episode with a call
    assert "turn 1, the model:\n\n    ```python\n    print(6 * 7)" in text and "the tool (OK):\n\n    ```output\n    42" in text
    assert "turn 2, the model:\n\n    So \\boxed{42}." in text
