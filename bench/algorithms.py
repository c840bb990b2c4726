"""Step time and peak memory of each algorithm relative to plain GRPO, on the same batch and model.

One real batch is generated once (SmolLM2-135M-Instruct, quickstart arithmetic, 8 prompts x 8
responses, 40 new tokens, the rollout's top-20 ids and log-probs recorded) and scored by the real
math checker. Every algorithm then runs optimizer steps (forward, loss, backward, AdamW) on that
same batch, every sample forwarded (no skipping, no filtering, so all do the same work).

Time: one process holds the model and one trainer per algorithm; after a warm-up step each, every
round times one step of every algorithm, in reversed order on odd rounds (so a slow drift of the
machine's speed hits all alike), and each algorithm's time is divided by GRPO's of the same round.
The report gives the median of those per-round ratios and their range: on a shared machine the
speed itself varies by 10% or more from minute to minute, the paired ratio much less.
Memory: each algorithm in a fresh process, the peak resident-memory increase during one step after
a warm-up step, as a ratio to GRPO's. Targets: RLPT, OTB, DPPO binary <= 1.05x GRPO's step time;
DPPO top-K (K = 20) <= 1.10x.

It also measures what DPPO top-K stores against an exact full-vocabulary TV: the rollout-side
tensors per step (top-K ids + log-probs vs mu's whole distribution per token), and the peak memory
of computing each divergence over the batch; and the generation time with and without recording
the top-20 (also side by side).

    python bench/algorithms.py [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

ALGORITHMS = {
    "grpo": [],
    "rlpt": ["algorithm.rlpt.top_k=16"],
    "otb": ["algorithm.advantage=otb"],
    "dppo_tv_binary": ["algorithm.loss=dppo_tv_binary"],
    "dppo_kl_binary": ["algorithm.loss=dppo_kl_binary"],
    "dppo_tv_topk": ["algorithm.loss=dppo_tv_topk"],
    "dppo_kl_topk": ["algorithm.loss=dppo_kl_topk"],
    "rlpt+otb+dppo_topk": ["algorithm.rlpt.top_k=16", "algorithm.advantage=otb", "algorithm.loss=dppo_tv_topk"],
}
COMMON = ["train.skip_zero_advantage=false", "optim.lr=1e-7", "train.micro_batch_size=16"]


class PeakRSS:
    """Samples this process's resident memory every 2 ms; ``peak`` is the largest value (bytes)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> int:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * 4096

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(0.002)

    def __enter__(self) -> "PeakRSS":
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def make_batch(path: Path) -> dict:
    """Generate and score the shared batch; save the rollouts and rewards; time generation with and
    without top-20 recording."""
    from rewards.math.check import check_one
    from trainer.config import load_config
    from trainer.data.arithmetic import arithmetic_splits
    from trainer.data.sampler import EpochSampler
    from trainer.model import load_model, load_tokenizer
    from trainer.prompts import encode_prompt, with_response
    from trainer.rollout.base import SamplingParams
    from trainer.rollout.hf import HFEngine

    cfg = load_config()
    model, tokenizer = load_model(cfg.model.path), load_tokenizer(cfg.model.path)
    train, _ = arithmetic_splits()
    prompts = EpochSampler(train, 0).next_batch(cfg.rollout.prompts_per_step)
    flat = [encode_prompt(tokenizer, p, True) for p in prompts for _ in range(cfg.rollout.group_size)]
    engine = HFEngine(model, tokenizer, 64)
    timings = {"plain": [], "top20": []}
    rollouts = None
    for _ in range(2):
        for name, k in (("plain", 0), ("top20", 20)):
            torch.manual_seed(0)
            t = time.perf_counter()
            out = engine.generate(flat, SamplingParams(cfg.rollout.max_new_tokens, topk_logprobs=k))
            timings[name].append(time.perf_counter() - t)
            rollouts = out if k else rollouts
    texts = tokenizer.batch_decode([ro.response_ids for ro in rollouts], skip_special_tokens=True)
    rewards = [check_one(with_response(prompts[i // 8], t, str(i)).response, prompts[i // 8].reference["answer"])[1] for i, t in enumerate(texts)]
    torch.save({"rollouts": rollouts, "rewards": rewards, "groups": [i // 8 for i in range(len(flat))]}, path)
    return {name: min(ts) for name, ts in timings.items()}


def build_trainer(name: str, batch_path: str, model=None, tokenizer=None):
    """A trainer for one algorithm and a maker of fresh copies of the shared experience."""
    from trainer.config import load_config
    from trainer.data.arithmetic import arithmetic_splits
    from trainer.experience import Experience
    from trainer.loop import Trainer
    from trainer.model import load_model, load_tokenizer
    from trainer.support import support_ids

    data = torch.load(batch_path, weights_only=False)
    overrides = [*COMMON, *ALGORITHMS.get(name, []), f"train.output_dir={tempfile.mkdtemp()}"]
    cfg = load_config(None, overrides)
    model = model if model is not None else load_model(cfg.model.path)
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(cfg.model.path)
    trainer = Trainer(cfg, model, tokenizer, None, None, arithmetic_splits()[0], [])

    def experience() -> Experience:
        exp = Experience.build(data["rollouts"], torch.tensor(data["rewards"]), torch.tensor(data["groups"]), tokenizer.pad_token_id)
        if trainer.needs.support is not None:
            exp.support_ids = support_ids(exp, trainer.needs.support, None, cfg.rollout.temperature, cfg.train.micro_batch_size)
        return exp

    return trainer, experience


def time_worker(batch_path: str, rounds: int) -> None:
    """Every algorithm in this one process on one shared model; prints one JSON line per step."""
    torch.manual_seed(0)
    trainers = {}
    model = tokenizer = None
    for name in ALGORITHMS:
        trainers[name] = build_trainer(name, batch_path, model, tokenizer)
        first = trainers["grpo"][0]
        model, tokenizer = first.model, first.tokenizer
        trainers[name][0].optimizer, trainers[name][0].scheduler = first.optimizer, first.scheduler  # one AdamW state in memory
    for r in range(-1, rounds):  # round -1: warm-up (allocations, optimizer state)
        for name in ALGORITHMS if r % 2 == 0 else reversed(ALGORITHMS):
            trainer, experience = trainers[name]
            exp = experience()
            t = time.perf_counter()
            trainer.learn(exp)
            print(json.dumps({"round": r, "name": name, "seconds": time.perf_counter() - t}), flush=True)


def memory_worker(batch_path: str, name: str) -> None:
    """One algorithm, one fresh process: one warm-up step, then the peak memory of one step."""
    torch.manual_seed(0)
    trainer, experience = build_trainer(name, batch_path)
    if name.startswith("divergence:"):
        print(json.dumps(divergence_memory(trainer.model, experience(), name.split(":")[1])))
        return
    trainer.learn(experience())
    exp = experience()
    with PeakRSS() as rss:
        before = PeakRSS.now()
        trainer.learn(exp)
    print(json.dumps({"peak_bytes": rss.peak - before}))


@torch.no_grad()
def divergence_memory(model, exp, kind: str) -> dict:
    """Peak memory of the TV divergence over the batch: from the stored top-20 of mu, or exactly from
    mu's whole stored distribution (what an exact TV needs the rollout to keep)."""
    from trainer.algorithms.dppo import topk_tv
    from trainer.logprobs import response_logprobs

    before = PeakRSS.now()
    with PeakRSS() as rss:
        if kind == "exact":
            vocab = model.get_output_embeddings().weight.shape[0]
            stored = torch.softmax(torch.randn(int(exp.mask.sum()), vocab), -1)  # [tokens, vocab]: mu per token
            stored_bytes = stored.numel() * stored.element_size()
            mask = exp.tokens.response_mask().bool()
            decoder, head = model.get_decoder(), model.get_output_embeddings()
            hidden = decoder(input_ids=exp.tokens.input_ids, attention_mask=exp.tokens.attention_mask).last_hidden_state
            rows, cols = mask.nonzero(as_tuple=True)
            pi = torch.softmax(head(hidden[rows, exp.tokens.response_start[rows] + cols - 1]).float(), -1)  # [tokens, vocab]
            value = 0.5 * (pi - stored).abs().sum(-1).mean()
        else:
            stored_bytes = exp.topk_ids.numel() * 4 + exp.topk_logprobs.numel() * 4
            out = response_logprobs(model, exp.tokens, topk_ids=exp.topk_ids)
            value = (topk_tv(out.topk_logp, exp.topk_logprobs) * exp.mask).sum() / exp.mask.sum()
    return {"peak_bytes": rss.peak - before, "stored_bytes": stored_bytes, "value": float(value)}


def run_worker(batch: Path, *args: str, on_line=None) -> list[dict]:
    """Run this file as a worker; each JSON line it prints is passed to ``on_line`` and returned."""
    proc = subprocess.Popen([sys.executable, __file__, "--batch", str(batch), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:
        if line.startswith("{"):
            lines.append(json.loads(line))
            if on_line:
                on_line(lines[-1])
    err = proc.stderr.read()
    if proc.wait() != 0:
        raise SystemExit(f"the worker {' '.join(args)} failed (exit {proc.returncode}):\n{err[-3000:]}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--batch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "time":
        time_worker(args.batch, args.rounds)
        return 0
    if args.worker:
        memory_worker(args.batch, args.worker)
        return 0
    from rich.progress import Progress

    batch = Path(tempfile.mkdtemp()) / "batch.pt"
    gen = make_batch(batch)
    with Progress() as bar:
        task = bar.add_task("algorithm steps", total=(args.rounds + 1) * len(ALGORITHMS) + len(ALGORITHMS) + 2)
        steps = run_worker(batch, "--worker", "time", "--rounds", str(args.rounds), on_line=lambda _: bar.advance(task))
        peaks = {}
        for name in [*ALGORITHMS, "divergence:topk", "divergence:exact"]:
            peaks[name] = run_worker(batch, "--worker", name)[-1]
            bar.advance(task)

    seconds = {(s["round"], s["name"]): s["seconds"] for s in steps if s["round"] >= 0}
    targets = {"rlpt": 1.05, "otb": 1.05, "dppo_tv_binary": 1.05, "dppo_kl_binary": 1.05, "dppo_tv_topk": 1.10, "dppo_kl_topk": 1.10}
    base_m = peaks["grpo"]["peak_bytes"]
    print(f"\nOne optimizer step on the same 64 x 40-token batch, {args.rounds} rounds; time ratio = median over rounds of the")
    print("step time over GRPO's step time in the same round (range in brackets); memory from one fresh process each:")
    print(f"{'algorithm':<22}{'median s':>9}{'x GRPO':>9}{'range':>15}{'target':>9}{'peak MiB':>10}{'x GRPO':>8}")
    for name in ALGORITHMS:
        ratios = [seconds[r, name] / seconds[r, "grpo"] for r in range(args.rounds)]
        t = statistics.median(seconds[r, name] for r in range(args.rounds))
        target = f"<= {targets[name]:.2f}" if name in targets else ""
        m = peaks[name]["peak_bytes"]
        spread = f"[{min(ratios):.3f}-{max(ratios):.3f}]"
        print(f"{name:<22}{t:>9.2f}{statistics.median(ratios):>9.3f}{spread:>15}{target:>9}{m / 2**20:>10.0f}{m / max(base_m, 1):>8.2f}")
    print(f"\nGeneration of the batch (best of 2): {gen['plain']:.2f} s plain, {gen['top20']:.2f} s recording the top-20; ratio {gen['top20'] / gen['plain']:.3f}")
    t, e = peaks["divergence:topk"], peaks["divergence:exact"]
    print(f"TV divergence over the batch: top-20 stores {t['stored_bytes'] / 2**20:.2f} MiB, peak {t['peak_bytes'] / 2**20:.0f} MiB; "
          f"exact full-vocabulary stores {e['stored_bytes'] / 2**20:.0f} MiB, peak {e['peak_bytes'] / 2**20:.0f} MiB "
          f"(stored {e['stored_bytes'] / max(t['stored_bytes'], 1):.0f}x, peak {e['peak_bytes'] / max(t['peak_bytes'], 1):.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
