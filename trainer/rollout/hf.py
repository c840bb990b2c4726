"""The ``hf`` engine: batched ``transformers`` generate on the policy model itself (no weight sync).

Sampling log-probs (and, on request, the top-K ids and log-probs) are recorded by a logits processor
placed after temperature / top-k / top-p, so they are exactly those of the distribution each token
was drawn from. It keeps only the previous step's scores and their logsumexp ([batch, vocab] for one
step), never a vocabulary-wide tensor per generated token.
"""

from __future__ import annotations

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from trainer.rollout.base import Rollout, RolloutEngine, SamplingParams


class SamplingLogprobRecorder(LogitsProcessor):
    """Records log pi_sample(y_t) for every step: at step t+1 it sees y_t in ``input_ids``.

    With ``topk`` > 0 it also keeps, per step, the top-K ids and log-probs of the sampling
    distribution ([batch, K] each: O(K) per token), forcing the sampled token in once it is known.
    """

    def __init__(self, topk: int = 0) -> None:
        self.topk = topk
        self.logprobs: list[torch.Tensor] = []  # one [batch] tensor per generated token
        self.topk_ids: list[torch.Tensor] = []  # one [batch, K] int32 tensor per generated token
        self.topk_logprobs: list[torch.Tensor] = []  # one [batch, K] float32 tensor per generated token
        self._scores: torch.Tensor | None = None  # [batch, vocab] of the previous step
        self._lse: torch.Tensor | None = None  # [batch]

    def _record(self, sampled: torch.Tensor) -> None:  # sampled: [batch]
        if self._scores is None:
            return
        chosen = self._scores.gather(1, sampled[:, None]).squeeze(1) - self._lse  # [batch]
        self.logprobs.append(chosen)
        if self.topk:
            values, ids = self._scores.topk(self.topk, dim=-1)  # [batch, K] each
            logprobs = values - self._lse[:, None]  # [batch, K]
            absent = ~(ids == sampled[:, None]).any(-1)  # [batch]
            ids[absent, -1] = sampled[absent]
            logprobs[absent, -1] = chosen[absent]
            self.topk_ids.append(ids.to(torch.int32))
            self.topk_logprobs.append(logprobs.float())

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._record(input_ids[:, -1])
        self._scores, self._lse = scores, torch.logsumexp(scores, dim=-1)
        return scores

    def finish(self, last_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Record the last step; log-probs [batch, new], and top-K ids and log-probs [batch, new, K] or None."""
        self._record(last_tokens)
        self._scores = self._lse = None
        if not self.topk:
            return torch.stack(self.logprobs, dim=1), None, None
        return torch.stack(self.logprobs, dim=1), torch.stack(self.topk_ids, dim=1), torch.stack(self.topk_logprobs, dim=1)


class HFEngine(RolloutEngine):
    def __init__(self, model, tokenizer, batch_size: int = 64):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.eos_ids = set(_as_list(model.generation_config.eos_token_id) or [tokenizer.eos_token_id])

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Rollout]:
        was_training = self.model.training
        self.model.eval()
        try:
            out: list[Rollout] = []
            for start in range(0, len(prompts), self.batch_size):
                out.extend(self._generate_batch(prompts[start : start + self.batch_size], params))
            return out
        finally:
            self.model.train(was_training)

    def _generate_batch(self, prompts: list[list[int]], params: SamplingParams) -> list[Rollout]:
        pad = self.tokenizer.pad_token_id
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])  # [batch, width], left-padded
        attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])  # [batch, width]
        # Sampling uses our own warpers (below) so that the recorder sees their output: turn HF's off.
        warpers_off = {} if params.greedy else {"temperature": 1.0, "top_k": 0, "top_p": 1.0}
        config = GenerationConfig(max_new_tokens=params.max_new_tokens, do_sample=not params.greedy, pad_token_id=pad, eos_token_id=sorted(self.eos_ids), **warpers_off)
        recorder = SamplingLogprobRecorder(0 if params.greedy else params.topk_logprobs)
        processors = LogitsProcessorList()
        if not params.greedy:
            if params.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(params.temperature))
            if params.top_k > 0:
                processors.append(TopKLogitsWarper(params.top_k))
            if params.top_p < 1.0:
                processors.append(TopPLogitsWarper(params.top_p))
        processors.append(recorder)
        sequences = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config, logits_processor=processors)
        new_tokens = sequences[:, width:]  # [batch, new]
        logprobs, topk_ids, topk_logprobs = recorder.finish(new_tokens[:, -1])  # [batch, new], [batch, new, K] x2
        rollouts = []
        for i, prompt in enumerate(prompts):
            tokens = new_tokens[i].tolist()
            n, finished = self._response_length(tokens)
            rollouts.append(Rollout(prompt, tokens[:n], logprobs[i, :n].tolist(), finished, topk_ids[i, :n].clone() if topk_ids is not None else None, topk_logprobs[i, :n].clone() if topk_logprobs is not None else None))
        return rollouts

    def _response_length(self, tokens: list[int]) -> tuple[int, bool]:
        """Length up to the first EOS (kept) and whether there was one; what follows is padding."""
        for t, tok in enumerate(tokens):
            if tok in self.eos_ids:
                return t + 1, True
        return len(tokens), False


def _as_list(x) -> list[int] | None:
    if x is None:
        return None
    return list(x) if isinstance(x, (list, tuple)) else [int(x)]
