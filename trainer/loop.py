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
  4. per micro-batch: one forward pass gives the log-probs and what the algorithms need (RLPT
     support, OTB's sum pi^2, DPPO's top-K); advantages from the registered estimator
     (``algorithm.advantage``); the registered loss (``algorithm.loss``); backward;
  5. divide the accumulated gradient by the step's loss divisor; clip; AdamW step.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from contract.schema import Sample
from trainer.algorithms import ADV_ESTIMATORS, POLICY_LOSSES
from trainer.algorithms.aggregation import aggregate
from trainer.algorithms.dapo import informative_groups
from trainer.algorithms.dash import keep_after_filter
from trainer.algorithms.kl import kl_estimate
from trainer.algorithms.tis import truncated_is_weight
from trainer.algorithms.types import AdvantageInputs, AdvantageOutput, DPPOParams, LossNormalizer, PolicyLossInputs, PolicyStats
from trainer.checkpoint import load_trainer_state, save_checkpoint, set_rng_state
from trainer.collect import Collector, Scorer
from trainer.config import Config
from trainer.data.sampler import EpochSampler
from trainer.evaluate import evaluate
from trainer.experience import Experience
from trainer.gradients import GradientAccumulator
from trainer.logprobs import LogprobOutput, response_logprobs
from trainer.metrics import MetricsLogger, plot_metrics, step_metrics
from trainer.rollout.base import RolloutEngine


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
    advantages: torch.Tensor | None  # [batch, seq] when known before the forward pass
    old: list[LogprobOutput] | None = None  # recomputed old policy, per micro-batch
    micro_adv: dict[int, AdvantageOutput] = field(default_factory=dict)  # estimators needing policy stats
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


