"""The ``hf`` engine: batched sampling with a ``transformers`` model, the policy itself (no weight sync).

A GRPO step samples every prompt ``group_size`` times, so one call holds few distinct prompts. The
engine runs each distinct prompt through the model once (the prefill), copies its KV cache to the
rows that share it, and then decodes; a row leaves the batch (and its cache rows are dropped) as
soon as it emits EOS, so the batch shrinks instead of padding finished rows to the longest one.
Sampling applies transformers' own temperature / top-k / top-p warpers; each token's log-prob is
read from the distribution it was drawn from, and, on request, that distribution's top-K ids and
log-probs (O(K) per token; no vocabulary-wide tensor is kept past its step).

Each row draws its noise from a generator of its own, seeded by the row's seed (Gumbel-max:
argmax(log p + g), g = -log(-log u), u uniform per vocabulary entry, which samples exactly from p),
so a row's response depends on its seed and its prompt alone: not on the other rows of the batch,
the batch size, or how many processes share the step.

A row also leaves the batch at its own token budget, and, with stop strings, at the token whose
text completes one (the text of the row's last ``STOP_WINDOW`` tokens is decoded at each step).
"""

from __future__ import annotations

import contextlib

import torch
from transformers import LogitsProcessorList
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from trainer.rollout.base import Rollout, RolloutEngine, SamplingParams
from trainer.rollout.shared_prompts import DistinctPrompts

STOP_WINDOW = 8  # tokens decoded per row and step to find a stop string (longer than any stop string)


def warpers(params: SamplingParams) -> LogitsProcessorList:
    """transformers' logits warpers for temperature, top-k and top-p, in generate's order."""
    out = LogitsProcessorList()
    if params.greedy:
        return out
    if params.temperature != 1.0:
        out.append(TemperatureLogitsWarper(params.temperature))
    if params.top_k > 0:
        out.append(TopKLogitsWarper(params.top_k))
    if params.top_p < 1.0:
        out.append(TopPLogitsWarper(params.top_p))
    return out


