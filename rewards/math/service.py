"""The math verifier: final-answer extraction plus math-verify, in a pool of worker processes.

Each sample has a deadline (``deadline_s``). Inside a worker it is a soft deadline (SIGALRM), which
stops pure-Python stalls. For stalls in C code the parent enforces a hard deadline with the pool:
samples travel in small chunks (cheap IPC); a chunk that overruns is killed, its worker replaced,
and its samples re-run one per task with a hard deadline each, so the stuck sample gets TIMEOUT and
every other sample its verdict. The service keeps serving throughout.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from numbers import Number

from pebble import ProcessExpired, ProcessPool

from contract.schema import Score, Status
from rewards.math.check import ANSWER_FORMS, check_batch, warm_up
from rewards.verifier import Request, Verifier

Verdict = tuple[str, float, str]


class MathVerifier(Verifier):
    """Scores ``{"answer": LaTeX}`` references: reward 1 when the final answer is equivalent (with
    ``"form": "number"``, only when it is also a number written out, not an expression)."""

    name = "math"
    version = "2"
    reference_schema = {
        "type": "object",
        "required": ["answer"],
        "properties": {
            "answer": {"type": ["string", "number"], "description": "LaTeX, with or without $ delimiters"},
            "form": {"enum": list(ANSWER_FORMS), "description": "any (default): any equivalent answer; number: the answer must be a number written out (an integer, a decimal or \\frac{p}{q}), not an expression such as the question's own product"},
        },
    }

    def __init__(self, workers: int | None = None, deadline_s: float = 1.0, chunk_size: int = 32, grace_s: float = 0.5, check: Callable = check_batch):
        """workers: processes (default: cores); deadline_s: per-sample budget in seconds;
        chunk_size: samples per pool task; grace_s: slack before a hard kill; check: the
        module-level function the workers run (``check_batch``; tests inject faults here)."""
        if deadline_s <= 0:
            raise ValueError("deadline_s must be > 0 seconds")
        self.workers = workers or os.cpu_count() or 1
        self.deadline_s = deadline_s
        self.chunk_size = max(1, chunk_size)
        self.grace_s = grace_s
        self.check = check
        self._pool: ProcessPool | None = None

    async def start(self) -> None:
        # forkserver: gRPC does not survive fork without exec, and workers are replaced while serving.
        self._pool = ProcessPool(max_workers=self.workers, initializer=warm_up, context=multiprocessing.get_context("forkserver"))

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool.join(timeout=5)
            self._pool = None

    async def score(self, requests: list[Request]) -> list[Score]:
        if self._pool is None:
            await self.start()
        verdicts: list[Verdict | None] = [None] * len(requests)
        todo: list[tuple[int, tuple[str, str, str]]] = []
        for i, req in enumerate(requests):
            answer, form = req.reference.get("answer"), req.reference.get("form", "any")
            if isinstance(answer, bool) or not isinstance(answer, (str, Number)) or str(answer).strip() == "":
                verdicts[i] = ("INVALID", 0.0, "reference.answer is missing or empty: give the answer as a LaTeX string, e.g. {\"answer\": \"\\\\frac{1}{2}\"}")
            elif form not in ANSWER_FORMS:
                verdicts[i] = ("INVALID", 0.0, f"reference.form {form!r} is not one of {', '.join(ANSWER_FORMS)}: drop it, or use number to ask for the number itself")
            else:
                todo.append((i, (req.response, str(answer), form)))
        chunks = [todo[k : k + self.chunk_size] for k in range(0, len(todo), self.chunk_size)]
        for chunk, results in zip(chunks, await asyncio.gather(*(self._run_chunk([it for _, it in c]) for c in chunks))):
            for (i, _), verdict in zip(chunk, results):
                verdicts[i] = verdict
        return [Score(id=r.id, reward=v[1], status=Status(v[0]), detail=v[2]) for r, v in zip(requests, verdicts)]

    async def _run_chunk(self, items: list[tuple[str, str, str]]) -> list[Verdict]:
        """Fast path: the whole chunk as one task. On overrun or crash: one task per sample."""
        budget = self.deadline_s + self.grace_s + 0.1 * (len(items) - 1)
        try:
            return await self._schedule(items, budget)
        except (FutureTimeout, ProcessExpired):
            if len(items) == 1:
                return [self._timeout_verdict()]
        return list(await asyncio.gather(*(self._run_single(item) for item in items)))

    async def _run_single(self, item: tuple[str, str, str]) -> Verdict:
        try:
            return (await self._schedule([item], self.deadline_s + self.grace_s))[0]
        except (FutureTimeout, ProcessExpired):
            return self._timeout_verdict()

    def _timeout_verdict(self) -> Verdict:
        return ("TIMEOUT", 0.0, f"checking did not finish within the {self.deadline_s:g}s deadline; the worker was killed and replaced")

    async def _schedule(self, items: list[tuple[str, str, str]], timeout: float) -> list[Verdict]:
        assert self._pool is not None
        future = self._pool.schedule(self.check, args=(items, self.deadline_s), timeout=timeout)
        return await asyncio.wrap_future(future)