class Trainer:
    def __init__(self, cfg: Config, model, tokenizer, engine: RolloutEngine, score: Scorer, train: list[Sample], test: list[Sample], ref_model=None, console: Console | None = None):
        self.cfg, self.model, self.tokenizer, self.engine, self.score = cfg, model, tokenizer, engine, score
        self.test = test
        self.ref_model = ref_model
        self.console = console or Console(stderr=True)
        self.output_dir = Path(cfg.train.output_dir)
        self.sampler = EpochSampler(train, cfg.train.seed)
        o = cfg.optim
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: min(1.0, (s + 1) / (o.warmup_steps + 1)))
        self.step = 0
        self.resumed = False
        self.collector = Collector(cfg, tokenizer, engine, score, self.sampler, ref_model)

    # ---- checkpoints -------------------------------------------------------------------------
    def restore(self, checkpoint: Path) -> None:
        """Continue exactly from a checkpoint (model weights are loaded by the caller)."""
        state = load_trainer_state(checkpoint)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.sampler.load_state(state["data"])
        set_rng_state(state["rng"])
        self.step, self.resumed = state["step"], True

    def save(self) -> Path:
        state = {"scheduler": self.scheduler.state_dict(), "data": self.sampler.state(), "config": self.cfg.model_dump(mode="json")}
        return save_checkpoint(self.output_dir, self.step, self.model, self.tokenizer, self.optimizer, state, self.cfg.train.keep_checkpoints)

    # ---- the run -----------------------------------------------------------------------------
    def fit(self) -> FitResult:
        cfg = self.cfg
        self.output_dir.mkdir(parents=True, exist_ok=True)
        logger = MetricsLogger(self.output_dir, resume_step=self.step if self.resumed else None)
        result = FitResult()
        if cfg.eval.before and not self.resumed:
            result.before = self.evaluate()
            logger.log(0, result.before)
            self.console.print(f"held-out accuracy before training: {result.before['eval/accuracy']:.1%} ({len(self.test)} problems, greedy)")
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
        final_eval: dict[str, float] | None = None
        with Progress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task("training", total=cfg.train.steps, completed=self.step)
            while self.step < cfg.train.steps:
                metrics = self.train_step()
                self.step += 1
                last = self.step == cfg.train.steps
                if (cfg.eval.every and self.step % cfg.eval.every == 0) or (last and cfg.eval.after):
                    metrics.update(self.evaluate())
                    final_eval = {k: v for k, v in metrics.items() if k.startswith("eval/")} if last else None
                logger.log(self.step, metrics)
                if last or (cfg.train.checkpoint_every and self.step % cfg.train.checkpoint_every == 0):
                    self.save()
                bar.update(task, completed=self.step, description=f"training (reward {metrics.get('reward/mean', float('nan')):.2f})")
        logger.close()
        if cfg.eval.after:
            result.after = final_eval if final_eval is not None else self.evaluate()
        result.plot = plot_metrics(self.output_dir / "metrics.jsonl", self.output_dir / "curves.png")
        return result

    def evaluate(self) -> dict[str, float]:
        e = self.cfg.eval
        return evaluate(self.engine, self.tokenizer, self.test, self.score, e.max_new_tokens, self.cfg.data.chat_template)

    # ---- one optimizer step ------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        r, alg = self.cfg.rollout, self.cfg.algorithm
        t0 = time.perf_counter()
        sums: dict[str, float] = defaultdict(float)
        prompts = self.sampler.next_batch(r.prompts_per_step)
        per_part = len(prompts) if alg.dash.preemptive else max(1, self.cfg.train.micro_batch_size // r.group_size)
        acc = GradientAccumulator(self.model.parameters())
        plans = []
        for start in range(0, len(prompts), per_part):
            exp = self.collector.collect(prompts[start : start + per_part], sums)
            if exp is None:
                continue
            t = time.perf_counter()
            plans.append(self.plan(exp))
            self.backward_pass(plans[-1], acc, sums, first=True)
            sums["time/backward"] += time.perf_counter() - t
        if not plans:
            self.console.print("[yellow]every score of this step failed (ERROR): no update[/]")
            return self._metrics(sums, acc, t0)
        self.engine.sleep()  # every generation of this step is done
        t = time.perf_counter()
        self._optimize(plans, acc, sums)
        sums["time/backward"] += time.perf_counter() - t
        self._sync_engine(sums)
        return self._metrics(sums, acc, t0)

    def learn(self, exp: Experience) -> dict[str, float]:
        """One optimizer step on a given experience (what preemptive sampling would have collected)."""
        t0 = time.perf_counter()
        sums: dict[str, float] = defaultdict(float)
        acc = GradientAccumulator(self.model.parameters())
        plan = self.plan(exp)
        self.backward_pass(plan, acc, sums, first=True)
        self._optimize([plan], acc, sums)
        self._sync_engine(sums)
        return self._metrics(sums, acc, t0)

    def _optimize(self, plans: list[Plan], acc: GradientAccumulator, sums: dict[str, float]) -> None:
        """The optimizer step on the first pass's gradient, then the further passes, each with its step."""
        total = LossNormalizer(sum(p.counts.tokens for p in plans), sum(p.counts.sequences for p in plans), self.cfg.rollout.max_new_tokens)
        self.optimizer_step(acc, total, sums)
        for _ in range(self.cfg.algorithm.updates_per_batch - 1):  # further passes (preemptive only: one plan)
            for plan in plans:
                self.backward_pass(plan, acc, sums, first=False)
            self.optimizer_step(acc, total, sums)
        self.scheduler.step()

    def _sync_engine(self, sums: dict[str, float]) -> None:
        """The rollout engine takes the new weights (in memory; nothing for ``hf``)."""
        t = time.perf_counter()
        self.engine.update_weights(self.model)
        sums["time/weight_sync"] += time.perf_counter() - t

    def _metrics(self, sums: dict[str, float], acc: GradientAccumulator, t0: float) -> dict[str, float]:
        metrics = step_metrics(sums, self.cfg.algorithm.updates_per_batch, self.scheduler.get_last_lr()[0], acc.norm_stats())
        metrics["time/step"] = time.perf_counter() - t0
        return metrics

    # ---- 3: what to train on -----------------------------------------------------------------
    def plan(self, exp: Experience) -> Plan:
        cfg, alg = self.cfg, self.cfg.algorithm
        estimator = ADV_ESTIMATORS[alg.advantage]
        advantages = None if estimator.needs_policy_stats else estimator(self._adv_inputs(exp, None)).advantages  # [batch, seq]
        keep = keep_after_filter(exp.rewards, exp.group_ids, alg.dash.filter_tau, alg.adv_eps)  # [batch]
        if alg.dapo.overlong_filter:
            keep &= exp.finished
        counts = LossNormalizer(tokens=float(exp.mask[keep].sum()), sequences=float(keep.sum()), max_len=cfg.rollout.max_new_tokens)
        # A sample whose every loss term is exactly 0 adds no gradient: skip its forward/backward.
        exact_skip = cfg.train.skip_zero_advantage and alg.kl_coef == 0 and alg.updates_per_batch == 1
        zero = self._provably_zero(exp, advantages) if exact_skip else torch.zeros(len(exp), dtype=torch.bool)
        rows = (keep & ~zero).nonzero().squeeze(1).tolist()
        plan = Plan(exp, micro_batches(exp.group_ids, exp.tokens.response_len, rows, cfg.train.micro_batch_size, whole_groups=estimator.needs_policy_stats), counts, advantages, skipped=int((keep & zero).sum()), filtered=int((~keep).sum()))
        if alg.needs_recompute:
            with torch.no_grad():
                plan.old = [self._forward(exp.slice(idx), with_entropy=False) for idx in plan.micro]
        return plan

    @staticmethod
    def _provably_zero(exp: Experience, advantages: torch.Tensor | None) -> torch.Tensor:
        """[batch] bool. Known advantages: all exactly 0. Otherwise (OTB): the group's returns are all
        0, so every baseline (a weighted mean of returns) is 0 too."""
        if advantages is not None:
            return (advantages == 0).all(-1)
        return ~informative_groups(exp.rewards, exp.group_ids) & (exp.rewards == 0)

    # ---- 4: forward, advantages, loss, backward ----------------------------------------------
    def _forward(self, sub: Experience, with_entropy: bool) -> LogprobOutput:
        alg = self.cfg.algorithm
        return response_logprobs(
            self.model,
            sub.tokens,
            self.cfg.rollout.temperature,
            with_entropy=with_entropy,
            support_ids=sub.support_ids,
            topk_ids=sub.topk_ids if alg.dppo_topk else None,
            with_sum_pi2=ADV_ESTIMATORS[alg.advantage].needs_policy_stats,
        )

    def _adv_inputs(self, exp: Experience, old: LogprobOutput | None) -> AdvantageInputs:
        alg = self.cfg.algorithm
        policy = None if old is None else PolicyStats(old.logp, old.sum_pi2, exp.rollout_logp)
        return AdvantageInputs(exp.rewards, exp.group_ids, exp.mask, alg.adv_eps, policy, alg.otb.zero_tail, alg.otb.is_cap if alg.otb.rollout_is else None)

    def backward_pass(self, plan: Plan, acc: GradientAccumulator, sums: dict[str, float], first: bool) -> None:
        cfg, alg = self.cfg, self.cfg.algorithm
        unit = LossNormalizer.unit()
        dppo = DPPOParams(alg.dppo.tv_delta, alg.dppo.kl_delta, alg.dppo.is_cap)
        for j, idx in enumerate(plan.micro):
            sub = plan.exp.slice(idx)
            m = sub.mask  # [micro, width]
            out = self._forward(sub, with_entropy=first)
            old = plan.old[j] if plan.old is not None else out.detached()  # on-policy: ratio exactly 1
            if plan.advantages is not None:
                adv = plan.advantages[idx, : m.shape[1]]  # [micro, width]
            else:
                if j not in plan.micro_adv:
                    plan.micro_adv[j] = ADV_ESTIMATORS[alg.advantage](self._adv_inputs(sub, old))
                    for key, value in plan.micro_adv[j].metrics.items():
                        sums["first:" + key] += float(value)
                adv = plan.micro_adv[j].advantages
            if alg.tis_cap > 0:  # the engine's mismatch with the trainer, corrected per token
                weight = truncated_is_weight(old.logp, sub.rollout_logp, alg.tis_cap)  # [micro, width]
                adv = adv * weight
                if first:
                    sums["first:tis/weight"] += float((weight * m).sum())
                    sums["first:tis/capped"] += float(((weight >= alg.tis_cap) * m).sum())
            anchor_logp, anchor_topk = (sub.rollout_logp, sub.topk_logprobs) if alg.dppo.anchor == "rollout" else (old.logp, old.topk_logp)
            res = POLICY_LOSSES[alg.loss](PolicyLossInputs(out.logp, old.logp, adv, m, unit, alg.loss_agg, alg.eps_low, alg.eps_high, anchor_logp, out.topk_logp, anchor_topk, dppo))
            loss = res.loss
            if alg.kl_coef > 0:
                with torch.no_grad():
                    ref_logp = response_logprobs(self.ref_model, sub.tokens, cfg.rollout.temperature, support_ids=sub.support_ids).logp  # [micro, width], on the same support
                kl_tok = kl_estimate(out.logp, ref_logp, alg.kl_estimator)  # [micro, width]
                loss = loss + alg.kl_coef * aggregate(kl_tok, m, alg.loss_agg, unit)
                sums["tok:kl"] += float((kl_tok.detach() * m).sum())
            loss.backward()
            own = LossNormalizer(float(m.sum()), float(len(idx)), cfg.rollout.max_new_tokens)
            acc.collect(own.divisor(alg.loss_agg))
            sums["loss_sum"] += float(loss.detach())
            sums["tokens_trained"] += float(m.sum())
            for key, value in res.metrics.items():
                sums["tok:" + key] += float(value)
            if first:
                sums["sequences_trained"] += len(idx)
                sums["first:entropy"] += float((out.entropy * m).sum())
                sums["first:logp_mismatch"] += float(((out.logp.detach() - sub.rollout_logp).abs() * m).sum())
                if out.in_topk is not None:
                    sums["first:rlpt/coverage"] += float((out.in_topk * m).sum())
                    sums["first:rlpt/support_mass"] += float((out.support_mass * m).sum())
        if first:
            sums["train/sequences_skipped"] += plan.skipped
            sums["dash/filtered"] += plan.filtered

    # ---- 5: the optimizer step ---------------------------------------------------------------
    def optimizer_step(self, acc: GradientAccumulator, total: LossNormalizer, sums: dict[str, float]) -> None:
        divisor = total.divisor(self.cfg.algorithm.loss_agg)
        acc.finish(divisor)
        clip = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip > 0 else math.inf
        sums["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip))
        sums["loss"] += sums.pop("loss_sum", 0.0) / divisor
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
