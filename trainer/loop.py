"""The RL loop: sample prompts, generate groups, score over gRPC, compute advantages, update.

One optimizer step, top-down:
  1. take ``prompts_per_step`` prompts; generate ``group_size`` responses each, in one batched call
     (DASH preemptive sampling) or one micro-batch of whole groups at a time;
  2. score every response with the verifier its sample names (over gRPC); drop ERROR scores
     (infrastructure failures are counted, never scored 0); shape rewards (DAPO overlong);
     with DAPO dynamic sampling, sample more prompts until enough groups carry a signal;
  3. choose the samples to train on before any forward pass: DASH's filter and DAPO's overlong
     filter drop samples (and leave the normalizer), samples whose loss is provably 0 are skipped
     (and stay in it);
  4. per micro-batch: one forward pass gives the log-probs and what the step's algorithms declare
     they need (a support to renormalize on, sum pi^2, log-probs at the rollout's top-K ids);
     advantages from the registered estimator (``algorithm.advantage``); the active transforms
     (which may reweight advantages, add a loss term, report metrics); the registered loss
     (``algorithm.loss``); backward;
  5. divide the accumulated gradient by the step's loss divisor; clip; AdamW step.

The loop knows algorithms only through the registries and their declared needs
(:mod:`trainer.algorithms`); every statistic it and they report declares how it reduces.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch.distributed.tensor import DTensor

from contract.schema import Sample
from trainer.algorithms.dash import keep_after_filter
from trainer.algorithms.reductions import Elapsed, First, Last, Max, Mean, StepStats, Sum
from trainer.algorithms.registry import ADVANTAGE, LOSS, TRANSFORM, resolve
from trainer.algorithms.types import AdvantageInputs, AdvantageOutput, LossNormalizer, MicroBatch, PolicyLossInputs, PolicyStats, TopKLogprobs
from trainer.checkpoint import bytes_to_write, load_optimizer, load_trainer_state, new_checkpoint_dir, publish_checkpoint, save_optimizer, set_rng_state
from trainer.collect import Collector, Scorer
from trainer.config import Config
from trainer.data.sampler import EpochSampler
from trainer.evaluate import evaluate
from trainer.experience import Experience
from trainer.gradients import GradientAccumulator
from trainer.logprobs import LogprobOutput, TokenBatch, response_logprobs
from trainer.metrics import MetricsLogger, plot_metrics
from trainer.model import autocast
from trainer.parallel import parallel
from trainer.rollout.base import RolloutEngine
from trainer.rollout_log import RolloutLog, episodes_markdown, examples, in_group_order, rollout_markdown, rollout_table
from trainer.runs import OutOfSpace
from trainer.tools.episodes import EpisodeRunner
from trainer.tools.python import PythonTool
from trainer.world import World


@dataclass
class FitResult:
    before: dict[str, float] | None = None  # held-out metrics before training (eval/...)
    after: dict[str, float] | None = None  # and after the last step
    plot: Path | None = None  # curves.png


@dataclass
class Plan:
    """How one experience is trained on: chosen before any forward pass."""

    exp: Experience
    micro: list[torch.Tensor]  # row indices of each micro-batch
    counts: LossNormalizer  # the kept samples' counts (the loss normalizer's share of this experience)
    advantages: AdvantageOutput | None  # [batch, seq] when known before the forward pass
    old: list[LogprobOutput] = field(default_factory=list)  # the first pass's log-probs per micro-batch: the old policy of further passes
    micro_adv: dict[int, AdvantageOutput] = field(default_factory=dict)  # estimators computed after the forward
    skipped: int = 0  # samples whose loss is provably 0 (no forward or backward)
    filtered: int = 0  # samples dropped by DASH's or the overlong filter


def micro_batches(group_ids: torch.Tensor, lengths: torch.Tensor, rows: list[int], size: int, whole_groups: bool) -> list[torch.Tensor]:
    """The ``rows`` to train on, as micro-batches of up to ``size`` row indices: a group's rows
    together (they share the prompt's forward pass), groups of similar response lengths together
    (``lengths``: [batch]). A group larger than ``size`` is split, unless ``whole_groups`` (then its
    micro-batch may exceed the size)."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i in rows:
        groups[int(group_ids[i])].append(i)
    step = {g: len(members) if whole_groups else size for g, members in groups.items()}
    units = [members[k : k + step[g]] for g, members in groups.items() for k in range(0, len(members), step[g])]
    micro: list[list[int]] = []
    for members in sorted(units, key=lambda members: -max(int(lengths[i]) for i in members)):
        if micro and len(micro[-1]) + len(members) <= size:
            micro[-1].extend(members)
        else:
            micro.append(list(members))
    return [torch.tensor(m) for m in micro]


def note_advantages(records: list[dict] | None, rows: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor) -> None:
    """Write each row's advantage, the mean over its response tokens, into its rollout-log entry.
    ``rows``: [n] indices into ``records``; ``advantages``, ``mask``: [n, seq]."""
    if records is None:
        return
    per_row = (advantages * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # [n]
    for i, value in zip(rows.tolist(), per_row.tolist()):
        records[i]["advantage"] = round(value, 6)


def tensor_mb(tensors) -> float:
    """MiB that these tensors hold in this process (a DTensor's local shard)."""
    local = (t.to_local() if isinstance(t, DTensor) else t for t in tensors)
    return sum(t.numel() * t.element_size() for t in local) / 2**20


class Trainer:
    def __init__(self, cfg: Config, model, tokenizer, engine: RolloutEngine, score: Scorer, train: list[Sample], test: list[Sample], ref_model=None, console: Console | None = None, world: World | None = None, run_dir: Path | None = None, tool: PythonTool | None = None):
        """``model`` (and ``ref_model``) already on ``world.device``; ``run_dir``: the folder this run
        writes (default: ``train.output_dir`` itself; ``verity train`` gives a new one per run);
        ``tool``: the python tool of ``rollout.tools`` (None: single-turn rollouts)."""
        self.cfg, self.model, self.tokenizer, self.engine, self.score = cfg, model, tokenizer, engine, score
        self.world = world or World(device=model.device)
        self.autocast = autocast(cfg.model.dtype, self.world.device) or contextlib.nullcontext
        self.test = test
        self.ref_model = ref_model
        self.console = console or Console(stderr=True)
        self.run_dir = Path(run_dir or cfg.train.output_dir)
        self.sampler = EpochSampler(train, cfg.train.seed)
        self.parallel = parallel(model, self.world, cfg.train.parallel, cfg.model.dtype)  # before the optimizer: it may shard the parameters
        o, alg = cfg.optim, cfg.algorithm
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: min(1.0, (s + 1) / (o.warmup_steps + 1)))
        self.step = 0
        self.resumed = False
        # the step's algorithms, each with its parameters, and what they need of the loop
        self.estimator, self.loss = resolve(ADVANTAGE, alg.advantage), resolve(LOSS, alg.loss)
        self.estimator_params, self.loss_params = alg.params(self.estimator), alg.params(self.loss)
        self.transforms = [(reg, params) for _, reg, params in alg.parts() if reg.kind == TRANSFORM]
        self.needs = alg.needs()
        self.advantage_after_forward = self.estimator.needs(self.estimator_params).policy_stats
        self.runner = EpisodeRunner(engine, tokenizer, tool, cfg.rollout.max_tool_calls, cfg.rollout.tool_output_chars)
        self.collector = Collector(cfg, self.runner, score, self.sampler, self.needs, ref_model, self.world)
        eos = tokenizer.eos_token_id
        self._empty = TokenBatch.build([[eos]], [[eos]], tokenizer.pad_token_id).to(self.world.device)  # for _keep_step

    # ---- checkpoints -------------------------------------------------------------------------
    def restore(self, checkpoint: Path) -> None:
        """Continue exactly from a checkpoint (model weights are loaded by the caller)."""
        state = load_trainer_state(checkpoint)
        load_optimizer(self.parallel.forward, self.optimizer, checkpoint)
        self.scheduler.load_state_dict(state["scheduler"])
        self.sampler.load_state(state["data"])
        set_rng_state(state["rng"])
        self.step, self.resumed = state["step"], True

    def save(self) -> Path | None:
        """Every process writes its part of the optimizer state; the main process then writes the
        whole weights as a Hugging Face folder (gathered from the shards under fsdp) and the rest,
        and publishes the checkpoint; the others wait until it is complete."""
        need = bytes_to_write(self.model, self.optimizer, self.world.is_main)
        free = shutil.disk_usage(self.run_dir).free
        if any(self.world.gather(need > free)):  # checked before writing: a half-written checkpoint helps no one
            raise OutOfSpace.before_checkpoint(self.run_dir, self.step, need, free)
        tmp = self.world.gather(new_checkpoint_dir(self.run_dir) if self.world.is_main else None)[0]
        try:
            save_optimizer(self.parallel.forward, self.optimizer, tmp)
            weights = {name: t.cpu() for name, t in self.parallel.weights()} if self.parallel.lockstep else None
            path = None
            if self.world.is_main:
                state = {"scheduler": self.scheduler.state_dict(), "data": self.sampler.state(), "config": self.cfg.model_dump(mode="json")}
                path = publish_checkpoint(tmp, self.run_dir, self.step, self.model, self.tokenizer, state, self.cfg.train.keep_checkpoints, weights)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # a full disk: give back what the partial write took
            raise
        self.world.barrier()
        return path

    # ---- the run -----------------------------------------------------------------------------
    def fit(self) -> FitResult:
        """Train ``train.steps`` steps; only the main process logs, draws and shows progress."""
        cfg, main = self.cfg, self.world.is_main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        resume_step = self.step if self.resumed else None
        logger = MetricsLogger(self.run_dir, resume_step) if main else None
        rollout_log = RolloutLog(self.run_dir, cfg.log.rollouts_per_step, resume_step) if main else None
        result = FitResult()
        if cfg.eval.before and not self.resumed:
            result.before = self.evaluate()
            if logger:
                logger.log(0, result.before)
            self.print(f"held-out accuracy before training: {result.before['eval/accuracy']:.1%} ({len(self.test)} problems, greedy)")
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
        final_eval: dict[str, float] | None = None
        with Progress(*columns, console=self.console, transient=False, disable=not main) as bar:
            task = bar.add_task("training", total=cfg.train.steps, completed=self.step)
            while self.step < cfg.train.steps:
                metrics = self.train_step()
                self.step += 1
                last = self.step == cfg.train.steps
                if (cfg.eval.every and self.step % cfg.eval.every == 0) or (last and cfg.eval.after):
                    metrics.update(self.evaluate())
                    final_eval = {k: v for k, v in metrics.items() if k.startswith("eval/")} if last else None
                if logger:
                    logger.log(self.step, metrics)
                self._log_rollouts(rollout_log, logger)
                if last or (cfg.train.checkpoint_every and self.step % cfg.train.checkpoint_every == 0):
                    self.save()
                bar.update(task, completed=self.step, description=f"training (reward {metrics.get('reward/mean', float('nan')):.2f})")
        if cfg.eval.after:
            result.after = final_eval if final_eval is not None else self.evaluate()
        if logger:
            logger.close()
            result.plot = plot_metrics(self.run_dir / "metrics.jsonl", self.run_dir / "curves.png")
        return result

    def _log_rollouts(self, rollout_log: RolloutLog | None, logger: MetricsLogger | None) -> None:
        """The step's rollouts from every process into the run's rollout log (main process), a few
        of them to TensorBoard, and as a table on the terminal every ``log.show_rollouts_every``."""
        parts = self.world.gather(self.collector.records)
        if rollout_log is None or logger is None:
            return
        records = in_group_order(parts)
        rollout_log.write(records)
        shown = examples(records, self.cfg.log.show_rollouts)
        logger.writer.add_text("rollouts", rollout_markdown(shown), self.step)
        if any(r.get("turns") for r in shown):
            logger.writer.add_text("episodes", episodes_markdown(shown), self.step)
        every = self.cfg.log.show_rollouts_every
        if every and self.step % every == 0 and shown:
            self.console.print(rollout_table(shown, self.step, len(records)))

    def print(self, text: str) -> None:
        """A line on the console, from the main process only."""
        if self.world.is_main:
            self.console.print(text)

    def evaluate(self) -> dict[str, float]:
        """Held-out metrics: each process evaluates its share of the held-out set, and the shares
        add up."""
        e, mine = self.cfg.eval, self.world.share(len(self.test))
        t = time.perf_counter()
        with self.parallel.whole_model():
            stats = evaluate(self.runner, self.test[mine.start : mine.stop], self.score, e.max_new_tokens, self.cfg.data.chat_template)
        stats.add("time/eval", Elapsed(time.perf_counter() - t))
        return self.world.reduce_stats(stats).values()

    # ---- one optimizer step ------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        r, alg = self.cfg.rollout, self.cfg.algorithm
        t0 = time.perf_counter()
        stats = StepStats()
        self.collector.begin_step()
        prompts = self.sampler.next_batch(r.prompts_per_step)  # the same on every process; each takes its share
        per_part = len(prompts) if alg.dash.preemptive else max(1, self.cfg.train.micro_batch_size // r.group_size) * self.world.world_size
        acc = GradientAccumulator(self.model.parameters())
        plans: list[Plan | None] = []  # one per part, None where this process has nothing to train
        first_loss = 0.0
        for start in range(0, len(prompts), per_part):
            with self.parallel.whole_model():
                exp = self.collector.collect(prompts[start : start + per_part], stats, self.step, group_offset=start)
            t = time.perf_counter()
            plans.append(self.plan(exp) if exp is not None else None)
            first_loss += self.backward_pass(plans[-1], acc, stats, first=True)
            stats.add("time/backward", Elapsed(time.perf_counter() - t))
        if not self.world.sum([sum(p is not None for p in plans)])[0]:
            self.print("[yellow]every score of this step failed (ERROR): no update[/]")
            return self._metrics(stats, acc, t0)
        self.engine.sleep()  # every generation of this step is done
        t = time.perf_counter()
        self._optimize(plans, acc, stats, first_loss)
        stats.add("time/backward", Elapsed(time.perf_counter() - t))
        self._sync_engine(stats)
        return self._metrics(stats, acc, t0)

    def learn(self, exp: Experience) -> dict[str, float]:
        """One optimizer step on a given experience (what preemptive sampling would have collected)."""
        t0 = time.perf_counter()
        exp = exp.to(self.world.device)
        stats = StepStats()
        acc = GradientAccumulator(self.model.parameters())
        plan = self.plan(exp)
        first_loss = self.backward_pass(plan, acc, stats, first=True)
        self._optimize([plan], acc, stats, first_loss)
        self._sync_engine(stats)
        return self._metrics(stats, acc, t0)

    def _optimize(self, plans: list[Plan | None], acc: GradientAccumulator, stats: StepStats, first_loss: float) -> None:
        """The optimizer step on the first pass's gradient, then the further passes, each with its
        step. The loss normalizer counts the kept samples of every process."""
        kept = [p for p in plans if p is not None]
        tokens, sequences = self.world.sum([sum(p.counts.tokens for p in kept), sum(p.counts.sequences for p in kept)])
        total = LossNormalizer(tokens, sequences, self.cfg.rollout.max_new_tokens)
        self.optimizer_step(acc, total, stats, first_loss)
        for _ in range(self.cfg.algorithm.updates_per_batch - 1):  # further passes (preemptive only: one plan)
            pass_loss = sum(self.backward_pass(plan, acc, stats, first=False) for plan in plans)
            self.optimizer_step(acc, total, stats, pass_loss)
        self.scheduler.step()

    def _sync_engine(self, stats: StepStats) -> None:
        """The rollout engine takes the new weights (in memory, one parameter at a time; nothing
        for ``hf``, which samples with the trained model itself)."""
        t = time.perf_counter()
        self.engine.update_weights(self.parallel.weights())
        stats.add("time/weight_sync", Elapsed(time.perf_counter() - t))

    def _metrics(self, stats: StepStats, acc: GradientAccumulator, t0: float) -> dict[str, float]:
        """The step's statistics over every process, by their declared reductions."""
        stats.add("lr", First(self.scheduler.get_last_lr()[0]))
        stats.add("memory/parameters_mb", Max(tensor_mb(self.model.parameters())))  # the largest process's; gradients take as much
        stats.add("memory/optimizer_mb", Max(tensor_mb(t for state in self.optimizer.state.values() for t in state.values() if isinstance(t, torch.Tensor))))
        stats.update(acc.norm_stats())
        stats.add("time/step", Elapsed(time.perf_counter() - t0))
        return self.world.reduce_stats(stats).values()

    # ---- 3: what to train on -----------------------------------------------------------------
    def plan(self, exp: Experience) -> Plan:
        cfg, alg = self.cfg, self.cfg.algorithm
        advantages = None if self.advantage_after_forward else self.estimator(AdvantageInputs(rewards=exp.rewards, group_ids=exp.group_ids, mask=exp.mask, eps=alg.adv_eps), self.estimator_params)
        keep = keep_after_filter(exp.rewards, exp.group_ids, alg.dash.filter_tau, alg.adv_eps)  # [batch]
        if alg.dapo.overlong_filter:
            keep &= exp.finished
        counts = LossNormalizer(tokens=float(exp.mask[keep].sum()), sequences=float(keep.sum()), max_len=cfg.rollout.max_new_tokens)
        # A sample whose every loss term is exactly 0 adds no gradient: skip its forward/backward.
        exact_skip = cfg.train.skip_zero_advantage and not self.needs.trains_zero_advantage and alg.updates_per_batch == 1
        zero = self._provably_zero(exp, advantages) if exact_skip else torch.zeros(len(exp), dtype=torch.bool, device=exp.rewards.device)
        rows = (keep & ~zero).nonzero().squeeze(1).tolist()
        if advantages is not None:
            note_advantages(exp.records, torch.arange(len(exp)), advantages.advantages, exp.mask)
        else:
            note_advantages(exp.records, zero.nonzero().squeeze(1), torch.zeros_like(exp.mask[zero]), exp.mask[zero])
        return Plan(exp, micro_batches(exp.group_ids, exp.tokens.response_len, rows, cfg.train.micro_batch_size, whole_groups=self.needs.whole_groups), counts, advantages, skipped=int((keep & zero).sum()), filtered=int((~keep).sum()))

    def _provably_zero(self, exp: Experience, advantages: AdvantageOutput | None) -> torch.Tensor:
        """[batch] bool: samples whose advantages are all exactly 0. Known advantages say so
        themselves; an estimator computed after the forward pass says which it can tell before."""
        if advantages is not None:
            return (advantages.advantages == 0).all(-1)
        if self.estimator.zero_before_forward is not None:
            return self.estimator.zero_before_forward(exp.rewards, exp.group_ids)
        return torch.zeros(len(exp), dtype=torch.bool, device=exp.rewards.device)

    # ---- 4: forward, advantages, transforms, loss, backward ----------------------------------
    def _forward(self, sub: Experience, with_entropy: bool) -> LogprobOutput:
        with self.autocast():
            return self.parallel.forward(
                sub.tokens,
                self.cfg.rollout.temperature,
                with_entropy=with_entropy,
                support_ids=sub.support_ids,
                topk_ids=sub.topk_ids if self.needs.rollout_topk else None,
                with_sum_pi2=self.needs.policy_stats,
            )

    def _keep_step(self, acc: GradientAccumulator) -> None:
        """An empty micro-batch (zero loss): under fsdp, a process with fewer micro-batches than
        another runs these so that every process makes the same sharded calls; its backward still
        brings the other processes' gradients in."""
        with self.autocast():
            out = self.parallel.forward(self._empty, self.cfg.rollout.temperature)
        (out.logp.sum() * 0.0).backward()
        acc.collect(0.0, self.world.sum)  # its own divisor is 0: it brings only the others' gradients

    @torch.no_grad()
    def _reference_logp(self, sub: Experience) -> torch.Tensor:
        """[micro, width] log-probs of the frozen initial policy, on the same support as the policy's."""
        with self.autocast():
            return response_logprobs(self.ref_model, sub.tokens, self.cfg.rollout.temperature, support_ids=sub.support_ids).logp

    def _advantages(self, plan: Plan, j: int, sub: Experience, old: LogprobOutput, stats: StepStats) -> torch.Tensor:
        """[micro, width] advantages of micro-batch ``j``: sliced from the plan's, or computed from
        the old policy's statistics (once per micro-batch; its metrics counted then)."""
        if plan.advantages is not None:
            return plan.advantages.advantages[plan.micro[j], : sub.mask.shape[1]]
        if j not in plan.micro_adv:
            policy = PolicyStats(logp=old.logp, sum_pi2=old.sum_pi2, rollout_logp=sub.rollout_logp)
            plan.micro_adv[j] = self.estimator(AdvantageInputs(rewards=sub.rewards, group_ids=sub.group_ids, mask=sub.mask, eps=self.cfg.algorithm.adv_eps, policy=policy), self.estimator_params)
            stats.update(plan.micro_adv[j].metrics)
            note_advantages(sub.records, torch.arange(len(sub)), plan.micro_adv[j].advantages, sub.mask)
        return plan.micro_adv[j].advantages

    def backward_pass(self, plan: Plan | None, acc: GradientAccumulator, stats: StepStats, first: bool) -> float:
        """One pass of forward and backward over the plan's micro-batches, the gradients collected in
        ``acc``; returns the sum of the micro-batches' un-normalized losses. The first pass keeps
        each micro-batch's log-probs as the old policy of the further passes (on policy, the ratio
        is exactly 1)."""
        cfg, alg, needs = self.cfg, self.cfg.algorithm, self.needs
        unit = LossNormalizer.unit()
        loss_sum = 0.0
        micro = plan.micro if plan is not None else []
        if self.parallel.lockstep:
            for _ in range(int(self.world.max([len(micro)])[0]) - len(micro)):
                self._keep_step(acc)
        if plan is None:
            return loss_sum
        if first and plan.advantages is not None:
            stats.update(plan.advantages.metrics)
        if first:
            plan.old = []
        for j, idx in enumerate(micro):
            sub = plan.exp.slice(idx)
            m = sub.mask  # [micro, width]
            out = self._forward(sub, with_entropy=first)
            if first:
                plan.old.append(out.detached())
            old = plan.old[j]
            mb = MicroBatch(
                logp=out.logp, old_logp=old.logp, rollout_logp=sub.rollout_logp, advantages=self._advantages(plan, j, sub, old, stats), mask=m,
                normalizer=unit, agg=alg.loss_agg, first_pass=first, in_topk=out.in_topk, support_mass=out.support_mass,
                ref_logp=self._reference_logp(sub) if needs.reference else None,
            )  # fmt: skip
            extra_losses = []
            for transform, params in self.transforms:
                res = transform(mb, params)
                if res.advantages is not None:
                    mb = replace(mb, advantages=res.advantages)
                if res.loss is not None:
                    extra_losses.append(res.loss)
                stats.update(res.metrics)
            inputs = PolicyLossInputs(
                logp=out.logp, old_logp=old.logp, advantages=mb.advantages, mask=m, normalizer=unit, agg=alg.loss_agg,
                rollout_logp=sub.rollout_logp if needs.rollout_policy else None,
                topk=TopKLogprobs(rollout=sub.topk_logprobs, old=old.topk_logp, current=out.topk_logp) if needs.rollout_topk else None,
            )  # fmt: skip
            res = self.loss(inputs, self.loss_params)
            loss = res.loss
            for extra in extra_losses:
                loss = loss + extra
            loss.backward()
            own = LossNormalizer(float(m.sum()), float(len(idx)), cfg.rollout.max_new_tokens).divisor(alg.loss_agg)
            acc.collect(own / self.parallel.gradient_average, self.world.sum if self.parallel.lockstep else None)
            loss_sum += float(loss.detach())
            stats.update(res.metrics)
            if first:
                tokens = m.sum()
                stats.add("entropy", Mean((out.entropy * m).sum(), tokens))
                stats.add("logp_mismatch", Mean(((out.logp.detach() - sub.rollout_logp).abs() * m).sum(), tokens))
        if first:
            stats.add("train/sequences_trained", Sum(sum(len(idx) for idx in plan.micro)))
            stats.add("train/sequences_skipped", Sum(plan.skipped))
            stats.add("dash/filtered_fraction", Mean(plan.filtered, len(plan.exp)))
        return loss_sum

    # ---- 5: the optimizer step ---------------------------------------------------------------
    def optimizer_step(self, acc: GradientAccumulator, total: LossNormalizer, stats: StepStats, loss_sum: float) -> None:
        """Sum the accumulated gradient over the processes, divide it by the step's divisor, clip
        it, and step; ``loss_sum``: this process's un-normalized loss of the pass. Every process
        then holds the same gradient and takes the same step."""
        divisor = total.divisor(self.cfg.algorithm.loss_agg)
        acc.finish(divisor / self.parallel.gradient_average, self.parallel.reduce_gradients())
        clip = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        stats.add("grad_norm", Last(norm.full_tensor() if isinstance(norm, DTensor) else norm))
        stats.add("loss", Sum(loss_sum / divisor / self.cfg.algorithm.updates_per_batch))  # the processes' shares add up to the step loss
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
