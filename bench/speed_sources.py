"""Where verity's step time goes, each speed source measured on its own on one step's batch.

One step of the quickstart (8 prompts x 8 responses, 40 new tokens, SmolLM2-135M-Instruct) is
sampled and scored once; each source is then timed against the same work done without it, on the
same machine, in one run (median over ``--rounds``):

1. batched generation (DASH preemptive sampling): the step's 64 rollouts in one call, against one
   call per micro-batch of whole groups (16 rows, the standard loop);
2. shared-prompt generation: verity's engine (each distinct prompt prefilled once, finished rows
   leave the batch) against transformers' ``generate`` on the same 64 prompts;
3. zero-advantage groups skipped before any forward or backward: forward + backward of the
   informative groups only, against all 64 rows;
4. response-only log-probs without a full-vocabulary log-softmax copy: log pi(y) = z[y] -
   logsumexp(z) at response positions only, against logits at every position, log_softmax over
   the vocabulary and a gather (both on full rows);
5. shared-prompt training forward: each distinct prompt through the decoder once, then the
   responses on its cached keys and values, against full rows;
6. no second forward for the old log-probs when on-policy: what that no-grad forward would cost;
7. the backward's micro-batch chosen apart from generation (64 rows per call): forward + backward
   of the step's informative rows at several micro-batch sizes.

    python bench/speed_sources.py [--rounds 2] [--out docs/results]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn  # noqa: E402

from rewards.math.check import check_one  # noqa: E402
from trainer.algorithms.groups import informative_groups, normalized_outcome_advantage  # noqa: E402
from trainer.data.arithmetic import arithmetic_splits  # noqa: E402
from trainer.data.sampler import EpochSampler  # noqa: E402
from trainer.logprobs import TokenBatch, response_logprobs  # noqa: E402
from trainer.loop import micro_batches  # noqa: E402
from trainer.model import load_model, load_tokenizer  # noqa: E402
from trainer.prompts import encode_prompt  # noqa: E402
from trainer.rollout.base import Rollout, SamplingParams, response_length  # noqa: E402
from trainer.rollout.hf import HFEngine  # noqa: E402
from trainer.rollout.shared_prompts import left_pad  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = "smollm2-135m-instruct"
PROMPTS, GROUP, MAX_NEW, MICRO = 8, 8, 40, 16


def textbook_logprobs(model, batch: TokenBatch) -> torch.Tensor:
    """[rows, max_response]: logits at every position of the full rows, log_softmax over the
    vocabulary, gather (what a straightforward implementation does)."""
    position = (batch.attention_mask.cumsum(-1) - 1).clamp(min=0)  # [rows, seq]
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=position).logits  # [rows, seq, vocab]
    logp = torch.log_softmax(logits.float(), dim=-1)  # [rows, seq, vocab]: a second full copy
    pos = (batch.response_start[:, None] + torch.arange(batch.max_response)[None, :]).clamp(max=batch.input_ids.shape[1] - 1)  # [rows, max_response]
    target = batch.input_ids.gather(1, pos)  # [rows, max_response]: the response tokens
    return logp[torch.arange(len(pos))[:, None], pos - 1, target] * batch.response_mask()


def full_row_logprobs(model, batch: TokenBatch) -> torch.Tensor:
    """[rows, max_response]: the decoder on the full rows (no prompt sharing), the LM head and a
    logsumexp only at the positions that predict a response token."""
    position = (batch.attention_mask.cumsum(-1) - 1).clamp(min=0)  # [rows, seq]
    hidden = model.get_decoder()(input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=position).last_hidden_state  # [rows, seq, hidden]
    rows, cols = batch.response_mask().bool().nonzero(as_tuple=True)  # [tokens] each
    at = batch.response_start[rows] + cols  # [tokens]: where each response token sits
    logits = model.get_output_embeddings()(hidden[rows, at - 1]).float()  # [tokens, vocab]
    chosen = logits.gather(1, batch.input_ids[rows, at][:, None]).squeeze(1) - torch.logsumexp(logits, -1)  # [tokens]
    return torch.zeros(batch.response_mask().shape).index_put((rows, cols), chosen)


def verity_logprobs(model, batch: TokenBatch) -> torch.Tensor:
    return response_logprobs(model, batch, 1.0, with_entropy=True).logp


def transformers_generate(model, tokenizer, prompts: list[list[int]]) -> list[int]:
    """Response lengths (up to the first EOS) from transformers' generate, sampling at temperature 1."""
    ids, attn = left_pad(prompts, tokenizer.pad_token_id)  # [rows, width] each
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=attn, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=MAX_NEW, pad_token_id=tokenizer.pad_token_id)
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos])
    return [response_length(row, eos) for row in out[:, ids.shape[1] :].tolist()]


