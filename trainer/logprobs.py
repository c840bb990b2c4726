"""Per-token log-probs of response tokens from one forward pass.

The decoder runs on the whole sequence, but the LM head only on the positions that predict a
response token, and log pi(y) = z[y] - logsumexp(z) is taken with a gather: no full log-softmax
copy of [tokens, vocab] is kept. Logits are divided by the sampling temperature first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TokenBatch:
    """Right-padded sequences of prompt + response tokens."""

    input_ids: torch.Tensor  # [batch, seq_total] long
    attention_mask: torch.Tensor  # [batch, seq_total] long
    response_start: torch.Tensor  # [batch] long: index of the first response token
    response_len: torch.Tensor  # [batch] long
    max_response: int  # width of the response-aligned tensors

    @staticmethod
    def build(prompts: list[list[int]], responses: list[list[int]], pad_id: int) -> "TokenBatch":
        lengths = [len(p) + len(r) for p, r in zip(prompts, responses)]
        width = max(lengths)
        ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)  # [batch, seq_total]
        attn = torch.zeros((len(prompts), width), dtype=torch.long)  # [batch, seq_total]
        for i, (p, r) in enumerate(zip(prompts, responses)):
            ids[i, : lengths[i]] = torch.tensor(p + r)
            attn[i, : lengths[i]] = 1
        return TokenBatch(
            input_ids=ids,
            attention_mask=attn,
            response_start=torch.tensor([len(p) for p in prompts]),
            response_len=torch.tensor([len(r) for r in responses]),
            max_response=max(len(r) for r in responses),
        )

    def response_mask(self) -> torch.Tensor:
        """[batch, max_response] float: 1 on response tokens."""
        pos = torch.arange(self.max_response)[None, :]  # [1, max_response]
        return (pos < self.response_len[:, None]).float()

    def slice(self, index: torch.Tensor) -> "TokenBatch":
        """The sub-batch of the given rows, trimmed to its own widths."""
        lengths = self.response_start[index] + self.response_len[index]
        width = int(lengths.max())
        return TokenBatch(
            input_ids=self.input_ids[index, :width],
            attention_mask=self.attention_mask[index, :width],
            response_start=self.response_start[index],
            response_len=self.response_len[index],
            max_response=int(self.response_len[index].max()),
        )


@dataclass
class LogprobOutput:
    logp: torch.Tensor  # [batch, max_response] (0 on padding)
    entropy: torch.Tensor  # [batch, max_response] detached (0 on padding)


def response_logprobs(model, batch: TokenBatch, temperature: float = 1.0, with_entropy: bool = False) -> LogprobOutput:
    """log pi(y_t) of each response token, with gradient if grad is enabled."""
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    position_ids = (batch.attention_mask.cumsum(-1) - 1).clamp(min=0)  # [batch, seq_total]
    hidden = decoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=position_ids).last_hidden_state  # [batch, seq_total, hidden]
    mask = batch.response_mask().bool()  # [batch, max_response]
    rows, cols = mask.nonzero(as_tuple=True)  # [tokens] each
    target_pos = batch.response_start[rows] + cols  # [tokens]: where each response token sits
    h = hidden[rows, target_pos - 1]  # [tokens, hidden]: the position that predicts it
    logits = head(h).float() / temperature  # [tokens, vocab]
    targets = batch.input_ids[rows, target_pos]  # [tokens]
    lse = torch.logsumexp(logits, dim=-1)  # [tokens]
    token_logp = logits.gather(1, targets[:, None]).squeeze(1) - lse  # [tokens]
    logp = torch.zeros(mask.shape, dtype=token_logp.dtype)  # [batch, max_response]
    logp = logp.index_put((rows, cols), token_logp)
    entropy = torch.zeros(mask.shape)
    if with_entropy:
        with torch.no_grad():
            probs = torch.softmax(logits, dim=-1)  # [tokens, vocab], freed right away
            entropy[rows, cols] = lse - (probs * logits).sum(-1)
    return LogprobOutput(logp=logp, entropy=entropy)
