"""The benchmarks' own arithmetic: what vs_trl.py reports, and that speed_sources.py's baselines
compute the same log-probs as verity (so each comparison times the same result)."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from tests.conftest import load_script
from trainer.logprobs import TokenBatch, response_logprobs


@pytest.fixture(scope="module")
def vs_trl():
    return load_script("bench/vs_trl.py", "bench_vs_trl")


@pytest.fixture(scope="module")
def speed_sources():
    return load_script("bench/speed_sources.py", "bench_speed_sources")


def test_vs_trl_accounts_training_time_to_each_evaluation(vs_trl):
    steps = [{"step": k, "time/step": t, "time/generate": g, "tokens/generated": n} for k, t, g, n in [(1, 10.0, 4.0, 100), (2, 30.0, 6.0, 300), (3, 20.0, 5.0, 200), (4, 40.0, 5.0, 400)]]
    evals = [{"step": 0, "eval/accuracy": 0.2}, {"step": 2, "eval/accuracy": 0.55}, {"step": 4, "eval/accuracy": 0.625}]
    run = vs_trl.Run("x", steps, evals)
    assert run.curve() == [(0.0, 0.2), (40.0, 0.55), (100.0, 0.625)]  # evaluation time is not in the steps
    assert run.seconds_to(0.6) == 100.0 and run.seconds_to(0.5) == 40.0 and run.seconds_to(0.7) is None
    assert run.median_step_s() == 25.0
    assert run.tokens_per_s() == pytest.approx(1000 / 20)
    assert run.final_accuracy() == 0.625
    assert vs_trl.ratio(50.0, 100.0) == "0.50" and vs_trl.ratio(None, 100.0) == "n/a"


def test_speed_source_baselines_give_verity_log_probs(speed_sources):
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    model = LlamaForCausalLM(config).double().eval()
    prompts = [[1, 5, 6]] * 3 + [[1, 9]] * 3
    responses = [[7, 8, 9], [10], [11, 12, 13, 14, 15], [16, 17], [18, 19, 20, 21], [22]]
    batch = TokenBatch.build(prompts, responses, pad_id=0)
    with torch.no_grad():
        ours = response_logprobs(model, batch).logp  # [rows, max_response]
        for baseline in (speed_sources.textbook_logprobs, speed_sources.full_row_logprobs):
            theirs = baseline(model, batch)
            assert theirs.shape == ours.shape
            assert torch.allclose(theirs.double(), ours, rtol=1e-6, atol=1e-8), baseline.__name__
