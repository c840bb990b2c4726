"""Step time and peak memory of each algorithm relative to plain GRPO, on the same batch and model.

One real batch is generated once (SmolLM2-135M-Instruct, quickstart arithmetic, 8 prompts x 8
responses, 40 new tokens, the rollout's top-20 ids and log-probs recorded) and scored by the real
math checker. Every algorithm then runs one optimizer step (forward, loss, backward, AdamW) on that
same batch in a fresh process, every sample forwarded (no skipping, no filtering, so all do the same
work), for several rounds interleaved across algorithms; the report gives the median update time and
the peak resident-memory increase during the update, each as a ratio to GRPO measured in the same
run. Targets: RLPT, OTB, DPPO binary <= 1.05x GRPO; DPPO top-K (K = 20) <= 1.10x.

It also measures what DPPO top-K stores against an exact full-vocabulary TV: the rollout-side
tensors per step (top-K ids + log-probs vs mu's whole distribution per token), and the peak memory
of computing each divergence over the batch; and the generation time with and without recording
the top-20 (also side by side).

    python bench/algorithms.py [--rounds 3]
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
    from trainer.rollout.base import SamplingParams
    from trainer.rollout.hf import HFEngine
    from trainer.scoring import encode_prompt, with_response

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


def worker(batch_path: str, name: str) -> None:
    """One algorithm, one fresh process: one warm-up step, then one measured step."""
    from trainer.config import load_config
    from trainer.data.arithmetic import arithmetic_splits
    from trainer.experience import Experience
    from trainer.loop import Trainer
    from trainer.model import load_model, load_tokenizer

    torch.manual_seed(0)
    data = torch.load(batch_path, weights_only=False)
    overrides = [*COMMON, *ALGORITHMS.get(name, []), f"train.output_dir={tempfile.mkdtemp()}"]
    cfg = load_config(None, overrides)
    model, tokenizer = load_model(cfg.model.path), load_tokenizer(cfg.model.path)
    trainer = Trainer(cfg, model, tokenizer, None, None, arithmetic_splits()[0], [])

    def experience() -> Experience:
        exp = Experience.build(data["rollouts"], torch.tensor(data["rewards"]), torch.tensor(data["groups"]), tokenizer.pad_token_id)
        exp.support_ids = trainer.collector.rlpt_support(exp)
        return exp

    if name.startswith("divergence:"):
        print(json.dumps(divergence_memory(model, experience(), name.split(":")[1])))
        return
    trainer.learn(experience())  # warm-up: allocations, optimizer state
    exp = experience()
    with PeakRSS() as rss:
        before = PeakRSS.now()
        t = time.perf_counter()
        trainer.learn(exp)
        seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "peak_bytes": rss.peak - before}))


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


def run_worker(batch: Path, name: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", name, "--batch", str(batch)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the {name} worker failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker")
    parser.add_argument("--batch")
    args = parser.parse_args()
    if args.worker:
        worker(args.batch, args.worker)
        return 0
    from rich.progress import Progress

    batch = Path(tempfile.mkdtemp()) / "batch.pt"
    gen = make_batch(batch)
    results: dict[str, list[dict]] = {name: [] for name in ALGORITHMS}
    with Progress() as bar:
        task = bar.add_task("algorithm steps", total=args.rounds * len(ALGORITHMS) + 2)
        for _ in range(args.rounds):  # interleaved: every round runs every algorithm once
            for name in ALGORITHMS:
                results[name].append(run_worker(batch, name))
                bar.advance(task)
        memory = {kind: run_worker(batch, f"divergence:{kind}") for kind in ("topk", "exact")}
        bar.advance(task, 2)

    base_t = statistics.median(r["seconds"] for r in results["grpo"])
    base_m = statistics.median(r["peak_bytes"] for r in results["grpo"])
    targets = {"rlpt": 1.05, "otb": 1.05, "dppo_tv_binary": 1.05, "dppo_kl_binary": 1.05, "dppo_tv_topk": 1.10, "dppo_kl_topk": 1.10}
    print(f"\nOne optimizer step on the same 64 x 40-token batch, median of {args.rounds} interleaved rounds:")
    print(f"{'algorithm':<22}{'update s':>10}{'x GRPO':>9}{'target':>9}{'peak MiB':>10}{'x GRPO':>9}")
    for name, rs in results.items():
        t = statistics.median(r["seconds"] for r in rs)
        m = statistics.median(r["peak_bytes"] for r in rs)
        target = f"<= {targets[name]:.2f}" if name in targets else ""
        print(f"{name:<22}{t:>10.2f}{t / base_t:>9.3f}{target:>9}{m / 2**20:>10.0f}{m / max(base_m, 1):>9.2f}")
    print(f"\nGeneration of the batch (best of 2): {gen['plain']:.2f} s plain, {gen['top20']:.2f} s recording the top-20; ratio {gen['top20'] / gen['plain']:.3f}")
    t, e = memory["topk"], memory["exact"]
    print(f"TV divergence over the batch: top-20 stores {t['stored_bytes'] / 2**20:.2f} MiB, peak {t['peak_bytes'] / 2**20:.0f} MiB; "
          f"exact full-vocabulary stores {e['stored_bytes'] / 2**20:.0f} MiB, peak {e['peak_bytes'] / 2**20:.0f} MiB "
          f"(stored {e['stored_bytes'] / max(t['stored_bytes'], 1):.0f}x, peak {e['peak_bytes'] / max(t['peak_bytes'], 1):.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
