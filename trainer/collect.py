"""Steps 1-2 of the loop: generate the step's responses, score them over gRPC, shape the rewards,
refill with DAPO dynamic sampling, and attach the per-token support; the result is an Experience."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import torch

from contract.schema import Sample, Score, Status
from trainer.algorithms.dapo import overlong_penalty
from trainer.algorithms.groups import informative_groups
from trainer.algorithms.reductions import Mean, Std, StepStats, Sum
from trainer.algorithms.types import Needs
from trainer.config import Config
from trainer.data.sampler import EpochSampler
from trainer.experience import Experience
from trainer.prompts import encode_prompt, with_response
from trainer.rollout.base import Rollout, RolloutEngine, SamplingParams
from trainer.support import support_ids

Scorer = Callable[[list[Sample]], list[Score]]


class Collector:
    """Turns prompts into scored experience. Every count and time goes into the step's ``stats``."""

    def __init__(self, cfg: Config, tokenizer, engine: RolloutEngine, score: Scorer, sampler: EpochSampler, needs: Needs, ref_model=None):
        self.cfg, self.tokenizer, self.engine, self.score, self.sampler, self.needs, self.ref_model = cfg, tokenizer, engine, score, sampler, needs, ref_model
        self._prompt_cache: dict[str, list[int]] = {}

    def sampling_params(self) -> SamplingParams:
        """Sampling for training: an algorithm that samples from its own support (RLPT's rollout
        support) restricts it to top-k and its nucleus; the engine records the top-K it needs."""
        r, n = self.cfg.rollout, self.needs
        top_k, top_p = (n.sample_top_k, n.sample_top_p) if n.sample_top_k else (r.top_k, r.top_p)
        return SamplingParams(r.max_new_tokens, r.temperature, top_k, top_p, topk_logprobs=n.recorded_topk)

    def collect(self, prompts: list[Sample], stats: StepStats) -> Experience | None:
        """Generate and score groups for ``prompts``; with dynamic sampling, refill to a full batch."""
        alg = self.cfg.algorithm
        rollouts, scores, groups = self._generate_and_score(prompts, stats, group_offset=0)
        if alg.dapo.dynamic_sampling:
            rollouts, scores, groups = self._dynamic_sampling(rollouts, scores, groups, len(prompts), stats)
        if not rollouts:
            return None
        lengths = torch.tensor([len(ro.response_ids) for ro in rollouts])  # [batch]
        rewards = torch.tensor([s.reward for s in scores], dtype=torch.float32)  # [batch]
        shaping = overlong_penalty(lengths, self.cfg.rollout.max_new_tokens, alg.dapo.overlong_buffer, alg.dapo.overlong_penalty)  # [batch]
        exp = Experience.build(rollouts, rewards + shaping, torch.tensor(groups), self.tokenizer.pad_token_id)
        if self.needs.support is not None:
            exp.support_ids = support_ids(exp, self.needs.support, self.ref_model, self.cfg.rollout.temperature, self.cfg.train.micro_batch_size)
        stats.add("reward/shaping", Mean(shaping.sum(), len(rollouts)))
        return exp

    def _generate_and_score(self, prompts: list[Sample], stats: StepStats, group_offset: int) -> tuple[list[Rollout], list[Score], list[int]]:
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
            stats.add(f"scoring/{key}", Sum(value - before[key]))
        stats.add("time/generate", Sum(t_gen - t))
        stats.add("time/score", Sum(time.perf_counter() - t_gen))
        stats.add("dash/generate_calls", Sum(1))
        stats.add("dash/inference_batch_size", Mean(len(rollouts), 1))
        stats.add("tokens/generated", Sum(sum(len(ro.response_ids) for ro in rollouts)))
        counts = Counter(s.status for s in scores)
        for st in Status:
            stats.add(f"scoring/{st.value.lower()}", Sum(counts[st]))
        stats.add("scoring/dropped_error", Sum(counts[Status.ERROR]))
        keep = [i for i, s in enumerate(scores) if s.status != Status.ERROR]
        # reward, accuracy and length of every scored sample, before dynamic sampling chooses
        n = len(keep)
        stats.add("reward/mean", Mean(sum(scores[i].reward for i in keep), n))
        stats.add("reward/std", Std([scores[i].reward for i in keep]))
        stats.add("accuracy", Mean(sum(scores[i].status == Status.OK for i in keep), n))
        stats.add("response_length/mean", Mean(sum(len(rollouts[i].response_ids) for i in keep), n))
        stats.add("response_length/clipped_fraction", Mean(sum(not rollouts[i].finished for i in keep), n))
        return [rollouts[i] for i in keep], [scores[i] for i in keep], [group_offset + i // r.group_size for i in keep]

    def _client_counters(self) -> dict[str, int]:
        """The gRPC client's retry and failure counts (none for an in-process scorer)."""
        counters = getattr(self.score, "counters", None)
        return counters() if counters else {}

    def _dynamic_sampling(self, rollouts, scores, groups, wanted: int, stats: StepStats):
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
            ro2, sc2, gr2 = self._generate_and_score(more, stats, group_offset=next_group)
            next_group += len(more)
            keep = informative(sc2, gr2)
            rollouts += [ro2[i] for i in keep]
            scores += [sc2[i] for i in keep]
            groups += [gr2[i] for i in keep]
        chosen = sorted(set(groups))[:wanted]
        rows = [i for i, g in enumerate(groups) if g in chosen]
        stats.add("dapo/sampling_rounds", Sum(rounds))
        stats.add("dapo/groups_kept", Sum(len(chosen)))
        return [rollouts[i] for i in rows], [scores[i] for i in rows], [groups[i] for i in rows]

    def encode(self, sample: Sample) -> list[int]:
        if sample.id not in self._prompt_cache:
            self._prompt_cache[sample.id] = encode_prompt(self.tokenizer, sample, self.cfg.data.chat_template)
        return self._prompt_cache[sample.id]
