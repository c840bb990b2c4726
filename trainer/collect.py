"""Steps 1-2 of the loop: generate the step's responses, score them over gRPC, shape the rewards,
refill with DAPO dynamic sampling, and attach the per-token support; the result is an Experience."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable

import torch

from contract.schema import Sample, Score, Status
from trainer.algorithms.dapo import overlong_penalty
from trainer.algorithms.groups import informative_groups
from trainer.algorithms.reductions import Elapsed, First, Mean, Std, StepStats, Sum
from trainer.algorithms.types import Needs
from trainer.config import Config
from trainer.data.sampler import EpochSampler
from trainer.experience import Experience
from trainer.prompts import encode_prompt, with_response
from trainer.rollout.base import Rollout, SamplingParams
from trainer.support import support_ids
from trainer.tools.episodes import Episode, EpisodeRunner, score_episodes
from trainer.world import World

Scorer = Callable[[list[Sample]], list[Score]]


def sample_seed(seed: int, step: int, round_: int, prompt_id: str, index: int) -> int:
    """The sampling seed of one response: a hash of (train.seed, step, refill round, prompt id,
    sample index), so that a response never depends on which process samples it or beside what."""
    digest = hashlib.blake2b(f"{seed}/{step}/{round_}/{prompt_id}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 2  # 62 bits: any engine's seed type holds it


def rollout_record(step: int, group: int, index: int, sample: Sample, episode: Episode, score: Score) -> dict:
    """One sample's entry in the rollout log; ``advantage`` (the mean over the response's tokens)
    is filled in when the step computes it, and stays None for a sample it does not train on. A
    tool episode's entry shows its whole transcript as ``response`` and each turn (the model's
    text, the block it ran, the output it read) in ``turns``."""
    prompt = sample.prompt if isinstance(sample.prompt, str) else [m.model_dump() for m in sample.prompt]
    record = {
        "step": step + 1, "group": group, "index": index, "id": sample.id, "prompt": prompt, "response": episode.transcript,
        "reward": score.reward, "status": score.status.value, "detail": score.detail, "tokens": episode.rollout.generated_tokens, "finished": episode.rollout.finished, "advantage": None, "components": score.components,
    }  # fmt: skip
    if episode.calls:
        record |= {"turns": [turn.record() for turn in episode.turns], "tool_tokens": episode.tool_tokens}
    return record


def tool_stats(episodes: list[Episode], scores: list[Score], stats: StepStats) -> None:
    """Per-step tool metrics: calls per episode, failed calls (their episodes dropped), blocks that
    timed out or crashed, output tokens read, and the accuracy of episodes with and without a call."""
    scored = [(e, s) for e, s in zip(episodes, scores) if s.status != Status.ERROR]
    with_call = [s for e, s in scored if e.calls]
    without = [s for e, s in scored if not e.calls]
    stats.add("tools/calls_per_episode", Mean(sum(e.calls for e in episodes), len(episodes)))
    stats.add("tools/errors", Sum(sum(e.failed is not None for e in episodes)))
    stats.add("tools/timeouts", Sum(sum(e.count("TIMEOUT") for e in episodes)))
    stats.add("tools/runtime_errors", Sum(sum(e.count("RUNTIME_ERROR") for e in episodes)))
    stats.add("tools/output_tokens", Sum(sum(e.tool_tokens for e in episodes)))
    stats.add("tools/episodes_with_call", Mean(len(with_call), len(scored)))
    stats.add("accuracy/with_call", Mean(sum(s.status == Status.OK for s in with_call), len(with_call)))
    stats.add("accuracy/without_call", Mean(sum(s.status == Status.OK for s in without), len(without)))


class Collector:
    """Turns prompts into scored experience. Every count and time goes into the step's ``stats``.

    Under several processes, every process draws the same prompts from its sampler and takes its
    share of them: a group never spans processes, and group ids are global (a group's index among
    the step's prompts), so together the processes hold what one process would.
    """

    def __init__(self, cfg: Config, runner: EpisodeRunner, score: Scorer, sampler: EpochSampler, needs: Needs, ref_model=None, world: World | None = None):
        self.cfg, self.runner, self.tokenizer, self.score, self.sampler, self.needs, self.ref_model = cfg, runner, runner.tokenizer, score, sampler, needs, ref_model
        self.world = world or World()
        self._prompt_cache: dict[str, list[int]] = {}
        self.records: list[dict] = []  # the rollout log's entries of this process's samples since begin_step

    def begin_step(self) -> None:
        """Start the step's rollout log afresh."""
        self.records = []

    def sampling_params(self) -> SamplingParams:
        """Sampling for training: an algorithm that samples from its own support (RLPT's rollout
        support) restricts it to top-k and its nucleus; the engine records the top-K it needs."""
        r, n = self.cfg.rollout, self.needs
        top_k, top_p = (n.sample_top_k, n.sample_top_p) if n.sample_top_k else (r.top_k, r.top_p)
        return SamplingParams(r.max_new_tokens, r.temperature, top_k, top_p, topk_logprobs=n.recorded_topk)

    def collect(self, prompts: list[Sample], stats: StepStats, step: int = 0, group_offset: int = 0) -> Experience | None:
        """Generate and score this process's share of the groups of ``prompts`` (the same list on
        every process) at optimizer step ``step``; with dynamic sampling, refill to a full batch.
        ``group_offset``: the global group id of ``prompts[0]``."""
        alg = self.cfg.algorithm
        mine = self.world.share(len(prompts))
        rollouts, scores, groups, records = self._generate_and_score(prompts[mine.start : mine.stop], stats, group_offset + mine.start, step=step, round_=0)
        if alg.dapo.dynamic_sampling:
            rollouts, scores, groups, records = self._dynamic_sampling(rollouts, scores, groups, records, len(prompts), stats, step)
        if not rollouts:
            return None
        lengths = torch.tensor([ro.generated_tokens for ro in rollouts])  # [batch]: the model's own tokens
        rewards = torch.tensor([s.reward for s in scores], dtype=torch.float32)  # [batch]
        shaping = overlong_penalty(lengths, self.cfg.rollout.max_new_tokens, alg.dapo.overlong_buffer, alg.dapo.overlong_penalty)  # [batch]
        exp = Experience.build(rollouts, rewards + shaping, torch.tensor(groups), self.tokenizer.pad_token_id, records).to(self.world.device)
        if self.needs.support is not None:
            exp.support_ids = support_ids(exp, self.needs.support, self.ref_model, self.cfg.rollout.temperature, self.cfg.train.micro_batch_size)
        stats.add("reward/shaping", Mean(shaping.sum(), len(rollouts)))
        return exp

    def _generate_and_score(self, prompts: list[Sample], stats: StepStats, group_offset: int, step: int, round_: int) -> tuple[list[Rollout], list[Score], list[int], list[dict]]:
        """Rollouts of ``prompts`` (group ids from ``group_offset``), their scores, their group ids
        and their rollout-log entries, ERROR scores dropped and counted (their entries logged)."""
        r = self.cfg.rollout
        t = time.perf_counter()
        flat = [self.encode(p) for p in prompts for _ in range(r.group_size)]
        seeds = [sample_seed(self.cfg.train.seed, step, round_, p.id, k) for p in prompts for k in range(r.group_size)]
        tool_seconds = self.runner.tool.seconds if self.runner.tool else 0.0
        episodes = self.runner(flat, self.sampling_params(), seeds)
        rollouts = [e.rollout for e in episodes]
        t_gen = time.perf_counter()
        samples = [with_response(prompts[i // r.group_size], e.answer, f"#{i % r.group_size}") for i, e in enumerate(episodes)]
        before = self._client_counters()
        scores = score_episodes(self.score, samples, episodes)
        for key, value in self._client_counters().items():  # scoring/retried_calls, scoring/failed_batches
            stats.add(f"scoring/{key}", Sum(value - before[key]))
        stats.add("time/generate", Elapsed(t_gen - t))  # a tool's calls included
        if self.runner.tool is not None:
            stats.add("time/tool", Elapsed(self.runner.tool.seconds - tool_seconds))
        stats.add("time/score", Elapsed(time.perf_counter() - t_gen))
        stats.add("dash/generate_calls", Sum(1))
        stats.add("dash/inference_batch_size", Mean(len(rollouts), 1))
        stats.add("tokens/generated", Sum(sum(ro.generated_tokens for ro in rollouts)))
        counts = Counter(s.status for s in scores)
        for st in Status:
            stats.add(f"scoring/{st.value.lower()}", Sum(counts[st]))
        stats.add("scoring/dropped_error", Sum(counts[Status.ERROR]))
        for sample, sc in zip(samples, scores):  # what each verifier reports it spent (the code verifier: cases, sandbox calls and seconds, crashes)
            for key, value in sc.components.items():
                stats.add(f"{sample.verifier}/{key}", Sum(value))
        keep = [i for i, s in enumerate(scores) if s.status != Status.ERROR]
        if self.runner.tool is not None:
            tool_stats(episodes, scores, stats)
        records = [rollout_record(step, group_offset + i // r.group_size, i % r.group_size, samples[i], e, sc) for i, (e, sc) in enumerate(zip(episodes, scores))]
        self.records += records
        # reward, accuracy and length of every scored sample, before dynamic sampling chooses
        n = len(keep)
        stats.add("reward/mean", Mean(sum(scores[i].reward for i in keep), n))
        stats.add("reward/std", Std([scores[i].reward for i in keep]))
        stats.add("accuracy", Mean(sum(scores[i].status == Status.OK for i in keep), n))
        stats.add("response_length/mean", Mean(sum(rollouts[i].generated_tokens for i in keep), n))
        stats.add("response_length/clipped_fraction", Mean(sum(not rollouts[i].finished for i in keep), n))
        return [rollouts[i] for i in keep], [scores[i] for i in keep], [group_offset + i // r.group_size for i in keep], [records[i] for i in keep]

    def _client_counters(self) -> dict[str, int]:
        """The gRPC client's retry and failure counts (none for an in-process scorer)."""
        counters = getattr(self.score, "counters", None)
        return counters() if counters else {}

    def _dynamic_sampling(self, rollouts, scores, groups, records, wanted: int, stats: StepStats, step: int):
        """DAPO: keep groups whose rewards differ; sample more prompts (at most max_sampling_rounds
        extra rounds) until ``wanted`` such groups are in hand over all processes; train on the
        first ``wanted`` of them (by global group id)."""
        alg = self.cfg.algorithm

        def informative(scores, groups):
            mask = informative_groups(torch.tensor([s.reward for s in scores]), torch.tensor(groups)) if scores else torch.zeros(0, dtype=torch.bool)
            return [i for i in range(len(scores)) if mask[i]]

        def kept_everywhere() -> int:
            return int(self.world.sum([len(set(groups))])[0])

        keep = informative(scores, groups)
        rollouts, scores, groups, records = [rollouts[i] for i in keep], [scores[i] for i in keep], [groups[i] for i in keep], [records[i] for i in keep]
        rounds, next_group = 0, wanted  # the first round's groups are numbered 0 .. wanted - 1
        while (kept := kept_everywhere()) < wanted and rounds < alg.dapo.max_sampling_rounds:
            rounds += 1
            more = self.sampler.next_batch(wanted - kept)  # the same prompts on every process
            mine = self.world.share(len(more))
            ro2, sc2, gr2, rec2 = self._generate_and_score(more[mine.start : mine.stop], stats, next_group + mine.start, step=step, round_=rounds)
            next_group += len(more)
            keep = informative(sc2, gr2)
            rollouts += [ro2[i] for i in keep]
            scores += [sc2[i] for i in keep]
            groups += [gr2[i] for i in keep]
            records += [rec2[i] for i in keep]
        chosen = set(sorted(g for part in self.world.gather(sorted(set(groups))) for g in part)[:wanted])
        rows = [i for i, g in enumerate(groups) if g in chosen]
        stats.add("dapo/sampling_rounds", First(rounds))
        stats.add("dapo/groups_kept", Sum(len(chosen & set(groups))))
        return [rollouts[i] for i in rows], [scores[i] for i in rows], [groups[i] for i in rows], [records[i] for i in rows]

    def encode(self, sample: Sample) -> list[int]:
        if sample.id not in self._prompt_cache:
            self._prompt_cache[sample.id] = encode_prompt(self.tokenizer, sample, self.cfg.data.chat_template, self.runner.instructions)
        return self._prompt_cache[sample.id]
