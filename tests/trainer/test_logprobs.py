"""Response log-probs and the hf engine's sampling log-probs on a tiny random Llama (float64 refs)."""

from __future__ import annotations

import pytest
import torch

from tests.trainer.conftest import TinyTokenizer
from trainer.logprobs import TokenBatch, length_chunks, predicting_hidden, response_logprobs
from trainer.rollout.base import SamplingParams
from trainer.rollout.hf import HFEngine

EOS = 2


def reference_logprobs(model, prompt, response, temperature):
    ids = torch.tensor([prompt + response])
    with torch.no_grad():
        logits = model(ids).logits[0].double() / temperature
    logp = torch.log_softmax(logits, -1)  # [seq, vocab]
    return torch.stack([logp[len(prompt) - 1 + t, tok] for t, tok in enumerate(response)])


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_response_logprobs_match_full_log_softmax(tiny, temperature):
    prompts = [[1, 5, 6, 7], [1, 9], [1, 3, 3, 3, 3, 3]]
    responses = [[10, 11, 12], [13, 14, 15, 16, 17], [20]]
    batch = TokenBatch.build(prompts, responses, pad_id=0)
    out = response_logprobs(tiny, batch, temperature, with_entropy=True)
    for i, (p, r) in enumerate(zip(prompts, responses)):
        ref = reference_logprobs(tiny, p, r, temperature)
        assert torch.allclose(out.logp[i, : len(r)].double(), ref, rtol=1e-6, atol=1e-9)
        assert torch.all(out.logp[i, len(r) :] == 0) and torch.all(out.entropy[i, len(r) :] == 0)
        assert torch.all(out.entropy[i, : len(r)] > 0)


def test_response_logprobs_have_gradients_only_through_response_positions(tiny):
    batch = TokenBatch.build([[1, 4, 5]], [[6, 7]], pad_id=0)
    out = response_logprobs(tiny, batch)
    out.logp.sum().backward()
    assert tiny.lm_head.weight.grad is not None and tiny.lm_head.weight.grad.abs().sum() > 0
    tiny.zero_grad(set_to_none=True)


def test_length_chunks_partition_the_rows_and_never_pad_more():
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        lengths = torch.randint(1, 100, (int(torch.randint(1, 20, (1,), generator=gen)),), generator=gen).tolist()
        chunks = length_chunks(lengths)
        assert sorted(i for c in chunks for i in c) == list(range(len(lengths)))
        cells = sum(len(c) * max(lengths[i] for i in c) for c in chunks)
        assert cells <= len(lengths) * max(lengths)
        if len(chunks) > 1:  # a split is only taken when it saves at least 5% of its chunk
            assert cells < len(lengths) * max(lengths)
    assert length_chunks([7] * 9) == [list(range(9))]
    assert length_chunks([80, 80, 20, 20]) == [[0, 1], [2, 3]]
    assert length_chunks([]) == []


def test_chunked_decoder_calls_equal_one_padded_call(tiny):
    prompts = [[1, 5, 6], [1, 9], [1, 3, 3, 3], [1, 4]]
    responses = [[10, 11] * 12, [13], [20, 21] * 11, [30, 31]]
    batch = TokenBatch.build(prompts, responses, pad_id=0)
    assert len(length_chunks((batch.response_start + batch.response_len).tolist())) > 1
    calls = []
    handle = tiny.get_decoder().register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs["input_ids"].shape), with_kwargs=True)
    try:
        h = predicting_hidden(tiny, batch)  # [tokens, hidden]
    finally:
        handle.remove()
    assert len(calls) > 1 and sum(c[0] * c[1] for c in calls) < batch.input_ids.numel()  # less padding
    position_ids = (batch.attention_mask.cumsum(-1) - 1).clamp(min=0)
    full = tiny.get_decoder()(input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=position_ids).last_hidden_state
    rows, cols = batch.response_mask().bool().nonzero(as_tuple=True)
    assert torch.allclose(h, full[rows, batch.response_start[rows] + cols - 1], rtol=1e-10, atol=1e-12)


def test_slice_trims_widths():
    batch = TokenBatch.build([[1, 2, 3, 4], [1]], [[5], [6, 7]], pad_id=0)
    sub = batch.slice(torch.tensor([1]))
    assert sub.input_ids.tolist() == [[1, 6, 7]] and sub.max_response == 2