class HFEngine(RolloutEngine):
    def __init__(self, model, tokenizer, batch_size: int = 64, autocast=None):
        """autocast: a context manager factory the forward passes run under (mixed precision);
        None: none."""
        self.model = model
        self.autocast = autocast
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.eos_ids = torch.tensor(sorted(set(_as_list(model.generation_config.eos_token_id) or [tokenizer.eos_token_id])))

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], params: SamplingParams, seeds: list[int] | None = None, budgets: list[int] | None = None) -> list[Rollout]:
        was_training = self.model.training
        self.model.eval()
        if seeds is None:
            seeds = torch.randint(0, 2**62, (len(prompts),)).tolist()
        budgets = [min(b, params.max_new_tokens) for b in budgets] if budgets is not None else [params.max_new_tokens] * len(prompts)
        try:
            out: list[Rollout] = []
            with self.autocast() if self.autocast else contextlib.nullcontext():
                for start in range(0, len(prompts), self.batch_size):
                    part = slice(start, start + self.batch_size)
                    out.extend(self._generate_batch(prompts[part], params, seeds[part], budgets[part]))
            return out
        finally:
            self.model.train(was_training)

    def _generate_batch(self, prompts: list[list[int]], params: SamplingParams, seeds: list[int], budgets: list[int]) -> list[Rollout]:
        rows = len(prompts)
        device = self.model.device
        generators = [torch.Generator(device=device).manual_seed(seed) for seed in seeds]
        prefix = DistinctPrompts.of(prompts, self.tokenizer.pad_token_id).to(device)
        out = self.model(input_ids=prefix.input_ids, attention_mask=prefix.attention_mask, position_ids=prefix.position_ids, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        cache.batch_select_indices(prefix.row_prompt)  # each row gets its prompt's keys and values
        logits = out.logits[prefix.row_prompt, -1]  # [rows, vocab]
        attn = prefix.attention_mask[prefix.row_prompt]  # [rows, width]
        next_position = prefix.lengths()  # [rows]
        process = warpers(params)
        k = 0 if params.greedy else params.topk_logprobs
        limit = torch.tensor(budgets, device=device)  # [rows]: each row's token budget
        width = int(limit.max())
        tokens = torch.zeros((rows, width), dtype=torch.long, device=device)  # [rows, new]
        logprobs = torch.zeros((rows, width), device=device)  # [rows, new]
        topk_ids = torch.zeros((rows, width, k), dtype=torch.int32, device=device)  # [rows, new, K]
        topk_logprobs = torch.zeros((rows, width, k), device=device)  # [rows, new, K]
        length = limit.clone()  # [rows]
        finished = torch.zeros(rows, dtype=torch.bool, device=device)  # [rows]: ended with EOS
        stopped = torch.zeros(rows, dtype=torch.bool, device=device)  # [rows]: ended at a stop string
        active = torch.arange(rows, device=device)  # [active]: the rows still decoding
        for t in range(width):
            scores = process(None, logits.float())  # [active, vocab]
            token = scores.argmax(-1) if params.greedy else gumbel_sample(scores, [generators[i] for i in active.tolist()])  # [active]
            lse = torch.logsumexp(scores, -1)  # [active]
            chosen = scores.gather(1, token[:, None]).squeeze(1) - lse  # [active]
            tokens[active, t], logprobs[active, t] = token, chosen
            if k:
                values, top = scores.topk(k, dim=-1)  # [active, K] each
                values = values - lse[:, None]
                absent = ~(top == token[:, None]).any(-1)  # the sampled token replaces the K-th when absent
                top[absent, -1], values[absent, -1] = token[absent], chosen[absent]
                topk_ids[active, t], topk_logprobs[active, t] = top.to(torch.int32), values
            ended = torch.isin(token, self.eos_ids.to(device))  # [active]
            length[active[ended]], finished[active[ended]] = t + 1, True
            if params.stop:
                at_stop = self._completes_stop(tokens, active, t, params.stop) & ~ended  # [active]
                length[active[at_stop]], stopped[active[at_stop]] = t + 1, True
                ended |= at_stop
            ended |= limit[active] == t + 1  # rows at their budget
            if bool(ended.all()):
                break
            if bool(ended.any()):  # finished rows leave the batch and the cache
                keep = (~ended).nonzero().squeeze(1)  # [still active]
                cache.batch_select_indices(keep)
                active, token, attn = active[keep], token[keep], attn[keep]
            attn = torch.cat([attn, torch.ones((len(active), 1), dtype=attn.dtype, device=device)], dim=1)  # [active, width + t + 1]
            position = (next_position[active] + t)[:, None]  # [active, 1]
            logits = self.model(input_ids=token[:, None], attention_mask=attn, position_ids=position, past_key_values=cache, use_cache=True).logits[:, -1]
        tokens, logprobs, topk_ids, topk_logprobs, length, finished, stopped = (x.cpu() for x in (tokens, logprobs, topk_ids, topk_logprobs, length, finished, stopped))
        return [
            Rollout(
                prompt,
                tokens[i, : length[i]].tolist(),
                logprobs[i, : length[i]].tolist(),
                bool(finished[i]),
                topk_ids[i, : length[i]].clone() if k else None,
                topk_logprobs[i, : length[i]].clone() if k else None,
                stopped=bool(stopped[i]),
            )
            for i, prompt in enumerate(prompts)
        ]

    def _completes_stop(self, tokens: torch.Tensor, active: torch.Tensor, t: int, stop: tuple[str, ...]) -> torch.Tensor:
        """[active] bool: the rows whose last ``STOP_WINDOW`` tokens, up to token ``t``, hold one of
        ``stop``. Checked at every token, so a stop string found now was completed by token ``t``:
        one completed earlier would have ended the row then. tokens: [rows, new] long; active:
        [active] long row indices."""
        window = tokens[active, max(0, t - STOP_WINDOW + 1) : t + 1].tolist()  # [active][<= STOP_WINDOW]
        texts = self.tokenizer.batch_decode(window, skip_special_tokens=True)
        return torch.tensor([any(s in text for s in stop) for text in texts], device=tokens.device)


def gumbel_sample(scores: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """One token per row from softmax(scores), row i's noise from ``generators[i]``:
    argmax(scores + g), g = -log(-log u), u ~ U[0, 1) per vocabulary entry. scores: [rows, vocab]
    (-inf where a warper removed a token) -> [rows] long."""
    u = torch.stack([torch.rand(scores.shape[1], generator=g, device=scores.device, dtype=torch.float64) for g in generators])  # [rows, vocab]
    return (scores.double() - torch.log(-torch.log(u))).argmax(-1)


def _as_list(x) -> list[int] | None:
    if x is None:
        return None
    return list(x) if isinstance(x, (list, tuple)) else [int(x)]
