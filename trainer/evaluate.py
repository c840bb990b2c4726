"""Held-out evaluation: greedy responses, scored by the same verifiers as training."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from contract.schema import Sample, Score, Status
from trainer.algorithms.reductions import Mean, StepStats, Sum
from trainer.prompts import encode_prompt, with_response
from trainer.rollout.base import RolloutEngine, SamplingParams


def evaluate(engine: RolloutEngine, tokenizer, samples: list[Sample], score: Callable[[list[Sample]], list[Score]], max_new_tokens: int, chat_template: bool = True) -> StepStats:
    """eval/accuracy (the fraction OK among scored samples), eval/mean_length (tokens),
    eval/errors and eval/samples, as statistics that add up over shares of the held-out set."""
    stats = StepStats()
    prompts = [encode_prompt(tokenizer, s, chat_template) for s in samples]
    rollouts = engine.generate(prompts, SamplingParams(max_new_tokens=max_new_tokens, greedy=True)) if prompts else []
    texts = tokenizer.batch_decode([r.response_ids for r in rollouts], skip_special_tokens=True)
    scores = score([with_response(s, t) for s, t in zip(samples, texts)]) if samples else []
    counts = Counter(s.status for s in scores)
    stats.add("eval/accuracy", Mean(counts[Status.OK], len(scores) - counts[Status.ERROR]))
    stats.add("eval/mean_length", Mean(sum(len(r.response_ids) for r in rollouts), len(rollouts)))
    stats.add("eval/errors", Sum(counts[Status.ERROR]))
    stats.add("eval/samples", Sum(len(samples)))
    return stats
