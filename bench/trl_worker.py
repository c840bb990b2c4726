"""TRL's GRPOTrainer on a run described by bench/vs_trl.py; runs inside TRL's own virtual environment.

Reads a JSON spec (model folder, the training prompts in the order verity samples them, the
held-out prompts already tokenized, the shared hyperparameters) and writes a JSON record: per step
its wall-clock seconds (evaluation excluded), generation seconds, generated tokens and mean reward;
held-out greedy accuracy every ``eval_every`` steps. The reward rule is verity's math check
(``rewards.math.check.check_one``), imported from the repository, not reimplemented.

    python bench/trl_worker.py SPEC.json OUT.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from rewards.math.check import check_one  # noqa: E402
from trainer.rollout.base import response_length  # noqa: E402
from trainer.rollout.shared_prompts import left_pad  # noqa: E402


def correct(text: str, answer: str) -> float:
    return check_one(text, answer)[1]


def reward(completions, answer, **_) -> list[float]:
    """1 when the completion's final answer equals the reference (verity's math check), else 0."""
    return [correct(c[-1]["content"] if isinstance(c, list) else c, a) for c, a in zip(completions, answer)]


class GenerationClock:
    """Wraps ``model.generate``: seconds and generated tokens of training rollouts."""

    def __init__(self, model, eos: set[int]):
        self.original, self.eos = model.generate, eos
        self.seconds, self.tokens = 0.0, 0

    def __call__(self, *args, **kwargs):
        t = time.perf_counter()
        out = self.original(*args, **kwargs)
        self.seconds += time.perf_counter() - t
        width = (kwargs.get("input_ids") if kwargs.get("input_ids") is not None else args[0]).shape[1]
        self.tokens += sum(response_length(row, self.eos) for row in out[:, width:].tolist())
        return out


@torch.no_grad()
def heldout_accuracy(model, tokenizer, prompts: list[list[int]], answers: list[str], max_new_tokens: int, generate) -> float:
    """Greedy decoding of every held-out prompt in one left-padded batch, scored by the math check."""
    was_training = model.training
    model.eval()
    ids, attn = left_pad(prompts, tokenizer.pad_token_id)  # [test, width] each
    out = generate(input_ids=ids, attention_mask=attn, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
    model.train(was_training)
    return sum(correct(t, a) for t, a in zip(texts, answers)) / len(answers)


class Recorder(TrainerCallback):
    """Step wall-clock (begin to end of the optimizer step), then held-out evaluation outside it."""

    def __init__(self, spec: dict, clock: GenerationClock, evaluate):
        self.spec, self.clock, self.evaluate = spec, clock, evaluate
        self.steps: list[dict] = []
        self.evals: list[dict] = []
        self._t0 = self._gen_s = 0.0
        self._gen_tokens = 0

    def on_step_begin(self, args, state, control, **kwargs):
        self._t0, self._gen_s, self._gen_tokens = time.perf_counter(), self.clock.seconds, self.clock.tokens

    def on_step_end(self, args, state, control, **kwargs):
        seconds = time.perf_counter() - self._t0
        self.steps.append({"step": state.global_step, "time/step": seconds, "time/generate": self.clock.seconds - self._gen_s, "tokens/generated": self.clock.tokens - self._gen_tokens})
        every = self.spec["eval_every"]
        if every and (state.global_step % every == 0 or state.global_step == self.spec["steps"]):
            self.evals.append({"step": state.global_step, "eval/accuracy": self.evaluate()})
        print(f"trl step {state.global_step}: {seconds:.1f} s", file=sys.stderr, flush=True)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "reward" in logs and self.steps and self.steps[-1]["step"] == state.global_step:
            self.steps[-1]["reward/mean"] = logs["reward"]


def grpo_config(spec: dict, **changes) -> GRPOConfig:
    """TRL's settings for ``spec``'s shared hyperparameters, ``changes`` on top."""
    settings = dict(
        output_dir=spec["output_dir"],
        max_steps=spec["steps"],
        per_device_train_batch_size=spec["micro_batch_size"],
        gradient_accumulation_steps=spec["prompts_per_step"] * spec["group_size"] // spec["micro_batch_size"],
        num_generations=spec["group_size"],
        max_completion_length=spec["max_new_tokens"],
        temperature=spec["temperature"],
        learning_rate=spec["lr"],
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=spec["grad_clip"],
        beta=0.0,
        loss_type="dapo",  # token-mean over the whole step's tokens, as verity's default token-mean
        scale_rewards="group",
        num_iterations=1,
        shuffle_dataset=False,  # the spec's order is verity's sampling order: the same prompts per step
        gradient_checkpointing=False,  # TRL's default is on; off is faster for a model this small
        bf16=False,
        use_cpu=True,
        seed=spec["seed"],
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
    )
    return GRPOConfig(**(settings | changes))


def train_dataset(spec: dict) -> Dataset:
    return Dataset.from_list([{"prompt": p["messages"], "answer": p["answer"]} for p in spec["train"]])


def main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    torch.manual_seed(spec["seed"])
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=torch.float32)
    eos = {int(i) for i in (model.generation_config.eos_token_id if isinstance(model.generation_config.eos_token_id, list) else [model.generation_config.eos_token_id])}
    clock = GenerationClock(model, eos)
    model.generate = clock
    test = spec["test"]

    def evaluate() -> float:
        return heldout_accuracy(model, tokenizer, test["prompt_ids"], test["answers"], spec["max_new_tokens"], clock.original)

    recorder = Recorder(spec, clock, evaluate)
    if spec["eval_every"]:
        recorder.evals.append({"step": 0, "eval/accuracy": evaluate()})
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=grpo_config(spec), train_dataset=train_dataset(spec), processing_class=tokenizer, callbacks=[recorder])
    trainer.train()
    Path(out_path).write_text(json.dumps({"steps": recorder.steps, "evals": recorder.evals}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
