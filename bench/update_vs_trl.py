"""One GRPO update, verity's against TRL's GRPOTrainer's, on the same batch in float64.

bench/vs_trl.py compares whole runs, whose held-out accuracy at a step moves by tens of points
between seeds with sampling luck alone. This checks what a run is built from, on the first step of
bench/vs_trl.py's run for ``--seed`` (its 8 prompts x 8 responses):

1. Sampling. verity's ``hf`` engine samples the batch from SmolLM2-135M-Instruct in float32, as in
   training. Each token's log-prob as the engine recorded it (the distribution it drew from, after
   prefix sharing, the KV cache and rows leaving the batch early) is set against a plain float64
   forward of that row's prompt + response alone: a larger gap than float32 rounding would mean
   the engine samples from another distribution than the policy's.
2. The update. TRL (bench/trl_update_worker.py, in its own virtual environment) and verity
   (``Trainer.learn``) each take one optimizer step from the same float64 weights on that batch,
   with vs_trl's settings (token-mean loss, no KL, clipping at 1.0, AdamW lr 1e-5) and TRL's
   advantage epsilon (1e-4; verity's default is 1e-6, whose effect is reported on its own).

Reported: the rewards each side computed, the largest advantage difference, and for the gradient
the optimizer receives (after clipping) and for the weight change: the relative L2 difference
||verity - TRL|| / ||TRL||, the cosine, and the parameter tensor that differs most. Writes
update-vs-trl.md to ``--out``.

    python bench/update_vs_trl.py [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rewards.math.check import check_one
from trainer.algorithms import ADV_ESTIMATORS
from trainer.algorithms.groups import informative_groups
from trainer.algorithms.types import AdvantageInputs
from trainer.config import load_config
from trainer.data.arithmetic import arithmetic_splits
from trainer.data.sampler import EpochSampler
from trainer.experience import Experience
from trainer.loop import Trainer
from trainer.model import load_model, load_tokenizer
from trainer.prompts import encode_prompt
from trainer.rollout.base import Rollout, SamplingParams
from trainer.rollout.hf import HFEngine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vs_trl import ROOT, task_spec, trl_python  # noqa: E402

console = Console(stderr=True)


@dataclass
class Difference:
    """verity's tensors against TRL's, parameter by parameter."""

    relative: float  # ||verity - TRL|| / ||TRL|| over all parameters
    cosine: float
    worst_name: str  # the parameter with the largest relative difference
    worst_relative: float

    @staticmethod
    def of(verity: dict[str, torch.Tensor], trl: dict[str, torch.Tensor]) -> Difference:
        if verity.keys() != trl.keys():
            raise SystemExit(f"the two models' parameters differ: {sorted(verity.keys() ^ trl.keys())[:4]}")
        diff_sq = dot = v_sq = t_sq = 0.0
        worst = ("", -1.0)
        for name, t in trl.items():
            v = verity[name]
            d = float((v - t).square().sum())
            diff_sq, dot, v_sq, t_sq = diff_sq + d, dot + float((v * t).sum()), v_sq + float(v.square().sum()), t_sq + float(t.square().sum())
            own = (d / max(float(t.square().sum()), 1e-300)) ** 0.5
            worst = max(worst, (name, own), key=lambda x: x[1])
        return Difference((diff_sq / t_sq) ** 0.5, dot / (v_sq * t_sq) ** 0.5, *worst)


def sample_batch(cfg, tokenizer, prompts) -> list[Rollout]:
    """One step's responses from verity's engine, in float32 as in training."""
    torch.manual_seed(cfg.train.seed)
    engine = HFEngine(load_model(cfg.model.path), tokenizer)
    r = cfg.rollout
    return engine.generate([p for p in prompts for _ in range(r.group_size)], SamplingParams(r.max_new_tokens, r.temperature))


@torch.no_grad()
def row_logprobs(model, ro: Rollout, temperature: float, shift: int = 0) -> torch.Tensor:
    """[response] log-probs of the response tokens from a forward of the row alone (unpadded), in
    the model's dtype, with every position moved by ``shift``."""
    ids = torch.tensor([ro.prompt_ids + ro.response_ids])  # [1, prompt + response]
    positions = torch.arange(ids.shape[1])[None] + shift  # [1, prompt + response]
    logits = model(input_ids=ids, position_ids=positions).logits[0, len(ro.prompt_ids) - 1 : -1]  # [response, vocab]
    return torch.log_softmax(logits / temperature, -1).gather(1, torch.tensor(ro.response_ids)[:, None]).squeeze(1)


