"""Held-out evaluation: greedy episodes (with the run's tools, if any), scored by the same verifiers as training."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from contract.schema import Sample, Score, Status
from trainer.algorithms.reductions import Mean, StepStats, Sum
from trainer.prompts import encode_prompt, with_response
from trainer.rollout.base import SamplingParams
from trainer.tools.episodes import EpisodeRunner, score_episodes


def evaluate(runner: EpisodeRunner, samples: list[Sample], score: Callable[[list[Sample]], list[Score]], max_new_tokens: int, chat_template: bool = True) -> StepStats:
    """eval/accuracy (the fraction OK among scored samples), eval/mean_length (the model's tokens),
    eval/errors (scores that failed, and episodes whose tool failed: neither counts in the accuracy)
    and eval/samples, as statistics that add up over shares of the held-out set; with a tool,
    eval/tool_calls (per episode)."""
    stats = StepStats()
    prompts = [encode_prompt(runner.tokenizer, s, chat_template, runner.instructions) for s in samples]
    episodes = runner(prompts, SamplingParams(max_new_tokens=max_new_tokens, greedy=True)) if prompts else []
    scores = score_episodes(score, [with_response(s, e.answer) for s, e in zip(samples, episodes)], episodes)
    counts = Counter(s.status for s in scores)
    stats.add("eval/accuracy", Mean(counts[Status.OK], len(scores) - counts[Status.ERROR]))
    stats.add("eval/mean_length", Mean(sum(e.rollout.generated_tokens for e in episodes), len(episodes)))
    stats.add("eval/errors", Sum(counts[Status.ERROR]))
    stats.add("eval/samples", Sum(len(samples)))
    if runner.tool is not None:
        stats.add("eval/tool_calls", Mean(sum(e.calls for e in episodes), len(episodes)))
    return stats
