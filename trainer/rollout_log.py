"""The rollout log: every step's samples (prompt, response, reward, status, detail, advantage) in
``rollouts.jsonl``, a few of them as a table on the terminal and as text in TensorBoard, so a reward
that stays at 0 can be read, not guessed at. A tool episode's entry also holds its ``turns`` (the
model's text, the block it ran, the output it read, the run's status), shown turn by turn in
TensorBoard."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rich.table import Table
from rich.text import Text

CELL = 160  # characters of a prompt or response shown in a table cell


class RolloutLog:
    """Appends the step's entries (all, or the first ``per_step`` in group order) to
    ``run_dir/rollouts.jsonl``; on resume, first drops the entries past the resumed step."""

    def __init__(self, run_dir: Path, per_step: int | None, resume_step: int | None = None):
        self.path, self.per_step = run_dir / "rollouts.jsonl", per_step
        if resume_step is not None and self.path.exists():
            kept = self.path.with_name(self.path.name + ".tmp")
            with self.path.open(encoding="utf-8") as src, kept.open("w", encoding="utf-8") as dst:
                dst.writelines(line for line in src if line.strip() and json.loads(line)["step"] <= resume_step)
            os.replace(kept, self.path)

    def write(self, records: list[dict]) -> None:
        chosen = records if self.per_step is None else records[: self.per_step]
        with self.path.open("a", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in chosen)


def in_group_order(parts: list[list[dict]]) -> list[dict]:
    """Every process's entries as one list, ordered by (group, index in the group)."""
    return sorted((r for part in parts for r in part), key=lambda r: (r["group"], r["index"]))


def examples(records: list[dict], n: int) -> list[dict]:
    """Up to ``n`` entries to show: the best and the worst response of each group in turn, so a
    table shows what the advantages compare."""
    groups: dict[int, list[dict]] = {}
    for r in records:
        groups.setdefault(r["group"], []).append(r)
    shown: list[dict] = []
    for members in groups.values():
        ranked = sorted(members, key=lambda r: -r["reward"])
        shown += ranked[:1] + (ranked[-1:] if len(ranked) > 1 and ranked[-1]["reward"] != ranked[0]["reward"] else [])
        if len(shown) >= n:
            break
    return shown[:n]


def _prompt_text(prompt: str | list[dict]) -> str:
    return prompt if isinstance(prompt, str) else (prompt[-1]["content"] if prompt else "")


def _cell(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= CELL else flat[: CELL - 1] + "…"


def _advantage(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def rollout_table(records: list[dict], step: int, total: int) -> Table:
    """A terminal table of ``records`` (shown at ``step``, ``total`` entries in the step)."""
    table = Table(title=f"step {step}: {len(records)} of {total} rollouts (all in rollouts.jsonl)", title_justify="left", show_lines=True, expand=True)
    table.add_column("prompt", ratio=2, min_width=16, overflow="fold")
    table.add_column("response", ratio=3, min_width=24, overflow="fold")
    table.add_column("reward", justify="right", width=6)
    table.add_column("status", width=7)
    table.add_column("adv.", justify="right", width=6)
    for r in records:
        response = Text(_cell(r["response"]))  # Text, not markup: a response may hold brackets
        if r["detail"] and r["status"] != "OK":
            response.append("\n" + _cell(r["detail"]), style="dim")
        table.add_row(Text(_cell(_prompt_text(r["prompt"]))), response, f"{r['reward']:.2f}", r["status"], _advantage(r["advantage"]))
    return table


def rollout_markdown(records: list[dict]) -> str:
    """``records`` as a Markdown table (TensorBoard's text tab renders it)."""

    def esc(text: str) -> str:
        return _cell(text).replace("|", "\\|")

    rows = [f"| {esc(_prompt_text(r['prompt']))} | {esc(r['response'])} | {r['reward']:.2f} | {r['status']} | {_advantage(r['advantage'])} |" for r in records]
    return "\n".join(["| prompt | response | reward | status | advantage |", "|---|---|---|---|---|", *rows])


def episodes_markdown(records: list[dict]) -> str:
    """The tool episodes among ``records``, turn by turn, as Markdown (TensorBoard's text tab)."""
    parts = []
    for r in records:
        if not r.get("turns"):
            continue
        parts.append(f"**{r['id']}**: reward {r['reward']:.2f} ({r['status']})\n")
        for k, turn in enumerate(r["turns"], 1):
            parts.append(f"turn {k}, the model:\n\n    " + turn["text"].replace("\n", "\n    "))
            if "output" in turn:
                parts.append(f"the tool ({turn['status']}):\n\n    " + turn["output"].replace("\n", "\n    "))
    return "\n\n".join(parts)
