"""The registries: names, declared parameters and needs, and algorithms given by import path from a
user's own module (written here into a temporary folder on sys.path, outside the package)."""

from __future__ import annotations

import math
import sys
import textwrap

import pytest
import torch

from trainer.algorithms import ADV_ESTIMATORS, POLICY_LOSSES, TRANSFORMS, resolve
from trainer.algorithms.registry import ADVANTAGE, LOSS, UnknownAlgorithm
from trainer.algorithms.types import LossNormalizer, MicroBatch, Needs, PolicyLossInputs
from trainer.config import ConfigError, load_config

USER_MODULE = '''
    import torch
    from pydantic import Field

    from trainer.algorithms import Mean, Params, PolicyLossOutput, register_policy_loss


    def reinforce(inp):
        """-A log pi per token: the on-policy policy gradient."""
        return PolicyLossOutput(inp.aggregate(-inp.advantages * inp.logp), {"user/logp": Mean((inp.logp.detach() * inp.mask).sum(), inp.mask.sum())})


    class ScaleParams(Params):
        section = "scaled"
        scale: float = Field(1.0, gt=0, description="Multiplies the loss.")


    @register_policy_loss("user_scaled_reinforce", params=ScaleParams, needs=lambda p: NEEDS)
    def scaled(inp, params):
        return PolicyLossOutput(params.scale * inp.aggregate(-inp.advantages * inp.logp))


    class Clash(Params):
        section = "dppo"
        x: float = Field(1.0, description="A parameter in a section a built-in model has.")


    @register_policy_loss("user_clash", params=Clash)
    def clash(inp, params):
        return PolicyLossOutput(inp.aggregate(-inp.advantages * inp.logp))


    def two_arguments(inp, extra):
        return None


    NOT_A_FUNCTION = 3
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module ``user_losses`` on sys.path, as a user's own file on PYTHONPATH would be."""
    (tmp_path / "user_losses.py").write_text("from trainer.algorithms.types import Needs\nNEEDS = Needs(rollout_policy=True)\n" + textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "user_losses"
    for name in ("user_scaled_reinforce", "user_clash"):  # as if the module had never been imported
        POLICY_LOSSES.pop(name, None)
    sys.modules.pop("user_losses", None)


def inputs(seed: int = 0) -> PolicyLossInputs:
    g = torch.Generator().manual_seed(seed)
    logp = (-torch.rand(3, 4, generator=g, dtype=torch.float64)).requires_grad_(True)
    mask = torch.tensor([[1.0, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.float64)
    return PolicyLossInputs(logp=logp, old_logp=logp.detach(), advantages=torch.randn(3, 4, generator=g, dtype=torch.float64) * mask, mask=mask, normalizer=LossNormalizer(9.0, 3.0, 4))


def test_a_plain_function_by_import_path_is_a_loss_without_parameters_or_needs(user_module):
    reg = resolve(LOSS, f"{user_module}:reinforce")
    assert reg.params is None and reg.needs(None) == Needs() and reg.name == "user_losses:reinforce"
    inp = inputs()
    out = reg(inp)
    (grad,) = torch.autograd.grad(out.loss, inp.logp)
    assert torch.allclose(grad, -inp.advantages * inp.mask / 9.0)  # the same gradient as ppo_clip on policy
    assert out.metrics["user/logp"].weight == 9


def test_a_decorated_function_by_import_path_brings_its_parameters_and_needs(user_module):
    cfg = load_config(None, [f"algorithm.loss={user_module}:scaled", "algorithm.scaled.scale=2.5"])
    reg = resolve(LOSS, cfg.algorithm.loss)
    params = cfg.algorithm.params(reg)
    assert params.scale == 2.5 and cfg.algorithm.needs().rollout_policy
    assert "user_scaled_reinforce" in POLICY_LOSSES  # registered on import, like a built-in
    inp = inputs(1)
    assert reg(inp, params).loss.item() == pytest.approx(2.5 * resolve(LOSS, f"{user_module}:reinforce")(inp).loss.item())


@pytest.mark.parametrize(
    "path,message",
    [
        ("no_such_module_here:loss", r"module 'no_such_module_here' does not import \(ModuleNotFoundError.*put its folder on PYTHONPATH"),
        ("user_losses:missing", r"module 'user_losses' has no function 'missing'"),
        ("user_losses:NOT_A_FUNCTION", r"'user_losses:NOT_A_FUNCTION' is a int, not a function"),
        ("user_losses:two_arguments", r"takes \(inp, extra\): a policy loss is called as fn\(inputs\); register it with params="),
        ("user_losses:two_arguments:x", r"module 'user_losses' has no function 'two_arguments:x'"),
    ],
)
def test_a_bad_import_path_says_what_is_wrong(user_module, path, message):
    with pytest.raises(ConfigError, match=f"config key 'algorithm.loss': .*{message}"):
        load_config(None, [f"algorithm.loss={path}"])


def test_a_path_without_a_function_is_refused():
    with pytest.raises(UnknownAlgorithm, match="'user_losses:' is not an import path: write module:function"):
        resolve(LOSS, "user_losses:")


def test_a_loss_given_where_an_estimator_is_expected_is_refused(user_module):
    with pytest.raises(UnknownAlgorithm, match="registered as a policy loss, not as a advantage estimator"):
        resolve(ADVANTAGE, f"{user_module}:scaled")


def test_the_section_of_an_import_path_algorithm_is_validated_and_only_accepted_when_selected(user_module):
    with pytest.raises(ConfigError, match=r"config key 'algorithm.scaled.scale': Input should be greater than 0"):
        load_config(None, [f"algorithm.loss={user_module}:scaled", "algorithm.scaled.scale=0"])
    with pytest.raises(ConfigError, match=r"unknown config key 'algorithm.scaled'"):
        load_config(None, ["algorithm.scaled.scale=2"])


def test_a_section_a_built_in_model_has_is_refused(user_module):
    with pytest.raises(ConfigError, match=r"Clash takes the section algorithm.dppo, which DPPOParams already has: give it another section"):
        load_config(None, [f"algorithm.loss={user_module}:clash"])


def test_every_registration_declares_callable_needs_and_documented_parameters():
    for table in (ADV_ESTIMATORS, POLICY_LOSSES, TRANSFORMS):
        for name, reg in table.items():
            params = reg.params() if reg.params else None
            assert isinstance(reg.needs(params), Needs), name
            assert reg.summary, f"{name} has no docstring"
            for field_name, field in (reg.params.model_fields.items() if reg.params else ()):
                assert field.description, f"{name}: {field_name} is undocumented"


def test_needs_merge_and_refuse_contradictions():
    from trainer.algorithms.types import Support

    merged = Needs(rollout_topk=4, whole_groups=True) | Needs(rollout_topk=20, reference=True)
    assert merged == Needs(rollout_topk=20, whole_groups=True, reference=True)
    assert Needs(support=Support("rollout", 8)).recorded_topk == 8 and Needs(support=Support("reference", 8)).recorded_topk == 0
    with pytest.raises(ValueError, match="different loss aggregations"):
        Needs(loss_agg="token-mean") | Needs(loss_agg="seq-mean-token-mean")


def micro_batch(seed: int, first: bool = True, **fields) -> MicroBatch:
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(4, 6, generator=g) > 0.25).double()
    logp = (-torch.rand(4, 6, generator=g, dtype=torch.float64) * 3 * mask).requires_grad_(True)
    old = logp.detach() + 0.05 * torch.randn(4, 6, generator=g, dtype=torch.float64) * mask
    base = dict(
        logp=logp, old_logp=old, rollout_logp=old + 0.3 * torch.randn(4, 6, generator=g, dtype=torch.float64) * mask,
        advantages=torch.randn(4, 6, generator=g, dtype=torch.float64) * mask, mask=mask, normalizer=LossNormalizer(float(mask.sum()), 4.0, 6), agg="token-mean", first_pass=first,
    )  # fmt: skip
    return MicroBatch(**{**base, **fields})


@pytest.mark.parametrize("seed", range(4))
def test_tis_transform_reweights_advantages_as_a_float64_reference(seed):
    from trainer.algorithms.tis import TISParams

    mb = micro_batch(seed)
    out = TRANSFORMS["tis"](mb, TISParams(cap=1.2))
    for i in range(4):
        for t in range(6):
            w = min(torch.exp(mb.old_logp[i, t] - mb.rollout_logp[i, t]).item(), 1.2)
            assert out.advantages[i, t].item() == pytest.approx(mb.advantages[i, t].item() * w, rel=1e-12, abs=1e-15)
    assert out.loss is None and set(out.metrics) == {"tis/weight", "tis/capped"}
    assert TRANSFORMS["tis"](micro_batch(seed, first=False), TISParams(cap=1.2)).metrics == {}  # measured on the first pass only
    assert not TRANSFORMS["tis"].active(TISParams()) and TRANSFORMS["tis"].active(TISParams(cap=2))


@pytest.mark.parametrize("estimator", ["k1", "k2", "k3"])
def test_kl_transform_adds_the_aggregated_penalty_as_a_float64_reference(estimator):
    from trainer.algorithms.kl import KLParams

    g = torch.Generator().manual_seed(7)
    mb = micro_batch(7, ref_logp=-torch.rand(4, 6, generator=g, dtype=torch.float64))
    out = TRANSFORMS["kl"](mb, KLParams(coef=0.3, estimator=estimator))
    total = 0.0
    for i in range(4):
        for t in range(6):
            if mb.mask[i, t]:
                d = mb.ref_logp[i, t].item() - mb.logp[i, t].item()
                total += {"k1": -d, "k2": d * d / 2, "k3": math.exp(d) - d - 1}[estimator]
    assert out.loss.item() == pytest.approx(0.3 * total / mb.mask.sum().item(), rel=1e-9)
    assert out.advantages is None and out.metrics["kl"].value == pytest.approx(total / mb.mask.sum().item(), rel=1e-9)
    assert TRANSFORMS["kl"].needs(KLParams(coef=0.3)) == Needs(reference=True, trains_zero_advantage=True)
