"""RLPT: Reinforcement Learning with Promising Tokens (arXiv 2602.03195), the support P_t.

P_t = {v : rank(v | s_t) <= K} of the rollout policy (its top-k sampling support) or of the frozen
reference model at the same positions, optionally intersected with the nucleus of mass top_p, with
the sampled token always forced in. It is stored as K int32 ids per token (-1 = no id), never as a
|V|-wide mask. The policy is renormalized on P_t for both the current and the old policy,
log pi~(y_t) = z_t[y_t] - logsumexp_{v in P_t} z_t[v] (computed in :mod:`trainer.logprobs`), and the
ratio r = exp(log pi~_new - log pi~_old) goes into the unchanged GRPO / DAPO / DPPO loss.
"""

from __future__ import annotations

import torch

from trainer.logprobs import TokenBatch, predicting_hidden


def nucleus_keep(sorted_logp: torch.Tensor, top_p: float) -> torch.Tensor:
    """[..., K] log-probs sorted in decreasing order -> bool [..., K]: the smallest prefix whose mass
    reaches top_p (the first entry is always kept)."""
    probs = torch.exp(sorted_logp)
    before = torch.cumsum(probs, dim=-1) - probs  # mass strictly before each entry
    return before < top_p


def force_in(ids: torch.Tensor, sampled: torch.Tensor) -> torch.Tensor:
    """Put ``sampled`` ([...]) into ``ids`` ([..., K]), replacing the last entry where it is absent."""
    ids = ids.clone()
    absent = ~(ids == sampled[..., None]).any(-1)
    ids[..., -1] = torch.where(absent, sampled.to(ids.dtype), ids[..., -1])
    return ids


def rollout_support(topk_ids: torch.Tensor, topk_logprobs: torch.Tensor, k: int, sampled: torch.Tensor) -> torch.Tensor:
    """The sampling distribution's top-k ids restricted to the ids it could sample, sampled token in.

    topk_ids, topk_logprobs: [batch, seq, K_engine >= k] (sorted); sampled: [batch, seq] ->
    [batch, seq, k] int32, -1 where the id had probability 0 (removed by top-k / top-p). With
    RLPT's own top-k sampling the sampled token is always among them already.
    """
    ids, logp = topk_ids[..., :k], topk_logprobs[..., :k]
    ids = torch.where(torch.isfinite(logp), ids, torch.full_like(ids, -1))
    return force_in(ids, sampled).to(torch.int32)


@torch.no_grad()
def reference_support(ref_model, batch: TokenBatch, k: int, top_p: float, temperature: float) -> torch.Tensor:
    """P_t from the reference model's logits at the response positions: [batch, max_response, k]
    int32, the sampled token forced in, -1 outside the nucleus (and on padding)."""
    mask = batch.response_mask().bool()  # [batch, max_response]
    rows, cols = mask.nonzero(as_tuple=True)  # [tokens]
    target_pos = batch.response_start[rows] + cols  # [tokens]
    logits = ref_model.get_output_embeddings()(predicting_hidden(ref_model, batch)).float() / temperature  # [tokens, vocab]
    values, ids = logits.topk(k, dim=-1)  # [tokens, k], sorted
    keep = nucleus_keep(values - torch.logsumexp(logits, -1, keepdim=True), top_p)  # [tokens, k]
    ids = torch.where(keep, ids, torch.full_like(ids, -1))
    ids = force_in(ids, batch.input_ids[rows, target_pos])  # [tokens, k]
    grid = torch.full((*mask.shape, k), -1, dtype=torch.int32)
    return grid.index_put((rows, cols), ids.to(torch.int32))
