"""TRL's GRPOTrainer taking one optimizer step on a given batch; runs inside TRL's virtual environment.

Reads the spec bench/update_vs_trl.py writes (bench/trl_worker.py's spec for one step, plus the
batch: each row's prompt ids and response ids), loads the model in float64 and replays the batch's
responses in place of ``model.generate``, so TRL scores them (verity's math check), computes its
advantages, loss, clipping and AdamW step exactly as in training. Writes a torch file: each
parameter's gradient as the optimizer receives it (after clipping) and its change after the step,
TRL's rewards and advantages in the batch's row order, and TRL's logged gradient norm.

    python bench/trl_update_worker.py SPEC.json OUT.pt
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict, deque
from pathlib import Path

import torch
import trl_worker
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import GRPOTrainer


class ReplayedResponses:
    """Takes the place of ``model.generate``: each prompt row gets the batch's next response to that
    prompt, so TRL trains on exactly the batch verity trains on."""

    def __init__(self, prompts: list[list[int]], responses: list[list[int]], pad_id: int):
        self.responses, self.pad_id = responses, pad_id
        self.waiting: dict[tuple[int, ...], deque[int]] = defaultdict(deque)
        for row, prompt in enumerate(prompts):
            self.waiting[tuple(prompt)].append(row)
        self.order: list[int] = []  # the batch row of each row TRL generated, in TRL's order

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_) -> torch.Tensor:
        rows = []
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist()):
            prompt = tuple(t for t, m in zip(ids, mask) if m)
            if not self.waiting.get(prompt):
                raise SystemExit(f"TRL's prompt {prompt[:12]}... is not one of the batch's (or has no response left): its chat template gives other tokens than verity's")
            rows.append(self.waiting[prompt].popleft())
        self.order += rows
        width = max(len(self.responses[r]) for r in rows)
        out = torch.full((len(rows), input_ids.shape[1] + width), self.pad_id, dtype=input_ids.dtype)  # [rows, prompt + response]
        out[:, : input_ids.shape[1]] = input_ids
        for k, r in enumerate(rows):
            out[k, input_ids.shape[1] : input_ids.shape[1] + len(self.responses[r])] = torch.tensor(self.responses[r])
        return out

    def left(self) -> int:
        return sum(len(rows) for rows in self.waiting.values())


class GradientTap(TrainerCallback):
    """The gradient the optimizer receives (after clipping) and the logged gradient norm."""

    def __init__(self, model):
        self.model = model
        self.grads: dict[str, torch.Tensor] = {}
        self.grad_norm = float("nan")

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        self.grads = {name: p.grad.detach().clone() for name, p in self.model.named_parameters()}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "grad_norm" in logs:
            self.grad_norm = float(logs["grad_norm"])


def main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    torch.manual_seed(spec["seed"])
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    batch = spec["batch"]
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=torch.float64)
    replay = ReplayedResponses(batch["prompt_ids"], batch["response_ids"], tokenizer.pad_token_id)
    model.generate = replay
    rewards: list[float] = []

    def reward(completions, answer, **_) -> list[float]:
        values = trl_worker.reward(completions, answer)
        rewards.extend(values)
        return values

    tap = GradientTap(model)
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=trl_worker.grpo_config(spec, max_steps=1), train_dataset=trl_worker.train_dataset(spec), processing_class=tokenizer, callbacks=[tap])
    advantages: list[torch.Tensor] = []
    generate_and_score = trainer._generate_and_score_completions

    def recorded(inputs):
        output = generate_and_score(inputs)
        advantages.append(output["advantages"].detach().clone())
        return output

    trainer._generate_and_score_completions = recorded
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer.train()
    if replay.left():
        raise SystemExit(f"TRL trained on {len(replay.order)} rows and left {replay.left()} of the batch unused")
    order = torch.tensor(replay.order)  # [batch]: TRL's row k is the batch's row order[k]
    in_batch_order = torch.empty_like(order)
    in_batch_order[order] = torch.arange(len(order))
    result = {
        "rewards": torch.tensor(rewards, dtype=torch.float64)[in_batch_order],
        "advantages": torch.cat(advantages).double()[in_batch_order],
        "grad_norm": tap.grad_norm,
        "grads": tap.grads,
        "deltas": {name: p.detach() - before[name] for name, p in model.named_parameters()},
    }
    torch.save(result, out_path)


if __name__ == "__main__":
    main(*sys.argv[1:3])
