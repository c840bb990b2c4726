"""The benchmarks' own arithmetic: what vs_trl.py reports, and that speed_sources.py's baselines
compute the same log-probs as verity (so each comparison times the same result)."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from tests.conftest import load_script
from trainer.logprobs import TokenBatch, response_logprobs


@pytest.fixture(scope="module")
def vs_trl():
    return load_script("bench/vs_trl.py", "bench_vs_trl")


@pytest.fixture(scope="module")
def update_vs_trl():
    return load_script("bench/update_vs_trl.py", "bench_update_vs_trl")


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


def fake_run(vs_trl, name: str, step_s: float, accuracies: list[float], rss: float = 1000.0):
    """A vs_trl.Run of len(accuracies) - 1 two-step evaluation intervals, every step ``step_s`` long."""
    steps = [{"step": k, "time/step": step_s, "time/generate": step_s / 2, "tokens/generated": 100} for k in range(1, 2 * len(accuracies) - 1)]
    evals = [{"step": 2 * k, "eval/accuracy": a} for k, a in enumerate(accuracies)]
    return vs_trl.Run(name, steps, evals, rss, wall_s=step_s * len(steps) + 5)


def test_vs_trl_median_time_counts_unreached_runs_as_latest(vs_trl):
    assert vs_trl.median_time([100.0, None, 50.0]) == 100.0
    assert vs_trl.median_time([None, None, 50.0]) is None
    assert vs_trl.median_time([10.0, 20.0]) == 15.0
    assert vs_trl.median_time([10.0, None]) is None


def test_vs_trl_summarizes_seeds_and_round_trips_through_json(vs_trl):
    verity = [fake_run(vs_trl, "verity", 10.0, [0.2, 0.5, 0.7]), fake_run(vs_trl, "verity", 12.0, [0.2, 0.3, 0.5]), fake_run(vs_trl, "verity", 11.0, [0.2, 0.6, 0.8])]
    trl = [fake_run(vs_trl, "TRL", 30.0, [0.2, 0.65, 0.9]), fake_run(vs_trl, "TRL", 33.0, [0.2, 0.4, 0.62]), fake_run(vs_trl, "TRL", 31.0, [0.2, 0.3, 0.5])]
    settings = {"steps": 4, "eval_every": 2, "target": 0.6, "threads": 0, "cpus": 2, "command": "python bench/vs_trl.py --steps 4"}
    c = vs_trl.Comparison(settings, [0, 1, 2], verity, trl)
    rows = {name: (v, t) for name, v, t, _ in c.headline()}
    assert rows["seconds per step (median)"] == (11.0, 31.0)
    assert rows["held-out accuracy after 4 steps (mean)"] == pytest.approx((2.0 / 3, 2.02 / 3))
    # to 60%: verity 40 s, not reached, 22 s -> median 40 s; TRL 60 s, 132 s, not reached -> 132 s
    assert rows["training wall-clock to 60% held-out"] == (40.0, 132.0)
    assert c.accuracy_by_step(verity)[2] == [0.5, 0.3, 0.6]
    text = vs_trl.report(c)
    assert "| training wall-clock to 60% held-out | 40 s | 132 s | 0.30 |" in text
    assert "| 1 | 12.0 | 33.0 | 50.0% | 62.0% | not reached | 132 s | n/a |" in text
    assert "| 2 | 46.7% (50% / 30% / 60%) | 45.0% (65% / 40% / 30%) |" in text
    paired = c.paired()  # verity minus TRL, seed by seed
    assert paired["after 4 steps"] == pytest.approx([-0.2, -0.12, 0.3])
    assert paired["averaged over the evaluations"] == pytest.approx([0.6 - 0.775, 0.4 - 0.51, 0.7 - 0.4])  # step 0 left out
    assert "- after 4 steps: -20.0 / -12.0 / +30.0; mean -0.7 +/- 15.5" in text
    again = vs_trl.Comparison.from_json(json.loads(json.dumps(c.to_json())))
    assert vs_trl.report(again) == text


def test_vs_trl_mean_and_standard_error(vs_trl):
    assert vs_trl.mean_and_error([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0 / 3**0.5))
    assert vs_trl.mean_and_error([5.0]) == (5.0, 0.0)


def test_vs_trl_reuses_only_a_finished_run_with_the_same_settings(vs_trl, tmp_path, monkeypatch):
    args = argparse.Namespace(work=tmp_path, steps=4, eval_every=2, threads=0, reuse=True)
    kept = fake_run(vs_trl, "verity", 10.0, [0.2, 0.7])
    (tmp_path / "seed3").mkdir()
    (tmp_path / "seed3" / "verity.run.json").write_text(json.dumps({"settings": {"seed": 3, "steps": 4, "eval_every": 2, "threads": 0}, "run": dataclasses.asdict(kept)}))

    def must_not_train(*_):
        raise RuntimeError("trained again")

    monkeypatch.setattr(vs_trl, "run_verity", must_not_train)
    assert vs_trl.run_side(args, 3, "verity") == kept
    for changed in ({"steps": 8}, {"reuse": False}):
        with pytest.raises(RuntimeError, match="trained again"):
            vs_trl.run_side(argparse.Namespace(**{**vars(args), **changed}), 3, "verity")


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


def test_update_check_measures_the_difference_and_the_worst_tensor(update_vs_trl):
    trl = {"a": torch.tensor([3.0, 4.0], dtype=torch.float64), "b": torch.tensor([0.0, 1.0], dtype=torch.float64)}
    verity = {"a": trl["a"].clone(), "b": torch.tensor([0.0, 1.1], dtype=torch.float64)}
    d = update_vs_trl.Difference.of(verity, trl)
    assert d.relative == pytest.approx(0.1 / 26**0.5)  # ||(0, 0, 0, 0.1)|| / ||(3, 4, 0, 1)||
    assert d.cosine == pytest.approx((25 + 1.1) / (26 * 26.21) ** 0.5)
    assert (d.worst_name, d.worst_relative) == ("b", pytest.approx(0.1))
    same = update_vs_trl.Difference.of(trl, trl)
    assert same.relative == 0.0 and same.cosine == pytest.approx(1.0)
    with pytest.raises(SystemExit, match="parameters differ"):
        update_vs_trl.Difference.of({"a": trl["a"]}, trl)


def test_update_check_finds_a_log_prob_off_the_policy(update_vs_trl):
    from tests.trainer.test_logprobs import TinyTokenizer

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, eos_token_id=2, pad_token_id=0, bos_token_id=1)
    model = LlamaForCausalLM(config).double().eval()
    rollouts = update_vs_trl.HFEngine(model, TinyTokenizer()).generate([[1, 5, 6]] * 4 + [[1, 7]] * 4, update_vs_trl.SamplingParams(12, temperature=1.5))
    largest, mean = update_vs_trl.sampling_gap(model, rollouts, 1.5)
    assert largest < 1e-5  # the engine's float32 sampling distribution is the policy's
    rollouts[5].logprobs[-1] += 0.5
    tokens = sum(len(ro.response_ids) for ro in rollouts)
    largest, mean = update_vs_trl.sampling_gap(model, rollouts, 1.5)
    assert largest == pytest.approx(0.5, abs=1e-5) and mean == pytest.approx(0.5 / tokens, abs=1e-5)
    rollouts[5].logprobs[-1] -= 0.5
    assert update_vs_trl.sampling_gap(model, rollouts, 2.0)[0] > 1e-3  # another temperature is another distribution
    assert update_vs_trl.position_shift_gap(model, rollouts, 1.5, shift=0) == 0.0
    assert 0.0 < update_vs_trl.position_shift_gap(model, rollouts, 1.5, shift=8) < 1e-5  # rotary: only relative positions count, up to float32 angles


@pytest.fixture(scope="module")
def code_run_report():
    return load_script("bench/code_run_report.py", "bench_code_run_report")


def test_code_run_report_percentiles_match_numpy(code_run_report):
    import numpy as np

    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100):
        values = rng.exponential(size=n).tolist()
        for q in (0.5, 0.99):
            assert code_run_report.percentile(values, q) == pytest.approx(float(np.percentile(values, 100 * q)))


def test_code_run_report_counts_each_sandbox_call(code_run_report):
    rollouts = [
        {"step": 1, "components": {"sandbox_calls": 2.0, "sandbox_s": 0.5}},
        {"step": 1, "components": {"sandbox_calls": 0.0, "sandbox_s": 0.0}},  # no program: no call
        {"step": 2, "components": {}},
        {"step": 2, "components": {"sandbox_calls": 1.0, "sandbox_s": 0.1}},
    ]
    assert code_run_report.per_unit(rollouts, "sandbox_s", "sandbox_calls") == {1: [0.25, 0.25], 2: [0.1]}


def test_tool_run_report_compares_the_runs_step_for_step():
    report = load_script("bench/tool_run_report.py", "bench_tool_run_report")
    tool = [{"step": 0, "eval/accuracy": 0.0, "eval/tool_calls": 0.25}] + [{"step": s, "reward/mean": 0.1 * s, "tools/calls_per_episode": 0.5, "tools/timeouts": 1.0, "tools/runtime_errors": 2.0, "tools/errors": 0.0, "time/step": 10.0 * s} for s in range(1, 5)] + [{"step": 4, "eval/accuracy": 0.5, "eval/tool_calls": 1.0}]
    plain = [{"step": 0, "eval/accuracy": 0.0}, {"step": 4, "eval/accuracy": 0.0}]
    text = report.table(tool, plain)
    assert "| held-out accuracy, greedy, with the tool | 0.0% (step 0) -> 50.0% (step 4) |" in text
    assert "| training reward, with the tool | 0.10 (first 1 steps) -> 0.40 (last 1) |" in text
    assert "| tool timeouts / runtime errors / failed calls, all steps | 4 / 8 / 0 |" in text
    assert "| held-out tool calls per episode | 0.25 -> 1.00 |" in text and "| training reward, without the tool | n/a |" in text
