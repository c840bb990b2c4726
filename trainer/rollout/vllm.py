"""The ``vllm`` engine: an in-process vLLM engine, its weights synced from the trainer in memory.

Log-probs are vLLM's ``processed_logprobs``: those of the distribution each token was sampled from,
after temperature, top-k and top-p, which is what :class:`~trainer.rollout.base.Rollout` records
(the ``hf`` engine records the same). Top-K ids and log-probs come from vLLM's per-token logprobs
(``SamplingParams.logprobs = K``), with the sampled token forced in as the K-th entry when it is not
among the K most likely. Stop strings are vLLM's own (kept in the output); a tool episode's later
turns resubmit the episode so far as the prompt, and vLLM's prefix cache reuses its computed blocks.

Weight sync after an optimizer step: the trainer's weights by state-dict name (which names tied
weights such as SmolLM2's ``lm_head`` too), one tensor at a time (gathered whole from the shards
under fsdp), go to the model runner's in-place ``reload_weights``, then the prefix cache is reset;
nothing is written to disk and the engine is not restarted. On a GPU the
engine can sleep (its weights and KV cache released) while the trainer updates and wake up for
the next generation, so both share one device.

vLLM is imported only when this engine is built: ``pip install 'verity[vllm]'`` on a GPU machine,
``python -m trainer.rollout.vllm_install`` for the community CPU build.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import torch

from trainer.rollout.base import Rollout, RolloutEngine, SamplingParams

NEG_INF = float("-inf")


class VLLMEngine(RolloutEngine):
    def __init__(self, model_path: str, dtype: str = "float32", seed: int = 0, max_model_len: int = 2048, max_logprobs: int = 20, sleep: bool = False, kv_cache_gib: float = 2.0, **engine_args: Any):
        """model_path: a local HF model folder; max_logprobs: the largest top-K asked for;
        kv_cache_gib: the KV cache's size (vLLM's default takes most of the device, or of the
        machine's RAM on CPU, and the trainer needs its share); sleep:
        release the GPU memory between generations (CUDA only); engine_args: passed to
        ``vllm.LLM`` unchanged (``gpu_memory_utilization``, ``enforce_eager``, which defaults to
        True on CPU)..."""
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine in this process: weights synced by reference
        from vllm import LLM

        self.sleep_between = sleep and torch.cuda.is_available()
        engine_args.setdefault("enforce_eager", not torch.cuda.is_available())  # CPU: no graph capture or compile
        engine_args.setdefault("enable_prefix_caching", True)  # a tool episode's turns share its prefix
        self.llm = LLM(
            model=model_path, dtype=dtype, seed=seed, max_model_len=max_model_len, max_logprobs=max(max_logprobs, 1),
            logprobs_mode="processed_logprobs", enable_sleep_mode=self.sleep_between, kv_cache_memory_bytes=int(kv_cache_gib * 2**30), **engine_args,
        )  # fmt: skip
        self.asleep = False

    def generate(self, prompts: list[list[int]], params: SamplingParams, seeds: list[int] | None = None, budgets: list[int] | None = None) -> list[Rollout]:
        from vllm import SamplingParams as VSampling

        self.wake()
        k = 0 if params.greedy else params.topk_logprobs
        if seeds is None:
            seeds = torch.randint(0, 2**62, (len(prompts),)).tolist()
        budgets = budgets if budgets is not None else [params.max_new_tokens] * len(prompts)
        sampling = [
            VSampling(
                max_tokens=min(budget, params.max_new_tokens), temperature=0.0 if params.greedy else params.temperature,
                top_k=params.top_k if params.top_k > 0 and not params.greedy else 0, top_p=1.0 if params.greedy else params.top_p,
                logprobs=k, seed=seed, stop=list(params.stop), include_stop_str_in_output=True,
            )
            for seed, budget in zip(seeds, budgets)
        ]  # fmt: skip
        outputs = self.llm.generate([{"prompt_token_ids": p} for p in prompts], sampling, use_tqdm=False)
        return [self._rollout(prompt, out.outputs[0], k) for prompt, out in zip(prompts, outputs)]

    @staticmethod
    def _rollout(prompt: list[int], out, k: int) -> Rollout:
        ids = list(out.token_ids)
        logprobs = [step[t].logprob for t, step in zip(ids, out.logprobs)] if out.logprobs else [0.0] * len(ids)
        topk_ids = topk_logprobs = None
        if k:
            topk_ids = torch.empty(len(ids), k, dtype=torch.int32)  # [response_len, K]
            topk_logprobs = torch.full((len(ids), k), NEG_INF, dtype=torch.float32)  # [response_len, K]
            for t, (token, step) in enumerate(zip(ids, out.logprobs)):
                ranked = sorted(step.items(), key=lambda item: item[1].rank)[:k]  # the K most likely, then maybe the sampled one
                if token not in dict(ranked):
                    ranked[-1] = (token, step[token])
                for j, (tid, lp) in enumerate(ranked):
                    topk_ids[t, j], topk_logprobs[t, j] = tid, lp.logprob
        at_stop_string = isinstance(out.stop_reason, str)  # stop_reason: the stop string matched, None at EOS
        return Rollout(prompt, ids, logprobs, out.finish_reason == "stop" and not at_stop_string, topk_ids, topk_logprobs, stopped=at_stop_string)

    @torch.no_grad()
    def update_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        self.wake()
        self.llm.collective_rpc(lambda worker: worker.model_runner.reload_weights(weights_iterator=iter(weights)))
        self.llm.reset_prefix_cache()

    def sleep(self) -> None:
        if self.sleep_between and not self.asleep:
            self.llm.sleep(level=1)
            self.asleep = True

    def wake(self) -> None:
        if self.asleep:
            self.llm.wake_up()
            self.asleep = False
