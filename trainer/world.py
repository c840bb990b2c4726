"""Where the trainer runs: its device, its rank among the job's processes, and the reductions
across them.

One process (``verity train``) is a world of one. Under torchrun (``torchrun --nproc_per_node N
--no-python verity train ...``) every process reads its rank from the environment torchrun sets
(RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE), joins the process group (gloo on CPU, NCCL on
CUDA) and trains its share of each step's groups; what the step adds up (the loss normalizer, the
gradient, the step's statistics) is reduced across processes here, each statistic by the rule it
declares (:mod:`trainer.algorithms.reductions`).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from trainer.algorithms.reductions import StepStats


def resolve_device(setting: str, local_rank: int = 0) -> torch.device:
    """``auto``: this process's CUDA device when CUDA is present, else the CPU; ``cpu``; ``cuda``
    (an error naming the fix when there is none)."""
    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device=cuda but torch sees no CUDA device: install a CUDA build of torch, or set train.device=cpu")
    if setting == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def attempt_store(timeout: datetime.timedelta) -> dist.Store:
    """The rendezvous store of this attempt of the job: torchrun's store under a prefix of its own
    per restart (``TORCHELASTIC_RESTART_COUNT``), so that a restarted job never reads the
    addresses its killed processes published (pytorch issue 135712)."""
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False, timeout=timeout, use_libuv=True)
    return dist.PrefixStore(f"verity/attempt-{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


@dataclass(frozen=True)
class World:
    """This process's place in the job; a world of one by default."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """The process that logs, plots, shows the progress bar and writes checkpoints' extras."""
        return self.rank == 0

    @property
    def is_local_main(self) -> bool:
        """The first process of its machine (which starts the machine's local services)."""
        return self.local_rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @staticmethod
    def start(device: str = "auto", timeout_s: float = 1800.0) -> World:
        """This process's world, from torchrun's environment; joins the process group when there
        are several processes."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size == 1:
            return World(device=resolve_device(device))
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        resolved = resolve_device(device, local_rank)
        if resolved.type == "cuda":
            torch.cuda.set_device(resolved)
        if not dist.is_initialized():
            timeout = datetime.timedelta(seconds=timeout_s)
            dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo", store=attempt_store(timeout), rank=rank, world_size=world_size, timeout=timeout)
        return World(rank, world_size, local_rank, int(os.environ.get("LOCAL_WORLD_SIZE", "1")), resolved)

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()

    # ---- what each process takes ---------------------------------------------------------------
    def share(self, n: int) -> range:
        """This process's contiguous share of ``n`` items (the first ``n % world_size`` processes
        take one more): concatenated in rank order, the shares are ``range(n)``."""
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return range(start, start + base + (self.rank < extra))

    # ---- reductions ----------------------------------------------------------------------------
    def sum(self, values: Sequence[float]) -> list[float]:
        """Each value summed over the processes (in float64)."""
        return self._all_reduce_floats(values, dist.ReduceOp.SUM)

    def max(self, values: Sequence[float]) -> list[float]:
        """Each value's largest over the processes."""
        return self._all_reduce_floats(values, dist.ReduceOp.MAX)

    def _all_reduce_floats(self, values: Sequence[float], op) -> list[float]:
        if not self.distributed:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=op)
        return t.tolist()

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value`` (any picklable object), in rank order."""
        if not self.distributed:
            return [value]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def all_reduce_(self, tensors: list[torch.Tensor]) -> None:
        """Sum each tensor over the processes, in place (one flat buffer per call)."""
        if not self.distributed or not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        for t, part in zip(tensors, flat.split([t.numel() for t in tensors])):
            t.copy_(part.view_as(t))

    def broadcast_(self, tensors: list[torch.Tensor]) -> None:
        """Rank 0's values of ``tensors``, in place on every process."""
        if self.distributed:
            for t in tensors:
                dist.broadcast(t, src=0)

    def reduce_stats(self, stats: StepStats) -> StepStats:
        """The step's statistics over every process, each merged by its declared rule (first and
        last in rank order)."""
        if not self.distributed:
            return stats
        merged = StepStats()
        for part in self.gather(stats.stats):
            merged.update(part, across=True)
        return merged

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()
