"""Steps 1-2 of the loop: generate the step's responses, score them over gRPC, shape the rewards,
refill with DAPO dynamic sampling, and attach the RLPT support; the result is an Experience."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import torch

from contract.schema import Sample, Score, Status
from trainer.algorithms.dapo import informative_groups, overlong_penalty
from trainer.algorithms.rlpt import reference_support, rollout_support
from trainer.config import Config
from trainer.data.sampler import EpochSampler
from trainer.experience import Experience
from trainer.rollout.base import Rollout, RolloutEngine, SamplingParams
from trainer.scoring import encode_prompt, with_response

Scorer = Callable[[list[Sample]], list[Score]]


class Collector:
    """Turns prompts into scored experience. Every count and time goes into the step's ``sums``."""

    def __init__(self, cfg: Config, tokenizer, engine: RolloutEngine, score: Scorer, sampler: EpochSampler, ref_model=None):
        self.cfg, self.tokenizer, self.engine, self.score, self.sampler, self.ref_model = cfg, tokenizer, engine, score, sampler, ref_model
        self._prompt_cache: dict[str, list[int]] = {}

    def sampling_params(self) -> SamplingParams:
        """Sampling for training: RLPT's rollout support restricts it to top-k (and its nucleus)."""
        r, alg = self.cfg.rollout, self.cfg.algorithm
        rlpt_sampling = alg.rlpt.top_k > 0 and alg.rlpt.support == "rollout"
        top_k, top_p = (alg.rlpt.top_k, alg.rlpt.top_p) if rlpt_sampling else (r.top_k, r.top_p)
        topk_logprobs = max(alg.dppo_topk, alg.rlpt.top_k if rlpt_sampling else 0)
        return SamplingParams(r.max_new_tokens, r.temperature, top_k, top_p, topk_logprobs=topk_logprobs)

    def collect(self, prompts: list[Sample], sums: dict[str, float]) -> Experience | None:
        """Generate and score groups for ``prompts``; with dynamic sampling, refill to a full batch."""
        alg = self.cfg.algorithm
        rollouts, scores, groups = self._generate_and_score(prompts, sums, group_offset=0)
        if alg.dapo.dynamic_sampling:
            rollouts, scores, groups = self._dynamic_sampling(rollouts, scores, groups, len(prompts), sums)
        if not rollouts:
            return None
        lengths = torch.tensor([len(ro.response_ids) for ro in rollouts])  # [batch]
        rewards = torch.tensor([s.reward for s in scores], dtype=torch.float32)  # [batch]
        shaping = overlong_penalty(lengths, self.cfg.rollout.max_new_tokens, alg.dapo.overlong_buffer, alg.dapo.overlong_penalty)  # [batch]
        exp = Experience.build(rollouts, rewards + shaping, torch.tensor(groups), self.tokenizer.pad_token_id)
        exp.support_ids = self.rlpt_support(exp)
        sums["reward/shaping_sum"] += float(shaping.sum())
        sums["experience_samples"] += len(rollouts)
        return exp

    def _generate_and_score(self, prompts: list[Sample], sums: dict[str, float], group_offset: int) -> tuple[list[Rollout], list[Score], list[int]]:
        r = self.cfg.rollout
        t = time.perf_counter()
        flat = [self.encode(p) for p in prompts for _ in range(r.group_size)]
        rollouts = self.engine.generate(flat, self.sampling_params())
        t_gen = time.perf_counter()
        texts = self.tokenizer.batch_decode([ro.response_ids for ro in rollouts], skip_special_tokens=True)
        samples = [with_response(prompts[i // r.group_size], text, f"#{i % r.group_size}") for i, text in enumerate(texts)]
        before = self._client_counters()
        scores = self.score(samples)
        for key, value in self._client_counters().items():  # scoring/retried_calls, scoring/failed_batches
            sums[f"scoring/{key}"] += value - before[key]
        sums["time/generate"] += t_gen - t
        sums["time/score"] += time.perf_counter() - t_gen
        sums["dash/generate_calls"] += 1
        sums["sequences_generated"] += len(rollouts)
        sums["tokens/generated"] += sum(len(ro.response_ids) for ro in rollouts)
        counts = Counter(s.status for s in scores)
        for st in Status:
            sums[f"scoring/{st.value.lower()}"] += counts[st]
        sums["scoring/dropped_error"] += counts[Status.ERROR]
        keep = [i for i, s in enumerate(scores) if s.status != Status.ERROR]
        # reward, accuracy and length of every scored sample, before dynamic sampling chooses
        sums["samples"] += len(keep)
        sums["reward/sum"] += sum(scores[i].reward for i in keep)
        sums["reward/sq_sum"] += sum(scores[i].reward ** 2 for i in keep)
        sums["accuracy_sum"] += sum(scores[i].status == Status.OK for i in keep)
        sums["response_length/sum"] += sum(len(rollouts[i].response_ids) for i in keep)
        sums["response_length/truncated"] += sum(not rollouts[i].finished for i in keep)
        return [rollouts[i] for i in keep], [scores[i] for i in keep], [group_offset + i // r.group_size for i in keep]

    def _client_counters(self) -> dict[str, int]:
        """The gRPC client's retry and failure counts (none for an in-process scorer)."""
        counters = getattr(self.score, "counters", None)
        return counters() if counters else {}

    def _dynamic_sampling(self, rollouts, scores, groups, wanted: int, sums):
        """DAPO: keep groups whose rewards differ; sample more prompts (at most max_sampling_rounds
        extra rounds) until ``wanted`` such groups are in hand; train on at most ``wanted``."""
        alg = self.cfg.algorithm

        def informative(scores, groups):
            mask = informative_groups(torch.tensor([s.reward for s in scores]), torch.tensor(groups)) if scores else torch.zeros(0, dtype=torch.bool)
            return [i for i in range(len(scores)) if mask[i]]

        keep = informative(scores, groups)
        rollouts, scores, groups = [rollouts[i] for i in keep], [scores[i] for i in keep], [groups[i] for i in keep]
        rounds, next_group = 0, wanted  # the first round's groups are numbered 0 .. wanted - 1
        while len(set(groups)) < wanted and rounds < alg.dapo.max_sampling_rounds:
            rounds += 1
            more = self.sampler.next_batch(wanted - len(set(groups)))
            ro2, sc2, gr2 = self._generate_and_score(more, sums, group_offset=next_group)
            next_group += len(more)
            keep = informative(sc2, gr2)
            rollouts += [ro2[i] for i in keep]
            scores += [sc2[i] for i in keep]
            groups += [gr2[i] for i in keep]
        chosen = sorted(set(groups))[:wanted]
        rows = [i for i, g in enumerate(groups) if g in chosen]
        sums["dapo/sampling_rounds"] += rounds
        sums["dapo/groups_kept"] += len(chosen)
        return [rollouts[i] for i in rows], [scores[i] for i in rows], [groups[i] for i in rows]

    def rlpt_support(self, exp: Experience) -> torch.Tensor | None:
        rlpt = self.cfg.algorithm.rlpt
        if not rlpt.top_k:
            return None
        if rlpt.support == "rollout":
            return rollout_support(exp.topk_ids, exp.topk_logprobs, rlpt.top_k, exp.tokens.response_ids())
        size = self.cfg.train.micro_batch_size
        parts = [reference_support(self.ref_model, exp.tokens.slice(torch.arange(k, min(k + size, len(exp)))), rlpt.top_k, rlpt.top_p, self.cfg.rollout.temperature) for k in range(0, len(exp), size)]
        support = torch.full((len(exp), exp.tokens.max_response, rlpt.top_k), -1, dtype=torch.int32)
        for k, part in zip(range(0, len(exp), size), parts):
            support[k : k + len(part), : part.shape[1]] = part
        return support

    def encode(self, sample: Sample) -> list[int]:
        if sample.id not in self._prompt_cache:
            self._prompt_cache[sample.id] = encode_prompt(self.tokenizer, sample, self.cfg.data.chat_template)
        return self._prompt_cache[sample.id]