@pytest.mark.parametrize("params", [SamplingParams(12), SamplingParams(12, temperature=0.7, top_k=5), SamplingParams(12, temperature=1.3, top_p=0.8)], ids=["plain", "topk", "topp"])
def test_hf_engine_logprobs_are_those_of_the_sampling_distribution(tiny, params):
    torch.manual_seed(1)
    engine = HFEngine(tiny, TinyTokenizer(), batch_size=3)
    prompts = [[1, 5, 6], [1, 7], [1, 8, 9, 10], [1, 11]]
    rollouts = engine.generate(prompts, params)
    assert [r.prompt_ids for r in rollouts] == prompts
    for r in rollouts:
        assert len(r.logprobs) == len(r.response_ids) <= 12
        assert r.finished == (r.response_ids[-1] == EOS) and EOS not in r.response_ids[:-1]
        ids = torch.tensor([r.prompt_ids + r.response_ids])
        with torch.no_grad():
            logits = tiny(ids).logits[0, len(r.prompt_ids) - 1 : -1].double() / params.temperature  # [resp, vocab]
        if params.top_k:
            kth = logits.topk(params.top_k, -1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if params.top_p < 1.0:
            sorted_logits, order = logits.sort(-1, descending=False)
            cum = sorted_logits.softmax(-1).cumsum(-1)
            remove = cum <= 1 - params.top_p
            remove[:, -1] = False
            logits = logits.masked_fill(remove.scatter(1, order, remove), float("-inf"))
        ref = torch.log_softmax(logits, -1).gather(1, torch.tensor(r.response_ids)[:, None]).squeeze(1)
        assert torch.allclose(torch.tensor(r.logprobs, dtype=torch.float64), ref, rtol=1e-5, atol=1e-6)


def test_greedy_generation_is_deterministic(tiny):
    engine = HFEngine(tiny, TinyTokenizer())
    a = engine.generate([[1, 5, 6]] * 2, SamplingParams(8, greedy=True))
    b = engine.generate([[1, 5, 6]], SamplingParams(8, greedy=True))
    assert a[0].response_ids == a[1].response_ids == b[0].response_ids


def test_response_ids_are_the_right_padded_responses():
    batch = TokenBatch.build([[1, 2, 3, 4], [1]], [[5], [6, 7]], pad_id=0)
    assert batch.response_ids().tolist() == [[5, 0], [6, 7]]


def test_shared_prompt_forward_gives_the_full_rows_values_and_gradients(tiny):
    """Groups of rows repeating a prompt, responses of 1 to 9 tokens: log-probs and every
    parameter's gradient equal those of each full row through the model on its own (float64; Llama's
    RMSNorm computes in float32 whatever the dtype, so sums taken in another order differ at that
    precision)."""
    gen = torch.Generator().manual_seed(3)
    prompts = [[1, 5, 6], [1, 9], [1, 3, 3, 3, 7]]
    rows_prompts, rows_responses = [], []
    for p in prompts:
        for _ in range(4):
            rows_prompts.append(p)
            rows_responses.append(torch.randint(3, 64, (int(torch.randint(1, 10, (1,), generator=gen)),), generator=gen).tolist())
    rows_responses[0] = [40]  # a one-token response predicts from the prompt's last position only
    weights = torch.rand((len(rows_prompts), 9), generator=gen, dtype=torch.float64)
    batch = TokenBatch.build(rows_prompts, rows_responses, pad_id=0)
    out = response_logprobs(tiny, batch, 0.8)
    (out.logp * weights[:, : batch.max_response]).sum().backward()
    grads = {n: p.grad.clone() for n, p in tiny.named_parameters()}
    tiny.zero_grad(set_to_none=True)
    total = 0
    for i, (p, r) in enumerate(zip(rows_prompts, rows_responses)):
        logits = tiny(torch.tensor([p + r])).logits[0, len(p) - 1 : -1] / 0.8  # [resp, vocab]
        ref = torch.log_softmax(logits, -1).gather(1, torch.tensor(r)[:, None]).squeeze(1)  # [resp]
        assert torch.allclose(out.logp[i, : len(r)].detach(), ref.detach(), rtol=1e-9, atol=1e-11)
        total = total + (ref * weights[i, : len(r)]).sum()
    total.backward()
    for name, param in tiny.named_parameters():
        assert (grads[name] - param.grad).norm() <= 1e-5 * param.grad.norm(), name
    tiny.zero_grad(set_to_none=True)


def test_a_shared_prompt_goes_through_the_decoder_once(tiny):
    prompts = [[1, 5, 6, 7, 8, 9]] * 4 + [[1, 2, 3, 4, 5, 6, 7]] * 4
    responses = [[10, 11, 12]] * 8
    seen = []  # (rows, tokens) of each decoder call
    handle = tiny.get_decoder().register_forward_pre_hook(lambda module, args, kwargs: seen.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        with torch.no_grad():
            predicting_hidden(tiny, TokenBatch.build(prompts, responses, pad_id=0))
    finally:
        handle.remove()
    assert seen[0] == (2, 7)  # the two distinct prompts, left-padded to the longer
    assert seen[1:] == [(8, 2)]  # then every row's response tokens but the last, after its cached prompt


def test_hf_engine_prefills_each_distinct_prompt_once_and_drops_finished_rows(tiny):
    calls = []  # rows of each model call
    handle = tiny.register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs["input_ids"].shape), with_kwargs=True)
    torch.manual_seed(0)
    try:
        rollouts = HFEngine(tiny, TinyTokenizer()).generate([[1, 5, 6]] * 8 + [[1, 7]] * 8, SamplingParams(40, temperature=2.0))
    finally:
        handle.remove()
    assert tuple(calls[0]) == (2, 3)  # one prefill over the two distinct prompts
    rows = [c[0] for c in calls[1:]]
    assert all(c[1] == 1 for c in calls[1:]) and rows == sorted(rows, reverse=True)  # one token per call, never more rows
    lengths = sorted((len(r.response_ids) for r in rollouts), reverse=True)
    assert lengths[-1] < 40, "no response ended early: the check would be empty"
    # Decode call t (t = 1, 2, ...) holds exactly the rows whose response is longer than t tokens.
    assert rows == [sum(n > t for n in lengths) for t in range(1, len(rows) + 1)]
    assert len(rows) == lengths[0] - 1