class Step:
    """The sampled, scored step every measurement reuses."""

    def __init__(self, model, tokenizer, engine: HFEngine):
        train, _ = arithmetic_splits()
        samples = EpochSampler(train, 0).next_batch(PROMPTS)
        self.prompts = [encode_prompt(tokenizer, s, True) for s in samples for _ in range(GROUP)]
        torch.manual_seed(0)
        self.rollouts: list[Rollout] = engine.generate(self.prompts, SamplingParams(MAX_NEW))
        texts = tokenizer.batch_decode([r.response_ids for r in self.rollouts], skip_special_tokens=True)
        answers = [s.reference["answer"] for s in samples for _ in range(GROUP)]
        rewards = torch.tensor([check_one(t, a)[1] for t, a in zip(texts, answers)])  # [rows]
        self.group_ids = torch.arange(PROMPTS).repeat_interleave(GROUP)  # [rows]
        self.advantages = normalized_outcome_advantage(rewards, self.group_ids, 1e-6)  # [rows]
        self.batch = TokenBatch.build(self.prompts, [r.response_ids for r in self.rollouts], tokenizer.pad_token_id)
        self.informative = informative_groups(rewards, self.group_ids).nonzero().squeeze(1).tolist()
        self.reward_mean = float(rewards.mean())


def forward_backward(model, step: Step, rows: list[int], micro: int, logprobs: Callable) -> None:
    """The policy-gradient loss -A log pi(y), token-mean, over ``rows`` in micro-batches."""
    model.train()
    tokens = float(step.batch.response_len[rows].sum())
    for idx in micro_batches(step.group_ids, step.batch.response_len, rows, micro, whole_groups=False):
        sub = step.batch.slice(idx)
        logp = logprobs(model, sub)  # [micro, width]
        (-(step.advantages[idx, None] * logp * sub.response_mask()).sum() / tokens).backward()
    model.zero_grad(set_to_none=True)


