"""The per-token support P_t a step's needs ask for (RLPT, arXiv 2602.03195), as K int32 ids per
response token (-1 = no id): the rollout's own top-K, or the frozen reference model's top-K at the
same positions. The choice of ids is :mod:`trainer.algorithms.rlpt`'s; this module runs the model."""

from __future__ import annotations

import torch

from trainer.algorithms.rlpt import logits_support, rollout_support
from trainer.algorithms.types import Support
from trainer.experience import Experience
from trainer.logprobs import TokenBatch, policy_hidden


@torch.no_grad()
def reference_support(ref_model, batch: TokenBatch, support: Support, temperature: float) -> torch.Tensor:
    """P_t from the reference model's logits at the response positions of ``batch``:
    [batch, max_response, k] int32, the sampled token forced in, -1 outside the nucleus, on padding
    and on a tool's output."""
    mask = batch.policy_mask().bool()  # [batch, max_response]
    rows, cols = mask.nonzero(as_tuple=True)  # [tokens]
    sampled = batch.input_ids[rows, batch.response_start[rows] + cols]  # [tokens]
    logits = ref_model.get_output_embeddings()(policy_hidden(ref_model, batch)).float() / temperature  # [tokens, vocab]
    ids = logits_support(logits, support.k, support.top_p, sampled)  # [tokens, k]
    grid = torch.full((*mask.shape, support.k), -1, dtype=torch.int32, device=ids.device)
    return grid.index_put((rows, cols), ids.to(torch.int32))


def support_ids(exp: Experience, support: Support, ref_model, temperature: float, chunk: int) -> torch.Tensor:
    """[batch, seq, k] int32 support of every response token of ``exp``; the reference model runs
    on ``chunk`` rows at a time."""
    if support.source == "rollout":
        return rollout_support(exp.topk_ids, exp.topk_logprobs, support.k, exp.tokens.response_ids())
    out = torch.full((len(exp), exp.tokens.max_response, support.k), -1, dtype=torch.int32)
    for start in range(0, len(exp), chunk):
        part = reference_support(ref_model, exp.tokens.slice(torch.arange(start, min(start + chunk, len(exp)))), support, temperature)
        out[start : start + len(part), : part.shape[1]] = part
    return out
