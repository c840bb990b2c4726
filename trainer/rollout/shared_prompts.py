"""Rows that repeat a prompt (a GRPO group) share one pass of the model over it.

Both the rollout engine and the training forward run each distinct prompt once, left-padded so
that every prompt ends in the last column, and give its KV cache to the rows that share it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def left_pad(prompts: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask ([rows, width] long each), every prompt ending in the last column."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (width - len(p)) + list(p) for p in prompts])
    attn = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    return ids, attn


@dataclass
class DistinctPrompts:
    input_ids: torch.Tensor  # [distinct, width] long, left-padded
    attention_mask: torch.Tensor  # [distinct, width] long
    position_ids: torch.Tensor  # [distinct, width] long: 0 at each prompt's first token
    row_prompt: torch.Tensor  # [rows] long: the index of each row's prompt

    @staticmethod
    def of(prompts: list[list[int]], pad_id: int) -> DistinctPrompts:
        """The distinct prompts of ``prompts`` (one per row), in first-seen order."""
        index: dict[tuple[int, ...], int] = {}
        row_prompt = torch.tensor([index.setdefault(tuple(p), len(index)) for p in prompts])
        ids, attn = left_pad(list(index), pad_id)
        return DistinctPrompts(ids, attn, (attn.cumsum(-1) - 1).clamp(min=0), row_prompt)

    def to(self, device: torch.device) -> DistinctPrompts:
        return DistinctPrompts(self.input_ids.to(device), self.attention_mask.to(device), self.position_ids.to(device), self.row_prompt.to(device))

    def lengths(self) -> torch.Tensor:
        """[rows] long: each row's prompt length (the position of its first response token)."""
        return self.attention_mask.sum(-1)[self.row_prompt]
