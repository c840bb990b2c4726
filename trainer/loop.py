"""The RL loop: sample prompts, generate groups, score over gRPC, compute advantages, update.

One optimizer step, top-down:
  1. take ``prompts_per_step`` prompts; generate ``group_size`` responses each in one batched call;
  2. score every response with the verifier its sample names (over gRPC); drop ERROR scores
     (infrastructure failures are counted, never scored 0);
  3. advantages from the registered estimator (``algorithm.advantage``), per group;
  4. policy loss from the registered loss (``algorithm.loss``) over micro-batches, gradients
     accumulated so that the sum equals the loss of the whole batch; clip; AdamW step.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rewards.schema import Sample, Score, Status
from trainer.algorithms import ADV_ESTIMATORS, POLICY_LOSSES
from trainer.algorithms.aggregation import aggregate
from trainer.algorithms.kl import kl_estimate
from trainer.algorithms.types import AdvantageInputs, LossNormalizer, PolicyLossInputs
from trainer.checkpoint import load_trainer_state, save_checkpoint, set_rng_state
from trainer.config import Config
from trainer.data.sampler import EpochSampler
from trainer.evaluate import evaluate
from trainer.logprobs import TokenBatch, response_logprobs
from trainer.metrics import MetricsLogger, plot_metrics
from trainer.rollout.base import RolloutEngine, SamplingParams
from trainer.scoring import encode_prompt, with_response

Scorer = Callable[[list[Sample]], list[Score]]


@dataclass
class FitResult:
    before: dict[str, float] | None = None  # held-out metrics before training (eval/...)
    after: dict[str, float] | None = None  # and after the last step
    plot: Path | None = None  # curves.png


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
        self._prompt_cache: dict[str, list[int]] = {}

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
        r = self.cfg.rollout
        t0 = time.perf_counter()
        prompts = self.sampler.next_batch(r.prompts_per_step)
        flat = [self._encode(p) for p in prompts for _ in range(r.group_size)]
        rollouts = self.engine.generate(flat, SamplingParams(r.max_new_tokens, r.temperature, r.top_k, r.top_p))
        t_gen = time.perf_counter()

        texts = self.tokenizer.batch_decode([ro.response_ids for ro in rollouts], skip_special_tokens=True)
        samples = [with_response(prompts[i // r.group_size], text, f"#{i % r.group_size}") for i, text in enumerate(texts)]
        scores = self.score(samples)
        t_score = time.perf_counter()

        counts = Counter(s.status for s in scores)
        keep = [i for i, s in enumerate(scores) if s.status != Status.ERROR]
        metrics: dict[str, float] = {f"scoring/{st.value.lower()}": float(counts[st]) for st in Status}
        metrics["scoring/dropped_error"] = float(counts[Status.ERROR])
        metrics["tokens/generated"] = float(sum(len(ro.response_ids) for ro in rollouts))
        if keep:
            metrics.update(self._update([rollouts[i] for i in keep], [scores[i] for i in keep], [i // r.group_size for i in keep]))
        else:
            self.console.print("[yellow]every score of this step failed (ERROR): no update[/]")
        t_end = time.perf_counter()
        metrics.update({"time/generate": t_gen - t0, "time/score": t_score - t_gen, "time/train": t_end - t_score, "time/step": t_end - t0, "lr": self.scheduler.get_last_lr()[0]})
        return metrics

    def _encode(self, sample: Sample) -> list[int]:
        if sample.id not in self._prompt_cache:
            self._prompt_cache[sample.id] = encode_prompt(self.tokenizer, sample, self.cfg.data.chat_template)
        return self._prompt_cache[sample.id]

    def _update(self, rollouts, scores: list[Score], groups: list[int]) -> dict[str, float]:
        cfg, alg = self.cfg, self.cfg.algorithm
        rewards = torch.tensor([s.reward for s in scores], dtype=torch.float32)  # [batch]
        batch = TokenBatch.build([ro.prompt_ids for ro in rollouts], [ro.response_ids for ro in rollouts], self.tokenizer.pad_token_id)
        mask = batch.response_mask()  # [batch, max_response]
        rollout_logp = torch.zeros_like(mask)  # [batch, max_response]
        for i, ro in enumerate(rollouts):
            rollout_logp[i, : len(ro.logprobs)] = torch.tensor(ro.logprobs)
        adv = ADV_ESTIMATORS[alg.advantage](AdvantageInputs(rewards, torch.tensor(groups), mask, alg.adv_eps))  # [batch, max_response]
        norm = LossNormalizer(tokens=float(mask.sum()), sequences=float(len(rollouts)), max_len=cfg.rollout.max_new_tokens)

        # Sequences whose every loss term is 0 contribute no gradient: skip their forward/backward.
        exact_skip = cfg.train.skip_zero_advantage and alg.kl_coef == 0 and alg.updates_per_batch == 1
        active = [i for i in range(len(rollouts)) if not exact_skip or bool((adv[i] != 0).any())]
        active.sort(key=lambda i: -int(batch.response_len[i]))  # similar lengths share a micro-batch
        micro = [torch.tensor(active[k : k + cfg.train.micro_batch_size]) for k in range(0, len(active), cfg.train.micro_batch_size)]
        old = self._old_logprobs(batch, micro) if alg.updates_per_batch > 1 else None

        sums: dict[str, float] = defaultdict(float)
        grad_norm = 0.0
        for update in range(alg.updates_per_batch):
            self.optimizer.zero_grad(set_to_none=False)
            for j, idx in enumerate(micro):
                sub = batch.slice(idx)
                width = sub.max_response
                m, a = mask[idx, :width], adv[idx, :width]  # [micro, width]
                out = response_logprobs(self.model, sub, cfg.rollout.temperature, with_entropy=update == 0)
                old_logp = out.logp.detach() if old is None else old[j]  # on-policy: ratio exactly 1
                res = POLICY_LOSSES[alg.loss](PolicyLossInputs(out.logp, old_logp, a, m, norm, alg.loss_agg, alg.eps_low, alg.eps_high))
                loss = res.loss
                if alg.kl_coef > 0:
                    with torch.no_grad():
                        ref_logp = response_logprobs(self.ref_model, sub, cfg.rollout.temperature).logp  # [micro, width]
                    kl_tok = kl_estimate(out.logp, ref_logp, alg.kl_estimator)  # [micro, width]
                    loss = loss + alg.kl_coef * aggregate(kl_tok, m, alg.loss_agg, norm)
                    sums["kl"] += float((kl_tok.detach() * m).sum())
                loss.backward()
                sums["loss"] += float(loss.detach())
                sums["tokens_trained"] += float(m.sum())
                for key, value in res.metrics.items():
                    sums[key] += float(value)
                if update == 0:
                    sums["entropy"] += float((out.entropy * m).sum())
                    sums["logp_mismatch"] += float(((out.logp.detach() - rollout_logp[idx, :width]).abs() * m).sum())
            if not micro:  # nothing to backpropagate: AdamW still steps on zero gradients, as without the skip
                for p in self.model.parameters():
                    p.grad = torch.zeros_like(p)
            clip = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else math.inf
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip))
            self.optimizer.step()
        self.scheduler.step()

        passes = alg.updates_per_batch
        tokens_per_pass = max(sums.pop("tokens_trained", 0.0) / passes, 1.0)
        accuracy = sum(s.status == Status.OK for s in scores) / len(scores)
        out_metrics = {
            "reward/mean": float(rewards.mean()),
            "reward/std": float(rewards.std()) if len(rewards) > 1 else 0.0,
            "accuracy": accuracy,
            "response_length/mean": float(batch.response_len.float().mean()),
            "response_length/clipped_fraction": sum(not ro.finished for ro in rollouts) / len(rollouts),
            "train/sequences_trained": float(len(active)),
            "train/sequences_skipped": float(len(rollouts) - len(active)),
            "loss": sums.pop("loss", 0.0) / passes,
            "grad_norm": grad_norm,
        }
        # entropy and mismatch are summed on the first pass only; the rest over every pass
        for key, value in sums.items():
            out_metrics[key] = value / (tokens_per_pass if key in ("entropy", "logp_mismatch") else tokens_per_pass * passes)
        return out_metrics

    @torch.no_grad()
    def _old_logprobs(self, batch: TokenBatch, micro: list[torch.Tensor]) -> list[torch.Tensor]:
        """logp_old of each micro-batch before any update ([micro, width] each)."""
        return [response_logprobs(self.model, batch.slice(idx), self.cfg.rollout.temperature).logp for idx in micro]
