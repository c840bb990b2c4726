"""One process of a data-parallel check: trains a tiny float64 Llama for a few steps of every
algorithm family and, on rank 0, saves the parameters and step metrics of each.

    python -m torch.distributed.run --standalone --nproc_per_node N tests/distributed/worker.py OUT_DIR PARALLEL FAMILY...

Run with N = 1 and N = 2 (PARALLEL: ddp or fsdp), the OUT_DIRs must hold the same parameters (to
float64 rounding) and the same rollouts and rewards. The task is small and exact: prompts are
lists of token ids, and a response earns 1 when it holds more even than odd token ids (a rule of
the response text alone, like any verifier's). Llama's RMSNorm computes in float32 whatever the
dtype; here it computes in float64, so that the full-row forward of fsdp and the shared-prompt
forward of one process agree to float64 rounding.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaRMSNorm

from contract.schema import Sample, Score, Status
from trainer.config import load_config
from trainer.loop import Trainer
from trainer.rollout.hf import HFEngine
from trainer.world import World

COMMON = [
    "rollout.prompts_per_step=5",  # shared 3 / 2 between two processes
    "rollout.group_size=4",
    "rollout.max_new_tokens=8",
    "rollout.temperature=1.3",
    "train.micro_batch_size=4",
    "train.threads=1",
    "train.device=cpu",
    "optim.lr=1e-2",
    "data.chat_template=false",
]
FAMILIES = {
    "token-mean": ["algorithm.updates_per_batch=2"],
    "seq-mean": ["algorithm.loss_agg=seq-mean-token-mean", "algorithm.dash.preemptive=false"],
    "otb": ["algorithm.advantage=otb"],
    "dppo-topk": ["algorithm.loss=dppo_kl_topk", "algorithm.dppo.top_k=5"],
    "dapo": ["algorithm.loss=dapo", "algorithm.dapo.dynamic_sampling=true", "algorithm.dapo.max_sampling_rounds=2"],
    "dash": ["algorithm.dash.filter_tau=0.1"],
    "combined": ["algorithm.rlpt.top_k=8", "algorithm.advantage=otb", "algorithm.loss=dppo_tv_topk", "algorithm.dppo.top_k=6", "algorithm.dash.filter_tau=0.1"],
}
STEPS = 2


class DigitTokenizer:
    """Text <-> ids for the tiny vocabulary: a text is its ids written out, space-separated."""

    pad_token_id, eos_token_id = 0, 2

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        return {"input_ids": [1] + [int(t) for t in text.split()]}

    def batch_decode(self, ids: list[list[int]], skip_special_tokens: bool = True) -> list[str]:
        return [" ".join(str(i) for i in row if i > 2) for row in ids]


def score(samples: list[Sample]) -> list[Score]:
    """1 when the response holds more even than odd ids."""
    out = []
    for s in samples:
        ids = [int(t) for t in (s.response or "").split()]
        right = sum(i % 2 == 0 for i in ids) > sum(i % 2 == 1 for i in ids)
        out.append(Score(s.id, float(right), Status.OK if right else Status.WRONG))
    return out


def rms_norm_in_float64(self, hidden_states: torch.Tensor) -> torch.Tensor:
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * hidden_states * torch.rsqrt(variance + self.variance_epsilon)


LlamaRMSNorm.forward = rms_norm_in_float64


def tiny_model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, eos_token_id=2, pad_token_id=0, bos_token_id=1)
    return LlamaForCausalLM(config).double()


def main(out: Path, parallel: str, families: list[str]) -> None:
    world = World.start("cpu")
    prompts = [Sample(id=f"p{i}", prompt=" ".join(str(3 + (i * 7 + j) % 30) for j in range(2 + i % 3)), reference={}) for i in range(40)]
    for family in families:
        cfg = load_config(None, [*COMMON, *FAMILIES[family], f"train.parallel={parallel}", f"train.output_dir={out / family}"])
        model, tokenizer = tiny_model(), DigitTokenizer()
        trainer = Trainer(cfg, model, tokenizer, HFEngine(model, tokenizer), score, prompts, [], world=world)
        metrics = []
        for _ in range(STEPS):
            metrics.append(trainer.train_step())
            trainer.step += 1
        weights = {name: tensor.clone() for name, tensor in trainer.parallel.weights()}  # whole, gathered from the shards under fsdp
        if world.is_main:
            (out / family).mkdir(parents=True, exist_ok=True)
            torch.save(weights, out / family / "params.pt")
            (out / family / "metrics.json").write_text(json.dumps(metrics))
    world.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3:])
