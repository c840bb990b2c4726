"""Held-out evaluation: greedy responses, scored by the same verifiers as training."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from contract.schema import Sample, Score, Status
from trainer.prompts import encode_prompt, with_response
from trainer.rollout.base import RolloutEngine, SamplingParams


def evaluate(engine: RolloutEngine, tokenizer, samples: list[Sample], score: Callable[[list[Sample]], list[Score]], max_new_tokens: int, chat_template: bool = True) -> dict[str, float]:
    """accuracy (fraction OK among scored samples), mean response length in tokens, status counts."""
    prompts = [encode_prompt(tokenizer, s, chat_template) for s in samples]
    rollouts = engine.generate(prompts, SamplingParams(max_new_tokens=max_new_tokens, greedy=True))
    texts = tokenizer.batch_decode([r.response_ids for r in rollouts], skip_special_tokens=True)
    scores = score([with_response(s, t) for s, t in zip(samples, texts)])
    counts = Counter(s.status for s in scores)
    scored = len(scores) - counts[Status.ERROR]
    return {
        "eval/accuracy": counts[Status.OK] / scored if scored else float("nan"),
        "eval/mean_length": sum(len(r.response_ids) for r in rollouts) / len(rollouts),
        "eval/errors": float(counts[Status.ERROR]),
        "eval/samples": float(len(samples)),
    }
