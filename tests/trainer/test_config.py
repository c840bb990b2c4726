from pathlib import Path

import pytest

from trainer.config import Config, ConfigError, load_config, reference_markdown, valid_keys

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_are_the_quickstart():
    cfg = load_config()
    assert cfg.model.path == "smollm2-135m-instruct"
    assert cfg.algorithm.advantage == "grpo" and cfg.algorithm.kl_coef == 0.0
    assert cfg.data.train is None  # the built-in arithmetic task


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  steps: 3\nrollout:\n  group_size: 4\nrewards:\n  endpoints:\n    math: 127.0.0.1:1\n")
    cfg = load_config(path, ["train.steps=7", "optim.betas=[0.8, 0.9]", "rewards.endpoints.code=[h:1, h:2]"])
    assert cfg.train.steps == 7 and cfg.rollout.group_size == 4
    assert cfg.optim.betas == (0.8, 0.9)
    assert cfg.rewards.endpoints == {"math": ["127.0.0.1:1"], "code": ["h:1", "h:2"]}


@pytest.mark.parametrize(
    "override,suggestion",
    [("train.step=3", "train.steps"), ("trian.steps=3", "train"), ("rollout.group=4", "rollout.group_size"), ("algorithm.eps_hi=0.3", "algorithm.eps_high")],
)
def test_unknown_key_suggests_the_nearest(override, suggestion):
    with pytest.raises(ConfigError, match=f"unknown config key .*did you mean '{suggestion}'"):
        load_config(None, [override])


def test_unknown_key_in_yaml_names_file_and_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError, match=r"c.yaml: unknown config key 'optim.lrr'; did you mean 'optim.lr'"):
        load_config(path)


@pytest.mark.parametrize("override,field", [("rollout.temperature=0", "rollout.temperature"), ("algorithm.advantage=ppo", "algorithm.advantage"), ("train.steps=many", "train.steps")])
def test_bad_values_name_the_field(override, field):
    with pytest.raises(ConfigError, match=f"config key '{field}'"):
        load_config(None, [override])


@pytest.mark.parametrize("text", ["noequals", "=3"])
def test_malformed_override(text):
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config(None, [text])


def test_missing_and_non_mapping_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_every_field_is_documented():
    def walk(model):
        for name, field in model.model_fields.items():
            assert field.description and len(field.description) > 10, f"{model.__name__}.{name} has no description"
            ann = field.annotation
            if isinstance(ann, type) and hasattr(ann, "model_fields"):
                walk(ann)

    walk(Config)
    assert "train.steps" in valid_keys()


def test_readme_config_reference_is_current():
    assert reference_markdown() in README.read_text(), "README's config reference is stale: regenerate it with `python -m trainer.config`"


CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_configs_load(path):
    cfg = load_config(path)
    assert cfg.train.output_dir == f"runs/{path.stem}"


def test_every_example_algorithm_has_a_config():
    names = {p.stem for p in CONFIGS.glob("*.yaml")}
    assert {"grpo", "dapo", "rlpt", "otb", "dppo", "dppo_topk", "dash", "combined"} <= names


@pytest.mark.parametrize("advantage", ["grpo", "dr_grpo", "rloo", "otb"])
@pytest.mark.parametrize("loss", ["ppo_clip", "dapo", "dppo_tv_binary", "dppo_kl_binary", "dppo_tv_topk", "dppo_kl_topk"])
@pytest.mark.parametrize("rlpt", ["0", "16"])
@pytest.mark.parametrize("dash", [("true", "0.1"), ("false", "0")])
def test_rlpt_otb_dppo_dash_compose_as_documented(advantage, loss, rlpt, dash):
    """ALGORITHMS.md: RLPT composes with GRPO, DAPO, OTB, DPPO, DASH; OTB with any policy loss."""
    cfg = load_config(None, [f"algorithm.advantage={advantage}", f"algorithm.loss={loss}", f"algorithm.rlpt.top_k={rlpt}", f"algorithm.dash.preemptive={dash[0]}", f"algorithm.dash.filter_tau={dash[1]}"])
    assert cfg.algorithm.loss == loss
    assert cfg.algorithm.dppo_topk == (20 if loss.endswith("topk") else 0)


@pytest.mark.parametrize(
    "overrides,reason",
    [
        (["algorithm.loss=dapo", "algorithm.loss_agg=seq-mean-token-mean"], "token-level loss"),
        (["algorithm.rlpt.top_k=16", "rollout.top_k=8"], "contradicts"),
        (["algorithm.rlpt.top_k=16", "rollout.top_p=0.9"], "algorithm.rlpt.top_p"),
        (["algorithm.rlpt.top_k=16", "algorithm.rlpt.support=reference", "algorithm.loss=dppo_tv_binary"], "algorithm.dppo.anchor=recompute"),
        (["algorithm.rlpt.top_k=16", "algorithm.rlpt.support=reference", "algorithm.loss=dppo_tv_topk", "algorithm.dppo.anchor=recompute"], "binary DPPO loss"),
        (["algorithm.otb.rollout_is=true"], "algorithm.advantage=otb"),
        (["algorithm.dash.preemptive=false", "algorithm.dapo.dynamic_sampling=true"], "preemptive=true"),
        (["algorithm.dash.preemptive=false", "algorithm.updates_per_batch=2"], "preemptive=true"),
        (["algorithm.dapo.overlong_buffer=40"], "below rollout.max_new_tokens"),
    ],
)
def test_combinations_that_make_no_sense_are_rejected_with_the_reason(overrides, reason):
    with pytest.raises(ConfigError, match=reason):
        load_config(None, overrides)


def test_rlpt_reference_support_with_recompute_anchor_is_allowed_and_loads_a_reference():
    alg = load_config(None, ["algorithm.rlpt.top_k=8", "algorithm.rlpt.support=reference", "algorithm.loss=dppo_kl_binary", "algorithm.dppo.anchor=recompute"]).algorithm
    assert alg.needs_reference and alg.needs_recompute


def test_dapo_clip_higher_default_and_explicit_override():
    assert load_config(None, ["algorithm.loss=dapo"]).algorithm.eps_high == 0.28
    assert load_config(None, ["algorithm.loss=dapo", "algorithm.eps_high=0.3"]).algorithm.eps_high == 0.3
    assert load_config(None, ["algorithm.loss=ppo_clip"]).algorithm.eps_high == 0.2
