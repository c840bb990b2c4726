"""Tool episodes: rollouts in which the model runs code and reads what it printed.

An episode generates until the model closes a python block (the stop string
:data:`~trainer.tools.protocol.CLOSE_FENCE`), runs the block in the sandbox, appends the fenced
output (capped at ``output_chars``) to the response, and generates again, until EOS, the token
budget, or ``max_calls`` blocks have run (after that a closed block is only text). Every turn is
one batched generate call over the episodes still running, so a step's episodes share each call
(and its prefills) and finish independently; all blocks of a turn run concurrently.

The response interleaves the model's tokens and the tool's: ``Rollout.tool_mask`` marks the
tool's, which carry log-prob 0 and no top-K ids and are never trained on. ``params.max_new_tokens``
budgets the model's own tokens over the whole episode. Turn k of an episode samples with a seed
derived from the episode's seed and k, so an episode depends only on its prompt, seed and the
tool's answers. A sandbox failure (ERROR) ends the episode as failed: it is dropped, never scored.
Without a tool, an episode is one generate call, as a plain rollout.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import torch

from contract.schema import Sample, Score, Status
from trainer.rollout.base import Rollout, RolloutEngine, SamplingParams
from trainer.tools.protocol import CLOSE_FENCE, INSTRUCTIONS, block_to_run, output_block
from trainer.tools.python import Call, CallResult, PythonTool


@dataclass
class Turn:
    """What the model wrote up to a block it ran (or to its end), and what the tool answered."""

    text: str
    code: str | None = None  # the block that ran (None: the episode's last turn, no call)
    output: str | None = None  # the output block appended to the response
    status: str | None = None  # the sandbox's status of that run (OK, RUNTIME_ERROR, TIMEOUT...)

    def record(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def calls_in(turns: list[Turn]) -> int:
    """The tool calls among ``turns`` (a turn that ran a block)."""
    return sum(turn.code is not None for turn in turns)


@dataclass
class Episode:
    rollout: Rollout  # prompt, then the model's and the tool's tokens (rollout.tool_mask marks the tool's)
    turns: list[Turn]
    failed: str | None = None  # why the sandbox failed: the episode is dropped, never scored

    @property
    def calls(self) -> int:
        return calls_in(self.turns)

    @property
    def answer(self) -> str:
        """The model's own text, its turns joined (what the verifier scores)."""
        return "".join(turn.text for turn in self.turns)

    @property
    def transcript(self) -> str:
        """The whole response as the model read it: its turns and the tool's output blocks."""
        return "".join(turn.text + (turn.output or "") for turn in self.turns)

    @property
    def tool_tokens(self) -> int:
        return sum(self.rollout.tool_mask or [])

    def count(self, status: str) -> int:
        """The calls whose run ended with ``status``."""
        return sum(turn.status == status for turn in self.turns)


def score_episodes(score, samples: list[Sample], episodes: list[Episode]) -> list[Score]:
    """``score``'s verdicts on ``samples`` (each carrying its episode's answer); an episode whose
    tool failed is not sent, and gets ERROR (dropped and counted like any infrastructure failure)."""
    ran = [i for i, e in enumerate(episodes) if e.failed is None]
    scored = dict(zip(ran, score([samples[i] for i in ran]) if ran else []))
    return [scored.get(i) or Score(s.id, 0.0, Status.ERROR, f"tool: {episodes[i].failed}") for i, s in enumerate(samples)]


@dataclass
class _Running:
    """An episode under way."""

    prompt: list[int]
    seed: int
    budget: int  # the model's tokens it may still generate
    ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    tool_mask: list[bool] = field(default_factory=list)
    topk: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # ([n, K] ids, [n, K] log-probs) per stretch
    turns: list[Turn] = field(default_factory=list)
    text: str = ""  # the model's text since the last output block
    replay: list[str] = field(default_factory=list)  # the blocks a next call runs first
    generations: int = 0
    finished: bool = False
    failed: str | None = None

    @property
    def calls(self) -> int:
        return calls_in(self.turns)

    def add(self, ids: list[int], logprobs: list[float], by_tool: bool, topk: tuple[torch.Tensor, torch.Tensor] | None) -> None:
        self.ids += ids
        self.logprobs += logprobs
        self.tool_mask += [by_tool] * len(ids)
        if topk is not None:
            self.topk.append(topk)

    def episode(self) -> Episode:
        if self.text or not self.turns:
            self.turns.append(Turn(self.text))
        topk_ids = topk_logprobs = None
        if self.topk:
            topk_ids, topk_logprobs = torch.cat([ids for ids, _ in self.topk]), torch.cat([lp for _, lp in self.topk])
        rollout = Rollout(self.prompt, self.ids, self.logprobs, self.finished, topk_ids, topk_logprobs, tool_mask=self.tool_mask)
        return Episode(rollout, self.turns, self.failed)


