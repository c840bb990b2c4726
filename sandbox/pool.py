"""A pool of slots, each with its own uid and one environment started ahead of its job.

Requests wait in a queue for a free slot, at most ``max_wait_s``; past that they are refused
(:class:`SandboxBusy`) rather than piling up. A run takes its slot's waiting environment, and the
slot's next environment starts beside the run (off the request's path); the used environment is
killed after the result is returned.
"""

from __future__ import annotations

import asyncio
import os

from sandbox.environment import Environment, Isolation, Outcome, kill_uid
from sandbox.uids import UidLease


class SandboxBusy(RuntimeError):
    """No slot became free within the bounded wait."""


class Slot:
    """A uid and the environment started for its next run."""

    def __init__(self, isolation: Isolation, uid: int):
        self.isolation, self.uid = isolation, uid
        self.ready: Environment | None = None

    def prepare(self) -> None:
        if self.ready is None:
            self.ready = Environment(self.isolation, self.uid)

    def take(self) -> Environment:
        """The prepared environment for this run (started now if there is none). The caller starts
        the next one with :meth:`prepare` while this one works: each environment is its own user
        namespace, so the idle one does not count against the running program's process limit."""
        self.prepare()
        env, self.ready = self.ready, None
        return env

    def close(self) -> None:
        if self.ready is not None:
            self.ready.close()
            self.ready = None


class SlotPool:
    def __init__(self, isolation: Isolation, uids: UidLease | None, slots: int, max_wait_s: float = 30.0):
        """uids: the slots' leased uids when ``isolation.switch_uid``; else every slot runs under
        this process's own uid."""
        self.size = slots
        self.max_wait_s = max_wait_s
        self.uids = uids
        self.slots = [Slot(isolation, uids.uids[i] if uids else os.getuid()) for i in range(slots)]
        self._free: asyncio.Queue[Slot] | None = None
        self._closing: set[asyncio.Task] = set()

    async def start(self) -> None:
        if self.slots[0].isolation.switch_uid:
            for slot in self.slots:  # leftovers of an earlier server that died holding these uids
                kill_uid(slot.uid)
        self._free = asyncio.Queue()
        await asyncio.gather(*(asyncio.to_thread(slot.prepare) for slot in self.slots))
        for slot in self.slots:
            self._free.put_nowait(slot)

    async def run(self, job: dict, timeout_s: float) -> Outcome:
        try:
            slot = await asyncio.wait_for(self._free.get(), self.max_wait_s)
        except asyncio.TimeoutError:
            raise SandboxBusy(f"all {self.size} sandbox slots stayed busy for {self.max_wait_s:g}s: retry later, or start the server with more --slots") from None
        env = next_env = None
        try:
            env = await asyncio.to_thread(slot.take)
            next_env = asyncio.create_task(asyncio.to_thread(slot.prepare))
            return await asyncio.to_thread(env.run, job, timeout_s)
        except OSError as e:  # bubblewrap could not even be started
            return Outcome([], f"bwrap: cannot start: {e}", timed_out=False)
        finally:
            if next_env is not None:  # a failed start is retried by the slot's next take
                await asyncio.gather(next_env, return_exceptions=True)
            self._free.put_nowait(slot)
            if env is not None:  # killed and reaped after the result is on its way
                task = asyncio.get_running_loop().create_task(asyncio.to_thread(env.close))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        await asyncio.gather(*self._closing, return_exceptions=True)
        for slot in self.slots:
            await asyncio.to_thread(slot.close)
            if slot.isolation.switch_uid:
                kill_uid(slot.uid)
        if self.uids is not None:
            self.uids.release()
