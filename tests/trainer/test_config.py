from pathlib import Path

import pytest

from trainer.config import Config, ConfigError, load_config, reference_markdown, valid_keys

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_are_the_quickstart():
    cfg = load_config()
    assert cfg.model.path == "smollm2-135m-instruct"
    assert cfg.algorithm.advantage == "grpo" and cfg.algorithm.kl.coef == 0.0
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
    [
        ("train.step=3", "train.steps"),
        ("trian.steps=3", "train"),
        ("rollout.group=4", "rollout.group_size"),
        ("algorithm.clip.eps_hi=0.3", "algorithm.clip.eps_high"),
        ("algorithm.eps_high=0.3", "algorithm.clip.eps_high"),
        ("algorithm.kl_coef=0.1", "algorithm.kl.coef"),
    ],
)
def test_unknown_key_suggests_the_nearest(override, suggestion):
    with pytest.raises(ConfigError, match=f"unknown config key .*did you mean '{suggestion}'"):
        load_config(None, [override])


def test_unknown_key_in_yaml_names_file_and_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError, match=r"c.yaml: unknown config key 'optim.lrr'; did you mean 'optim.lr'"):
        load_config(path)


@pytest.mark.parametrize("override,field", [("rollout.temperature=0", "rollout.temperature"), ("algorithm.advantage=ppo", "algorithm.advantage"), ("train.steps=many", "train.steps"), ("rollout.tools=[bash]", "rollout.tools"), ("rollout.tool_timeout_s=0", "rollout.tool_timeout_s")])
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
    """docs/algorithms.md: RLPT composes with GRPO, DAPO, OTB, DPPO, DASH; OTB with any policy loss."""
    cfg = load_config(None, [f"algorithm.advantage={advantage}", f"algorithm.loss={loss}", f"algorithm.rlpt.top_k={rlpt}", f"algorithm.dash.preemptive={dash[0]}", f"algorithm.dash.filter_tau={dash[1]}"])
    needs = cfg.algorithm.needs()
    assert cfg.algorithm.loss == loss
    assert needs.rollout_topk == (20 if loss.endswith("topk") else 0)
    assert needs.recorded_topk == max(needs.rollout_topk, int(rlpt))  # the engine records what the loss and the support need
    assert needs.policy_stats == needs.whole_groups == (advantage == "otb")


@pytest.mark.parametrize(
    "overrides,reason",
    [
        (["algorithm.loss=dapo", "algorithm.loss_agg=seq-mean-token-mean"], "algorithm.loss=dapo is defined with the token-mean loss aggregation"),
        (["algorithm.rlpt.top_k=16", "rollout.top_k=8"], "rollout.top_k=8 contradicts it"),
        (["algorithm.rlpt.top_k=16", "rollout.top_p=0.9"], r"algorithm.rlpt.top_p\), not rollout.top_p"),
        (["algorithm.rlpt.top_k=16", "algorithm.rlpt.support=reference", "algorithm.loss=dppo_tv_binary"], "algorithm.loss=dppo_tv_binary compares .* with the rollout policy"),
        (["algorithm.rlpt.top_k=16", "algorithm.rlpt.support=reference", "algorithm.loss=dppo_tv_topk", "algorithm.dppo.anchor=recompute"], "algorithm.loss=dppo_tv_topk compares"),
        (["algorithm.rlpt.top_k=16", "algorithm.rlpt.support=reference", "algorithm.tis.cap=2"], "algorithm.tis compares"),
        (["algorithm.otb.rollout_is=true"], "algorithm.otb configures otb, which this config does not use"),
        (["algorithm.dppo.tv_delta=0.2"], "algorithm.dppo configures dppo_kl_binary, dppo_kl_topk, dppo_tv_binary, dppo_tv_topk"),
        (["algorithm.dash.preemptive=false", "algorithm.dapo.dynamic_sampling=true"], "preemptive=true"),
        (["algorithm.dash.preemptive=false", "algorithm.updates_per_batch=2"], "preemptive=true"),
        (["algorithm.dapo.overlong_buffer=40"], "below rollout.max_new_tokens"),
    ],
)
def test_combinations_that_make_no_sense_are_rejected_with_the_reason(overrides, reason):
    with pytest.raises(ConfigError, match=reason):
        load_config(None, overrides)


def test_rlpt_reference_support_with_recompute_anchor_is_allowed_and_loads_a_reference():
    from trainer.run import needs_reference_model

    cfg = load_config(None, ["algorithm.rlpt.top_k=8", "algorithm.rlpt.support=reference", "algorithm.loss=dppo_kl_binary", "algorithm.dppo.anchor=recompute"])
    assert needs_reference_model(cfg) and not cfg.algorithm.needs().rollout_policy
    assert not needs_reference_model(load_config())


def test_dapo_clip_higher_default_and_explicit_override():
    assert load_config(None, ["algorithm.loss=dapo"]).algorithm.clip.eps_high == 0.28
    assert load_config(None, ["algorithm.loss=dapo", "algorithm.clip.eps_high=0.3"]).algorithm.clip.eps_high == 0.3
    assert load_config(None, ["algorithm.loss=ppo_clip"]).algorithm.clip.eps_high == 0.2


@pytest.mark.parametrize(
    "key,name,expected",
    [
        ("advantage", "grpoo", r"unknown advantage estimator 'grpoo': registered ones are dr_grpo, grpo, otb, rloo; did you mean 'grpo'\?"),
        ("loss", "dppo_tv", r"unknown policy loss 'dppo_tv': registered ones are dapo, .*, ppo_clip; did you mean 'dppo_tv_topk'\?"),
        ("loss", "reinforce", r"unknown policy loss 'reinforce': registered ones are .*\(or give your own as module:function\)"),
    ],
)
def test_unknown_algorithm_names_list_the_registered_ones_and_the_nearest(key, name, expected):
    with pytest.raises(ConfigError, match=f"config key 'algorithm.{key}': {expected}"):
        load_config(None, [f"algorithm.{key}={name}"])


def test_the_config_takes_its_algorithm_names_from_the_registries():
    from trainer.algorithms import ADV_ESTIMATORS, POLICY_LOSSES, TRANSFORMS

    for name in POLICY_LOSSES:
        assert name in Config.model_fields["algorithm"].annotation.model_fields["loss"].description
    sections = {reg.params.section for table in (ADV_ESTIMATORS, POLICY_LOSSES, TRANSFORMS) for reg in table.values() if reg.params}
    assert sections == {"clip", "dppo", "otb", "rlpt", "tis", "kl"}
    assert all(f"algorithm.{section}" in valid_keys() for section in sections)
