"""Truncated importance sampling weights against a float64 reference on random inputs."""

from __future__ import annotations

import numpy as np
import torch

from trainer.algorithms.tis import truncated_is_weight


def test_weights_match_a_float64_reference():
    rng = np.random.default_rng(0)
    for cap in (1.0, 2.0, 5.0):
        old = rng.normal(-2.0, 1.5, size=(7, 13))
        rollout = old + rng.normal(0.0, 0.7, size=old.shape)  # mismatch of either sign
        expected = np.minimum(np.exp(old - rollout), cap)
        got = truncated_is_weight(torch.tensor(old, requires_grad=True), torch.tensor(rollout), cap)
        assert not got.requires_grad
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
        assert (got <= cap).all() and (got > 0).all()


def test_no_mismatch_means_weight_one():
    logp = torch.randn(4, 9, dtype=torch.float64)
    assert torch.equal(truncated_is_weight(logp, logp.clone(), 2.0), torch.ones_like(logp))