def turn_seed(seed: int, generation: int) -> int:
    """The seed of an episode's ``generation``-th generate call (the episode's own seed for the first)."""
    if generation == 0:
        return seed
    return int.from_bytes(hashlib.blake2b(f"{seed}/{generation}".encode(), digest_size=8).digest(), "little") >> 2


class EpisodeRunner:
    """Generates a step's (or an evaluation's) episodes with ``engine``, calling ``tool`` (None:
    plain single-turn rollouts) at most ``max_calls`` times per episode."""

    def __init__(self, engine: RolloutEngine, tokenizer, tool: PythonTool | None = None, max_calls: int = 4, output_chars: int = 1024):
        self.engine, self.tokenizer, self.tool, self.max_calls, self.output_chars = engine, tokenizer, tool, max_calls, output_chars

    @property
    def instructions(self) -> str | None:
        """What the prompt must tell the model about the tool (None: no tool)."""
        return INSTRUCTIONS if self.tool is not None else None

    def __call__(self, prompts: list[list[int]], params: SamplingParams, seeds: list[int] | None = None) -> list[Episode]:
        """One episode per prompt, in order; ``seeds`` as :meth:`RolloutEngine.generate` takes them."""
        if self.tool is None:
            rollouts = self.engine.generate(prompts, params, seeds)
            texts = self.tokenizer.batch_decode([ro.response_ids for ro in rollouts], skip_special_tokens=True)
            return [Episode(ro, [Turn(text)]) for ro, text in zip(rollouts, texts)]
        seeds = seeds if seeds is not None else torch.randint(0, 2**62, (len(prompts),)).tolist()
        episodes = [_Running(list(p), s, params.max_new_tokens) for p, s in zip(prompts, seeds)]
        running = list(episodes)
        while running:
            calls = self._generate_turn(running, params)
            results = self.tool.run([Call(tuple(ep.replay), code) for ep, code in calls]) if calls else []
            for (ep, code), result in zip(calls, results):
                if result.status == "ERROR":
                    ep.failed = result.detail
                    running.remove(ep)
                else:
                    self._append_output(ep, code, result, params)
        return [ep.episode() for ep in episodes]

    def _generate_turn(self, running: list[_Running], params: SamplingParams) -> list[tuple[_Running, str]]:
        """One batched generation over the running episodes (those with calls left stop at a closing
        fence, the others only at EOS); returns the blocks to run. Episodes that ended leave ``running``."""
        k = 0 if params.greedy else params.topk_logprobs
        calls: list[tuple[_Running, str]] = []
        for may_call in (True, False):
            part = [ep for ep in running if (ep.calls < self.max_calls) == may_call]
            if not part:
                continue
            stop = (CLOSE_FENCE,) if may_call else ()
            rollouts = self.engine.generate([ep.prompt + ep.ids for ep in part], replace(params, stop=stop), [turn_seed(ep.seed, ep.generations) for ep in part], [ep.budget for ep in part])
            texts = self.tokenizer.batch_decode([ro.response_ids for ro in rollouts], skip_special_tokens=True)
            for ep, ro, text in zip(part, rollouts, texts):
                ep.generations += 1
                ep.budget -= len(ro.response_ids)
                ep.add(ro.response_ids, ro.logprobs, False, (ro.topk_ids, ro.topk_logprobs) if k else None)
                ep.text += text
                ep.finished = ro.finished
                code = block_to_run(ep.text) if ro.stopped and ep.budget > 0 else None
                if code is not None:
                    calls.append((ep, code))
                elif not ro.stopped or ep.budget <= 0:
                    running.remove(ep)  # EOS, or the budget is spent
                # else: it stopped at a fence that closes no python block, and goes on
        return calls

    def _append_output(self, ep: _Running, code: str, result: CallResult, params: SamplingParams) -> None:
        """The tool's output block into the episode's response, as tokens the policy did not generate."""
        k = 0 if params.greedy else params.topk_logprobs
        block = output_block(result.output, self.output_chars)
        ids = self.tokenizer(block, add_special_tokens=False)["input_ids"]
        no_topk = (torch.full((len(ids), k), -1, dtype=torch.int32), torch.zeros((len(ids), k))) if k else None
        ep.add(ids, [0.0] * len(ids), True, no_topk)
        ep.turns.append(Turn(ep.text, code, block, result.status))
        ep.text = ""
        if result.replayable:
            ep.replay.append(code)