def sampling_gap(model, rollouts: list[Rollout], temperature: float) -> tuple[float, float]:
    """(largest, mean) |engine log-prob - plain forward log-prob| over every response token."""
    every = torch.cat([(row_logprobs(model, ro, temperature) - torch.tensor(ro.logprobs, dtype=model.dtype)).abs() for ro in rollouts])
    return float(every.max()), float(every.mean())


def position_shift_gap(model, rollouts: list[Rollout], temperature: float, shift: int) -> float:
    """The largest change of a log-prob when every position of its row moves by ``shift``, as left
    padding without position ids does (TRL's training forward). Rotary embeddings depend only on
    relative positions, so it is 0 in exact arithmetic; transformers computes the rotary angles in
    float32, which makes it the floor of any float64 comparison between the two sides."""
    return max(float((row_logprobs(model, ro, temperature, shift) - row_logprobs(model, ro, temperature)).abs().max()) for ro in rollouts)


def verity_update(cfg, model, tokenizer, train, exp: Experience) -> dict:
    """verity's optimizer step on ``exp``: the clipped gradient, the weight change, the pre-clip norm."""
    trainer = Trainer(cfg, model, tokenizer, HFEngine(model, tokenizer), score=None, train=train, test=[])  # learn() neither samples nor scores
    grads: dict[str, torch.Tensor] = {}
    trainer.optimizer.register_step_pre_hook(lambda *_: grads.update({n: p.grad.detach().clone() for n, p in model.named_parameters()}))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    metrics = trainer.learn(exp)
    return {"grads": grads, "deltas": {n: p.detach() - before[n] for n, p in model.named_parameters()}, "grad_norm": metrics["grad_norm"]}


def advantages(exp: Experience, eps: float) -> torch.Tensor:
    """[batch] verity's GRPO advantage of each row, with std epsilon ``eps``."""
    return ADV_ESTIMATORS["grpo"](AdvantageInputs(rewards=exp.rewards, group_ids=exp.group_ids, mask=exp.mask, eps=eps)).advantages[:, 0]


def run_trl(spec: dict, work: Path, venv: Path) -> dict:
    """TRL's step on the batch, in its virtual environment."""
    (work / "spec.json").write_text(json.dumps(spec))
    log = work / "trl.log"
    with log.open("w") as out:
        done = subprocess.run([str(trl_python(venv)), str(ROOT / "bench" / "trl_update_worker.py"), str(work / "spec.json"), str(work / "trl.pt")], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"TRL's step failed (exit {done.returncode}):\n{log.read_text()[-3000:]}")
    return torch.load(work / "trl.pt")


