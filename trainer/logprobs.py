"""Per-token log-probs of response tokens from one forward pass.

The decoder runs once on each distinct prompt and then on the responses (rows of very different
lengths in separate calls, so little of it is padding), the LM head only on the positions that
predict a response token, and
log pi(y) = z[y] - logsumexp(z) is taken with a gather: no full log-softmax copy of [tokens, vocab]
is kept. Logits are divided by the sampling temperature first. The same
logits give, on request, what the algorithms need: the RLPT-renormalized log-probs, sum pi^2 (OTB),
log-probs at given top-K ids (DPPO), and entropy; every extra is O(K) per token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from transformers import DynamicCache

from trainer.rollout.shared_prompts import DistinctPrompts


@dataclass
class TokenBatch:
    """Right-padded sequences of prompt + response tokens."""

    input_ids: torch.Tensor  # [batch, seq_total] long
    attention_mask: torch.Tensor  # [batch, seq_total] long
    response_start: torch.Tensor  # [batch] long: index of the first response token
    response_len: torch.Tensor  # [batch] long
    max_response: int  # width of the response-aligned tensors
    tool_mask: torch.Tensor | None = None  # [batch, max_response] bool: tokens a tool wrote (None: none)

    @staticmethod
    def build(prompts: list[list[int]], responses: list[list[int]], pad_id: int, tool_masks: list[list[bool] | None] | None = None) -> "TokenBatch":
        """``tool_masks``: per response, True on the tokens a tool wrote (None: the model wrote all)."""
        lengths = [len(p) + len(r) for p, r in zip(prompts, responses)]
        width = max(lengths)
        ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)  # [batch, seq_total]
        attn = torch.zeros((len(prompts), width), dtype=torch.long)  # [batch, seq_total]
        for i, (p, r) in enumerate(zip(prompts, responses)):
            ids[i, : lengths[i]] = torch.tensor(p + r)
            attn[i, : lengths[i]] = 1
        max_response = max(len(r) for r in responses)
        tool_mask = None
        if tool_masks is not None and any(m is not None and any(m) for m in tool_masks):
            tool_mask = torch.zeros((len(prompts), max_response), dtype=torch.bool)  # [batch, max_response]
            for i, m in enumerate(tool_masks):
                if m is not None:
                    tool_mask[i, : len(m)] = torch.tensor(m, dtype=torch.bool)
        return TokenBatch(
            input_ids=ids,
            attention_mask=attn,
            response_start=torch.tensor([len(p) for p in prompts]),
            response_len=torch.tensor([len(r) for r in responses]),
            max_response=max_response,
            tool_mask=tool_mask,
        )

    def to(self, device: torch.device) -> TokenBatch:
        """The same batch with its tensors on ``device``."""
        tool_mask = self.tool_mask.to(device) if self.tool_mask is not None else None
        return replace(self, input_ids=self.input_ids.to(device), attention_mask=self.attention_mask.to(device), response_start=self.response_start.to(device), response_len=self.response_len.to(device), tool_mask=tool_mask)

    def response_ids(self) -> torch.Tensor:
        """[batch, max_response] long: the response tokens (0 on padding)."""
        pos = self.response_start[:, None] + torch.arange(self.max_response, device=self.input_ids.device)[None, :]  # [batch, max_response]
        ids = self.input_ids.gather(1, pos.clamp(max=self.input_ids.shape[1] - 1))
        return ids * self.response_mask().long()

    def response_mask(self) -> torch.Tensor:
        """[batch, max_response] float: 1 on response tokens."""
        pos = torch.arange(self.max_response, device=self.response_len.device)[None, :]  # [1, max_response]
        return (pos < self.response_len[:, None]).float()

    def policy_mask(self) -> torch.Tensor:
        """[batch, max_response] float: 1 on the response tokens the policy generated (a tool's
        output is context the policy reads, never a token it is trained on)."""
        mask = self.response_mask()
        return mask if self.tool_mask is None else mask * ~self.tool_mask

    def slice(self, index: torch.Tensor) -> "TokenBatch":
        """The sub-batch of the given rows, trimmed to its own widths."""
        lengths = self.response_start[index] + self.response_len[index]
        width = int(lengths.max())
        max_response = int(self.response_len[index].max())
        return TokenBatch(
            input_ids=self.input_ids[index, :width],
            attention_mask=self.attention_mask[index, :width],
            response_start=self.response_start[index],
            response_len=self.response_len[index],
            max_response=max_response,
            tool_mask=self.tool_mask[index, :max_response] if self.tool_mask is not None else None,
        )


@dataclass
class LogprobOutput:
    """What one forward pass yields per response token; every tensor is 0 on padding.

    ``logp`` is log pi(y_t) of the policy being optimized: over the full vocabulary, or over the
    RLPT support P_t when ``support_ids`` were given (log pi~ = z[y] - logsumexp_{v in P_t} z[v]).
    The other fields are detached and use the same normalization as ``logp``.
    """

    logp: torch.Tensor  # [batch, max_response] with gradient when grad is enabled
    entropy: torch.Tensor  # [batch, max_response] of the full distribution (when asked)
    sum_pi2: torch.Tensor | None = None  # [batch, max_response]: sum_v pi(v)^2 (OTB's proxy), in [1/|V|, 1]
    topk_logp: torch.Tensor | None = None  # [batch, max_response, K]: log pi at the given ids, -inf outside
    in_topk: torch.Tensor | None = None  # [batch, max_response]: 1 when y_t is among the top-K of the full policy
    support_mass: torch.Tensor | None = None  # [batch, max_response]: mass of P_t under the full softmax

    def detached(self) -> "LogprobOutput":
        return replace(self, logp=self.logp.detach())


def length_chunks(lengths: list[int], min_saving: float = 0.05) -> list[list[int]]:
    """Row indices split into chunks of similar length, so that a right-padded decoder call wastes
    little on padding. Rows are sorted longest first; a chunk is split where that saves the most
    padded cells (rows x width), if it saves at least ``min_saving`` of the chunk's cells; each part
    is split again the same way."""

    def split(members: list[int]) -> list[list[int]]:
        width = lengths[members[0]]
        savings = [(len(members) - k) * (width - lengths[members[k]]) for k in range(1, len(members))]
        if not savings or max(savings) < min_saving * width * len(members):
            return [members]
        at = 1 + savings.index(max(savings))
        return split(members[:at]) + split(members[at:])

    return split(sorted(range(len(lengths)), key=lambda i: -lengths[i])) if lengths else []


def predicting_hidden(model, batch: TokenBatch, full_rows: bool = False) -> torch.Tensor:
    """[tokens, hidden]: the decoder's last hidden state at each position that predicts a response
    token, tokens in row-major order of ``batch.response_mask()``.

    Rows that share a prompt (a GRPO group) share its forward pass: the decoder runs once on each
    distinct prompt (left-padded, keeping its KV cache), then on the responses, in chunks of similar
    length (``length_chunks``), each row attending to its prompt's cached keys and values. The
    result, and its gradient (the prompt's activations collect the gradient of every row), equal
    one padded call on the full rows; the decoder sees prompt + sum of responses tokens instead of
    rows x (prompt + response).

    With ``full_rows``, or gradient checkpointing on (and gradients enabled), the decoder runs once
    on the full rows instead (:func:`full_row_hidden`): checkpointed layers recompute their forward
    in the backward, which a prompt cache shared between calls does not survive, and sharded
    layers must be called the same number of times in every process.
    """
    if full_rows or (getattr(model, "is_gradient_checkpointing", False) and model.training and torch.is_grad_enabled()):
        return full_row_hidden(model, batch)
    decoder = model.get_decoder()
    device = batch.input_ids.device
    prompts = DistinctPrompts.of([batch.input_ids[i, :start].tolist() for i, start in enumerate(batch.response_start.tolist())], pad_id=0).to(device)
    out = decoder(input_ids=prompts.input_ids, attention_mask=prompts.attention_mask, position_ids=prompts.position_ids, use_cache=True)
    prompt_kv = [(layer.keys, layer.values) for layer in out.past_key_values.layers]  # [distinct, heads, width, head_dim] each
    last = out.last_hidden_state[:, -1]  # [distinct, hidden]: predicts each response's first token
    mask = batch.response_mask().bool()  # [batch, max_response]
    token_index = torch.zeros(mask.shape, dtype=torch.long, device=device)  # [batch, max_response]
    token_index[mask] = torch.arange(int(mask.sum()), device=device)
    responses = batch.response_ids()  # [batch, max_response]
    parts, order = [], []
    for chunk in length_chunks(batch.response_len.tolist()):
        index = torch.tensor(chunk, device=device)  # [chunk]
        of = prompts.row_prompt[index]  # [chunk]
        n = int(batch.response_len[index].max())
        cols = torch.arange(n, device=device)  # [n]
        valid = cols[None, :] < batch.response_len[index][:, None]  # [chunk, n]
        hidden = last[of][:, None]  # [chunk, 1, hidden]: predicts token 0
        if n > 1:  # the last response token predicts nothing: feed tokens 0 .. n-2
            cache = DynamicCache([(k[of], v[of]) for k, v in prompt_kv], config=model.config)
            after = decoder(
                input_ids=responses[index, : n - 1],
                attention_mask=torch.cat([prompts.attention_mask[of], valid[:, :-1].long()], dim=1),  # [chunk, width + n - 1]
                position_ids=batch.response_start[index][:, None] + cols[None, :-1],  # [chunk, n - 1]
                past_key_values=cache,
                use_cache=True,
            ).last_hidden_state  # [chunk, n - 1, hidden]
            hidden = torch.cat([hidden, after], dim=1)  # [chunk, n, hidden]: position t predicts token t
        r, c = valid.nonzero(as_tuple=True)  # [chunk tokens] each
        parts.append(hidden[r, c])  # [chunk tokens, hidden]
        order.append(token_index[index[r], c])  # [chunk tokens]: their places in the batch's order
    return torch.cat(parts)[torch.cat(order).argsort()]


def policy_hidden(model, batch: TokenBatch, full_rows: bool = False) -> torch.Tensor:
    """[policy tokens, hidden]: :func:`predicting_hidden` at the positions that predict a token the
    policy generated (row-major order of ``batch.policy_mask()``): a tool's output tokens are read
    as context but never predicted, so no logit, log-prob or gradient is ever taken at them."""
    hidden = predicting_hidden(model, batch, full_rows)  # [response tokens, hidden]
    if batch.tool_mask is None:
        return hidden
    return hidden[batch.policy_mask().bool()[batch.response_mask().bool()]]


def full_row_hidden(model, batch: TokenBatch) -> torch.Tensor:
    """[tokens, hidden] as :func:`predicting_hidden`, from one decoder call on the right-padded rows."""
    hidden = model.get_decoder()(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).last_hidden_state  # [batch, seq_total, hidden]
    mask = batch.response_mask().bool()  # [batch, max_response]
    rows, cols = mask.nonzero(as_tuple=True)  # [tokens] each
    return hidden[rows, batch.response_start[rows] + cols - 1]  # position t - 1 predicts response token t


def response_logprobs(
    model,
    batch: TokenBatch,
    temperature: float = 1.0,
    with_entropy: bool = False,
    *,
    support_ids: torch.Tensor | None = None,
    topk_ids: torch.Tensor | None = None,
    with_sum_pi2: bool = False,
    full_rows: bool = False,
) -> LogprobOutput:
    """log pi(y_t) of each token the policy generated, with gradient if grad is enabled (0 on a
    tool's output tokens, as on padding).

    support_ids: [batch, max_response, K] ids of the RLPT support per token (-1 = no id); the
    policy is renormalized on it and logits outside it get exactly zero gradient (a gather over the
    K ids: no |V|-wide mask). topk_ids: [batch, max_response, K] ids at which to report log-probs
    (DPPO top-K). with_sum_pi2: sum of the squared probabilities (OTB), from the same logits.
    full_rows: one decoder call on the full rows (see :func:`predicting_hidden`).
    """
    mask = batch.policy_mask().bool()  # [batch, max_response]
    rows, cols = mask.nonzero(as_tuple=True)  # [tokens] each
    target_pos = batch.response_start[rows] + cols  # [tokens]: where each response token sits
    logits = model.get_output_embeddings()(policy_hidden(model, batch, full_rows))  # [tokens, vocab]
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32)) / temperature
    targets = batch.input_ids[rows, target_pos]  # [tokens]
    chosen = logits.gather(1, targets[:, None]).squeeze(1)  # [tokens]

    def to_grid(values: torch.Tensor) -> torch.Tensor:  # [tokens, ...] -> [batch, max_response, ...]
        grid = torch.zeros((*mask.shape, *values.shape[1:]), dtype=values.dtype, device=values.device)
        return grid.index_put((rows, cols), values)

    out = LogprobOutput(logp=torch.zeros(0), entropy=torch.zeros(mask.shape, device=mask.device))
    if support_ids is None:
        lse = torch.logsumexp(logits, dim=-1)  # [tokens]
        support = None
    else:
        support = support_ids[rows, cols].long()  # [tokens, K]
        z_support = logits.gather(1, support.clamp(min=0)).masked_fill(support < 0, -math.inf)  # [tokens, K]
        lse = torch.logsumexp(z_support, dim=-1)  # [tokens]: normalizer over P_t only
    out.logp = to_grid(chosen - lse)
    with torch.no_grad():
        z = logits.detach()  # [tokens, vocab]
        full_lse = torch.logsumexp(z, dim=-1) if support is not None else lse.detach()  # [tokens]
        probs = torch.softmax(z, dim=-1) if with_entropy else None  # [tokens, vocab], freed right away
        if with_entropy:
            out.entropy = to_grid(full_lse - (probs * z).sum(-1))
        if with_sum_pi2 and support is None and probs is not None:  # one vocabulary-wide pass serves both
            out.sum_pi2 = to_grid((probs * probs).sum(-1))
        elif with_sum_pi2:
            z2 = 2 * (z_support.detach() if support is not None else z)  # [tokens, K or vocab]
            out.sum_pi2 = to_grid(torch.exp(torch.logsumexp(z2, dim=-1) - 2 * lse.detach()))
        if support is not None:
            out.in_topk = to_grid(((z > chosen.detach()[:, None]).sum(-1) < support.shape[1]).to(z.dtype))
            out.support_mass = to_grid(torch.exp(lse.detach() - full_lse))
        if topk_ids is not None:
            ids = topk_ids[rows, cols].long()  # [tokens, K]
            valid = ids >= 0
            if support is not None:  # under RLPT, ids outside P_t have probability 0
                valid &= (ids[:, :, None] == support[:, None, :]).any(-1)
            out.topk_logp = to_grid((z.gather(1, ids.clamp(min=0)) - lse.detach()[:, None]).masked_fill(~valid, -math.inf))
    return out