def old_logprobs_forward(model, step: Step, rows: list[int]) -> None:
    with torch.no_grad():
        for idx in micro_batches(step.group_ids, step.batch.response_len, rows, MICRO, whole_groups=False):
            response_logprobs(model, step.batch.slice(idx), 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = parser.parse_args()
    console = Console(stderr=True)
    tokenizer, model = load_tokenizer(MODEL), load_model(MODEL)
    engine = HFEngine(model, tokenizer, batch_size=PROMPTS * GROUP)
    step = Step(model, tokenizer, engine)
    rows_all, rows_kept = list(range(len(step.prompts))), step.informative
    params = SamplingParams(MAX_NEW)

    def seeded(fn: Callable) -> Callable:
        def run():
            torch.manual_seed(0)
            fn()

        return run

    per_group = [step.prompts[k : k + MICRO] for k in range(0, len(step.prompts), MICRO)]
    jobs: dict[str, Callable[[], None]] = {
        "generate: one call of 64 rows": seeded(lambda: engine.generate(step.prompts, params)),
        "generate: 4 calls of 16 rows": seeded(lambda: [engine.generate(p, params) for p in per_group]),
        "generate: transformers generate, 64 rows": seeded(lambda: transformers_generate(model, tokenizer, step.prompts)),
        "fwd+bwd: informative rows": lambda: forward_backward(model, step, rows_kept, MICRO, verity_logprobs),
        "fwd+bwd: all 64 rows": lambda: forward_backward(model, step, rows_all, MICRO, verity_logprobs),
        "fwd+bwd: full rows, textbook log_softmax": lambda: forward_backward(model, step, rows_kept, MICRO, textbook_logprobs),
        "fwd+bwd: full rows, response-only head": lambda: forward_backward(model, step, rows_kept, MICRO, full_row_logprobs),
        "old log-probs forward (no grad)": lambda: old_logprobs_forward(model, step, rows_kept),
        **{f"fwd+bwd: micro-batch {m}": (lambda m=m: forward_backward(model, step, rows_kept, m, verity_logprobs)) for m in (4, 8, 32, 64)},
    }
    times: dict[str, list[float]] = {name: [] for name in jobs}
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("measuring", total=args.rounds * len(jobs))
        for _ in range(args.rounds):
            for name, job in jobs.items():
                bar.update(task, description=name)
                start = time.perf_counter()
                job()
                times[name].append(time.perf_counter() - start)
                bar.advance(task)
    t = {name: statistics.median(v) for name, v in times.items()}
    t["fwd+bwd: micro-batch 16"] = t["fwd+bwd: informative rows"]
    text = report(args, step, t, tokenizer, model)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed-sources.md").write_text(text)
    plot(t, args.out / "speed-sources.png")
    print(text)


def report(args, step: Step, t: dict[str, float], tokenizer, model) -> str:
    generated = sum(len(r.response_ids) for r in step.rollouts)
    b = step.batch
    kept = step.informative
    seq = int((b.response_start[kept] + b.response_len[kept]).max())
    vocab = model.get_output_embeddings().weight.shape[0]
    textbook_mb = 2 * MICRO * seq * vocab * 4 / 2**20
    prompt_tokens = int(b.response_start.sum())
    full_tokens = int((b.response_start[kept] + b.response_len[kept]).sum())
    shared_tokens = sum(int(b.response_start[g * GROUP]) for g in sorted({i // GROUP for i in kept})) + int((b.response_len[kept] - 1).sum())
    distinct_prompt_tokens = int(b.response_start[::GROUP].sum())

    def line(label: str, without: str, with_: str, note: str = "") -> str:
        return f"| {label} | {t[without]:.1f} s | {t[with_]:.1f} s | {t[without] / t[with_]:.2f}x | {note} |"

    lines = [
        "# Where verity's step time goes",
        "",
        f"`python bench/speed_sources.py --rounds {args.rounds}` (median of {args.rounds} rounds; CPU).",
        "",
        f"One quickstart step, sampled and scored once: {PROMPTS} prompts x {GROUP} responses, {MAX_NEW} new tokens, {generated} tokens generated, mean reward {step.reward_mean:.2f}, {len(kept)} of {len(b.response_len)} rows in groups with a non-zero advantage. Each line times the same work without and with one source; forward + backward lines train on the informative rows in micro-batches of {MICRO} unless named.",
        "",
        "| source | without | with | speed-up | note |",
        "| --- | --- | --- | --- | --- |",
        line("1. generation batched across the step (DASH preemptive sampling)", "generate: 4 calls of 16 rows", "generate: one call of 64 rows", "one call of 64 against one per micro-batch of 2 groups"),
        line("2. shared-prompt prefill, finished rows leave the batch", "generate: transformers generate, 64 rows", "generate: one call of 64 rows", f"{prompt_tokens} prompt tokens prefilled by generate, {distinct_prompt_tokens} by verity"),
        line("3. zero-advantage groups skipped before forward/backward", "fwd+bwd: all 64 rows", "fwd+bwd: informative rows", f"{len(b.response_len) - len(kept)} rows skipped; the gradient is the same"),
        line("4. response-only log-probs, no full-vocabulary log-softmax", "fwd+bwd: full rows, textbook log_softmax", "fwd+bwd: full rows, response-only head", f"the textbook path holds logits and their log_softmax, 2 x {MICRO} x {seq} x {vocab} floats = {textbook_mb:.0f} MB per micro-batch"),
        line("5. shared-prompt training forward", "fwd+bwd: full rows, response-only head", "fwd+bwd: informative rows", f"decoder tokens {full_tokens} on full rows, {shared_tokens} with each group's prompt once"),
        f"| 6. no second forward for old log-probs (on-policy) | {t['old log-probs forward (no grad)'] + t['fwd+bwd: informative rows']:.1f} s | {t['fwd+bwd: informative rows']:.1f} s | {(t['old log-probs forward (no grad)'] + t['fwd+bwd: informative rows']) / t['fwd+bwd: informative rows']:.2f}x | the no-grad forward a recompute would add: {t['old log-probs forward (no grad)']:.1f} s |",
        "",
        "7. The backward's micro-batch, chosen apart from generation (which stays at 64 rows per call; a 16-row generation call costs "
        f"{t['generate: 4 calls of 16 rows'] / 4:.1f} s for a quarter of the rows):",
        "",
        "| micro-batch | forward + backward of the informative rows |",
        "| --- | --- |",
        *[f"| {m} | {t[f'fwd+bwd: micro-batch {m}']:.1f} s |" for m in (4, 8, 16, 32, 64)],
        "",
    ]
    return "\n".join(lines)


def plot(t: dict[str, float], path: Path) -> None:
    pairs = [
        ("1. batched generation", "generate: 4 calls of 16 rows", "generate: one call of 64 rows"),
        ("2. shared-prompt generation", "generate: transformers generate, 64 rows", "generate: one call of 64 rows"),
        ("3. zero-advantage skip", "fwd+bwd: all 64 rows", "fwd+bwd: informative rows"),
        ("4. response-only log-probs", "fwd+bwd: full rows, textbook log_softmax", "fwd+bwd: full rows, response-only head"),
        ("5. shared-prompt forward", "fwd+bwd: full rows, response-only head", "fwd+bwd: informative rows"),
    ]
    fig, ax = plt.subplots(figsize=(8, 4))
    y = range(len(pairs))
    ax.barh([i + 0.2 for i in y], [t[w] for _, w, _ in pairs], height=0.4, label="without", color="#bbbbbb")
    ax.barh([i - 0.2 for i in y], [t[v] for _, _, v in pairs], height=0.4, label="with", color="#3b75af")
    ax.set_yticks(list(y), [p[0] for p in pairs])
    ax.invert_yaxis()
    ax.set_xlabel("seconds (one quickstart step's work)")
    ax.legend()
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
