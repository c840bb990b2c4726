"""The step's experience: generated responses, their rewards and what the algorithms need, as
right-padded tensors aligned on response positions."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from trainer.logprobs import TokenBatch
from trainer.rollout.base import Rollout


@dataclass
class Experience:
    tokens: TokenBatch  # prompt + response ids
    mask: torch.Tensor  # [batch, seq] 1.0 on response tokens the policy generated (0 on padding and on a tool's output)
    rewards: torch.Tensor  # [batch] outcome reward R_i after reward shaping
    group_ids: torch.Tensor  # [batch] long: responses to the same prompt share an id
    rollout_logp: torch.Tensor  # [batch, seq] log mu(y_t) of the sampling distribution (0 on padding)
    finished: torch.Tensor  # [batch] bool: ended with EOS
    topk_ids: torch.Tensor | None = None  # [batch, seq, K] int32 top-K ids of mu (-1 on padding)
    topk_logprobs: torch.Tensor | None = None  # [batch, seq, K] their log-probs under mu (0 on padding)
    support_ids: torch.Tensor | None = None  # [batch, seq, K_rlpt] int32 RLPT support P_t (-1 = no id)
    records: list[dict] | None = None  # [batch] each row's entry of the rollout log (prompt, response, score...)

    @staticmethod
    def build(rollouts: list[Rollout], rewards: torch.Tensor, group_ids: torch.Tensor, pad_id: int, records: list[dict] | None = None) -> Experience:
        tokens = TokenBatch.build([ro.prompt_ids for ro in rollouts], [ro.response_ids for ro in rollouts], pad_id, [ro.tool_mask for ro in rollouts])
        mask = tokens.policy_mask()  # [batch, seq]
        width = tokens.max_response
        rollout_logp = torch.zeros(mask.shape)  # [batch, seq]
        for i, ro in enumerate(rollouts):
            rollout_logp[i, : len(ro.logprobs)] = torch.tensor(ro.logprobs)
        exp = Experience(tokens, mask, rewards, group_ids, rollout_logp, torch.tensor([ro.finished for ro in rollouts]), records=records)
        if rollouts and rollouts[0].topk_ids is not None:
            k = rollouts[0].topk_ids.shape[1]
            exp.topk_ids = torch.full((len(rollouts), width, k), -1, dtype=torch.int32)
            exp.topk_logprobs = torch.zeros((len(rollouts), width, k))
            for i, ro in enumerate(rollouts):
                exp.topk_ids[i, : len(ro.response_ids)] = ro.topk_ids
                exp.topk_logprobs[i, : len(ro.response_ids)] = ro.topk_logprobs
        return exp

    def to(self, device: torch.device) -> Experience:
        """The same experience with every tensor on ``device``."""
        # the token batch is no tensor but moves too; ``records`` (a list) stays
        moved = {f.name: value.to(device) for f in fields(self) if isinstance(value := getattr(self, f.name), (torch.Tensor, TokenBatch))}
        return replace(self, **moved)

    def __len__(self) -> int:
        return len(self.rewards)

    def slice(self, index: torch.Tensor) -> Experience:
        """The rows ``index`` ([rows] long), trimmed to their own widths."""
        tokens = self.tokens.slice(index)
        width = tokens.max_response
        cut = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "tokens" or value is None:
                continue
            if f.name == "records":
                cut["records"] = [value[int(i)] for i in index]
                continue
            value = value[index]
            cut[f.name] = value[:, :width] if value.dim() >= 2 else value
        return replace(self, tokens=tokens, **cut)