def report(command: str, seed: int, batch: dict, gap: tuple[float, float], floor: float, trl: dict, verity: dict, adv_gap: dict[str, float], grad: Difference, delta: Difference) -> str:
    rewards = batch["rewards"]
    same_rewards = bool(torch.equal(rewards, trl["rewards"]))
    return "\n".join([
        "# One GRPO update: verity against TRL's GRPOTrainer, same batch, float64",
        "",
        f"`{command}`",
        "",
        f"The first step of `bench/vs_trl.py`'s seed {seed}: {len(rewards) // batch['group_size']} prompts x {batch['group_size']} responses sampled by verity's `hf` engine from SmolLM2-135M-Instruct (float32, temperature 1, 40 new tokens); mean reward {float(rewards.mean()):.3f}, {batch['informative']} of {len(rewards) // batch['group_size']} groups with differing rewards, {batch['tokens']} response tokens. Both sides then take one optimizer step from the same float64 weights: token-mean loss over the step, no KL, ratio 1, gradient clipping at 1.0, AdamW lr 1e-5; TRL 1.16 with micro-batches of {batch['micro_batch_size']} (gradient accumulation), verity's `Trainer.learn` with its own micro-batches and zero-advantage groups skipped.",
        "",
        "| check | result |",
        "| --- | --- |",
        f"| sampling: engine log-prob against a plain float64 forward of each row alone | largest gap {gap[0]:.1e}, mean {gap[1]:.1e} nats per token |",
        f"| float64 floor: a row's log-probs with every position moved by 8 (TRL's left padding does so; transformers computes rotary angles in float32) | largest change {floor:.1e} nats (one row per prompt) |",
        f"| rewards (verity's math check on each side's decoded text) | {'identical' if same_rewards else 'DIFFER'} |",
        f"| advantages, verity (eps 1e-4) against TRL | largest difference {adv_gap['matched']:.1e} |",
        f"| advantages, verity's default eps 1e-6 against TRL's 1e-4 | largest difference {adv_gap['default']:.1e} |",
        f"| gradient norm before clipping | verity {verity['grad_norm']:.6f}, TRL {trl['grad_norm']:.6f} |",
        f"| gradient after clipping, relative L2 difference | {grad.relative:.1e} (cosine {grad.cosine:.12f}; largest in one tensor {grad.worst_relative:.1e}, `{grad.worst_name}`) |",
        f"| weight change after AdamW, relative L2 difference | {delta.relative:.1e} (cosine {delta.cosine:.12f}; largest in one tensor {delta.worst_relative:.1e}, `{delta.worst_name}`) |",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="bench/vs_trl.py's seed whose first step is the batch")
    parser.add_argument("--threads", type=int, default=0, help="torch threads on both sides (0: torch's default)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--trl-venv", type=Path, default=Path.home() / ".cache" / "verity" / "trl-1.16-venv")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(None, [f"train.seed={args.seed}", "algorithm.adv_eps=1e-4"])
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with tempfile.TemporaryDirectory() as tmp, Progress(*columns, console=console) as bar:
        work = Path(tmp)
        task = bar.add_task("sampling the batch", total=4)
        spec = task_spec(SimpleNamespace(steps=1, threads=args.threads, eval_every=0), cfg, work)
        tokenizer = load_tokenizer(cfg.model.path)
        train, _ = arithmetic_splits(cfg.data.arithmetic.low, cfg.data.arithmetic.high, cfg.data.arithmetic.test_size, cfg.data.arithmetic.seed)
        samples = EpochSampler(train, cfg.train.seed).next_batch(cfg.rollout.prompts_per_step)  # spec["train"], in order
        rollouts = sample_batch(cfg, tokenizer, [encode_prompt(tokenizer, s, cfg.data.chat_template) for s in samples])
        answers = [s.reference["answer"] for s in samples for _ in range(cfg.rollout.group_size)]
        texts = tokenizer.batch_decode([ro.response_ids for ro in rollouts], skip_special_tokens=True)
        rewards = torch.tensor([check_one(t, a)[1] for t, a in zip(texts, answers)], dtype=torch.float64)  # [batch]
        groups = torch.arange(len(rollouts)) // cfg.rollout.group_size  # [batch]
        exp = Experience.build(rollouts, rewards, groups, tokenizer.pad_token_id)
        spec["batch"] = {"prompt_ids": [ro.prompt_ids for ro in rollouts], "response_ids": [ro.response_ids for ro in rollouts]}

        bar.update(task, advance=1, description="float64 forward of each row")
        model = load_model(cfg.model.path).double()
        gap = sampling_gap(model, rollouts, cfg.rollout.temperature)
        floor = position_shift_gap(model, rollouts[:: cfg.rollout.group_size], cfg.rollout.temperature, shift=8)

        bar.update(task, advance=1, description="TRL's step")
        trl = run_trl(spec, work, args.trl_venv)

        bar.update(task, advance=1, description="verity's step")
        verity = verity_update(cfg, model, tokenizer, train, exp)
        bar.update(task, advance=1, description="done")

    adv_gap = {"matched": float((advantages(exp, 1e-4) - trl["advantages"]).abs().max()), "default": float((advantages(exp, 1e-6) - trl["advantages"]).abs().max())}
    batch = {"rewards": rewards, "group_size": cfg.rollout.group_size, "micro_batch_size": cfg.train.micro_batch_size, "tokens": int(exp.mask.sum()), "informative": int(informative_groups(rewards, groups).view(-1, cfg.rollout.group_size)[:, 0].sum())}
    command = "python bench/update_vs_trl.py" + (f" --seed {args.seed}" if args.seed else "")
    text = report(command, args.seed, batch, gap, floor, trl, verity, adv_gap, Difference.of(verity["grads"], trl["grads"]), Difference.of(verity["deltas"], trl["deltas"]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "update-vs-trl.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