def test_gradient_checkpointing_gives_the_same_log_probs_and_gradients(tiny):
    """The full-row forward under checkpointing equals the shared-prompt forward, values and
    gradients, in float64 (up to RMSNorm's float32 arithmetic, as above)."""
    batch = TokenBatch.build([[1, 5, 6], [1, 5, 6], [1, 7], [1, 9, 9, 4]], [[10, 11, 12], [13], [14, 15], [16, 17, 18, 19]], 0)
    weights = torch.randn(batch.response_mask().shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    results, decoder_calls = [], []
    handle = tiny.get_decoder().register_forward_pre_hook(lambda module, args: decoder_calls.append(1))
    for checkpointing in (False, True):
        if checkpointing:
            tiny.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        tiny.train()
        tiny.zero_grad(set_to_none=True)
        decoder_calls.clear()
        try:
            out = response_logprobs(tiny, batch, 0.9, support_ids=None)
            (out.logp * weights).sum().backward()
            results.append((out.logp.detach(), [p.grad.clone() for p in tiny.parameters()], len(decoder_calls)))
        finally:
            tiny.gradient_checkpointing_disable()
            tiny.eval()
            tiny.zero_grad(set_to_none=True)
    handle.remove()
    (_, _, shared_calls), (_, _, full_calls) = results
    assert shared_calls > 1 and full_calls == 1  # the shared prompt passes, then one call on the full rows
    results = [r[:2] for r in results]
    (lp0, g0), (lp1, g1) = results
    assert torch.allclose(lp0, lp1, rtol=1e-9, atol=1e-11)
    assert all((a - b).norm() <= 1e-5 * a.norm() for a, b in zip(g0, g1))
    assert any(a.norm() > 0 for a in g0)


def test_experience_to_moves_the_token_batch_too():
    """The token batch moves with the tensors: the training forward on a GPU embeds its ids there."""
    from trainer.experience import Experience
    from trainer.rollout.base import Rollout

    rollouts = [Rollout([1, 2], [3, 4], [-0.1, -0.2], True), Rollout([1, 2], [5], [-0.3], False)]
    exp = Experience.build(rollouts, torch.tensor([1.0, 0.0]), torch.tensor([0, 0]), 0, records=[{}, {}]).to(torch.device("meta"))
    tensors = [exp.tokens.input_ids, exp.tokens.attention_mask, exp.tokens.response_start, exp.tokens.response_len, exp.mask, exp.rewards, exp.group_ids, exp.rollout_logp, exp.finished]
    assert {t.device.type for t in tensors} == {"meta"}
    assert exp.records == [{}, {}]
