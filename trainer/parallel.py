"""How the model is spread over the processes (``train.parallel``).

- ``ddp``: every process holds the whole model; the step's accumulated gradient is summed over the
  processes with one all-reduce before the optimizer step (DDP's algorithm, done once a step since
  micro-batches accumulate locally).
- ``fsdp``: FSDP2 (``fully_shard`` on every decoder layer, then on the root): parameters, gradients
  and AdamW's state are sharded over the processes; a module's full weights are gathered for its
  forward and resharded after it, and each micro-batch's gradients are reduce-scattered (FSDP
  averages them over the processes; the trainer's divisor takes the process count back out).
  Sharded modules exchange data at every call, so every process must make the same calls: the
  training forward runs once per micro-batch on full rows (no prompt sharing between calls), and
  a process with fewer micro-batches than another runs empty ones (zero loss) to keep step.
  Generation gathers the whole model once and keeps it until the step's rollouts are done.

In one process both are the plain model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch.distributed.tensor import DTensor

from trainer.logprobs import LogprobOutput, TokenBatch, response_logprobs
from trainer.world import World


class PolicyForward(torch.nn.Module):
    """The training forward as one module call, so that FSDP2's hooks on the root see it:
    log-probs of a batch's response tokens (see :func:`trainer.logprobs.response_logprobs`)."""

    def __init__(self, model: torch.nn.Module, full_rows: bool):
        super().__init__()
        self.model = model
        self.full_rows = full_rows

    def forward(self, batch: TokenBatch, temperature: float, **options) -> LogprobOutput:
        return response_logprobs(self.model, batch, temperature, full_rows=self.full_rows, **options)


class Replicated:
    """``ddp`` (and a single process): the whole model in every process."""

    lockstep = False  # processes may run different numbers of forward calls
    gradient_average = 1  # what the gradients the trainer collects are already divided by

    def __init__(self, model: torch.nn.Module, world: World):
        self.model, self.world = model, world
        self.forward = PolicyForward(model, full_rows=False)
        world.broadcast_([p.data for p in model.parameters()])  # every process starts from the same weights

    def reduce_gradients(self) -> Callable[[list[torch.Tensor]], None] | None:
        """What sums a process's accumulated gradients over the processes (in place)."""
        return self.world.all_reduce_

    @contextlib.contextmanager
    def whole_model(self) -> Iterator[torch.nn.Module]:
        """The model with all of its weights, for generation and weight export."""
        yield self.model

    def weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        """Every weight by its state-dict name, whole, one at a time (what a vLLM engine loads)."""
        for name, tensor in self.model.state_dict().items():
            yield name, tensor.detach()


class Sharded:
    """``fsdp``: FSDP2 over the world's processes."""

    lockstep = True

    def __init__(self, model: torch.nn.Module, world: World, compute_dtype: str):
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        self.model, self.world = model, world
        self.gradient_average = world.world_size  # FSDP's reduce-scatter averages (gloo has no pre-multiplied sum to avoid it)
        mesh = init_device_mesh(world.device.type, (world.world_size,))
        precision = MixedPrecisionPolicy(param_dtype=getattr(torch, compute_dtype), reduce_dtype=torch.float32) if compute_dtype != "float32" else MixedPrecisionPolicy()
        self.forward = PolicyForward(model, full_rows=True)
        self.units = [fully_shard(layer, mesh=mesh, mp_policy=precision) for layer in model.get_decoder().layers]
        self.units.append(fully_shard(self.forward, mesh=mesh, mp_policy=precision))
        # Backward prefetch in a fixed order (the root, the layers last to first, then the root again,
        # which is a no-op), never in the order FSDP saw the last forwards in: generation calls the
        # layers, not the root, as often as its data says, and an empty list would mean that order.
        layers, root = self.units[:-1], self.units[-1]
        root.set_modules_to_backward_prefetch(layers[-1:])
        for before, layer in zip([root, *layers], layers):
            layer.set_modules_to_backward_prefetch([before])
        self.reshard_after_forward = [True] * len(layers) + [False]  # FSDP's own choice: the root keeps its weights for the backward
        with torch.no_grad():  # FSDP sets itself up in the root's first forward, which must come before any unit's own
            self.forward(TokenBatch.build([[0]], [[0]], 0).to(world.device), 1.0)
        for unit in self.units:
            unit.reshard()  # the root keeps its weights gathered after a forward: shard them back before the optimizer sees them

    def reduce_gradients(self) -> None:
        return None  # each backward's reduce-scatter already brought every process's gradients in

    @contextlib.contextmanager
    def whole_model(self) -> Iterator[torch.nn.Module]:
        """Every unit's weights gathered once, kept through any number of forward calls (which then
        exchange nothing), resharded on exit. Every process enters it together."""
        for unit in self.units:
            unit.set_reshard_after_forward(False)
            unit.unshard()
        try:
            yield self.model
        finally:
            for unit, reshard in zip(self.units, self.reshard_after_forward):
                unit.reshard()
                unit.set_reshard_after_forward(reshard)

    def weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        """Every weight by its state-dict name, gathered whole one at a time (never a copy of the
        whole model); every process iterates together."""
        for name, tensor in self.model.state_dict().items():
            yield name, (tensor.full_tensor() if isinstance(tensor, DTensor) else tensor).detach()


def parallel(model: torch.nn.Module, world: World, how: str, compute_dtype: str) -> Replicated | Sharded:
    """``train.parallel`` for this world: sharding needs several processes."""
    if how == "fsdp" and world.distributed:
        return Sharded(model, world, compute_dtype)
    return Replicated(model, world)
