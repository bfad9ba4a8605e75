"""Inference helpers and dataset metrics against independent references."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae import explore, metrics
from vae.config import ModelConfig
from vae.model import build_model


@pytest.fixture(scope="module")
def vae_model():
    torch.manual_seed(0)
    return build_model(ModelConfig(latent_dim=3, hidden=(16,))).eval()


def test_grid_values_are_normal_quantiles():
    vals = explore.grid_values(5)
    ref = [NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, 5)]
    np.testing.assert_allclose(vals, ref, atol=1e-9)
    np.testing.assert_allclose(explore.grid_values(3, spacing="linear", limit=2), [-2, 0, 2])
    with pytest.raises(ValueError):
        explore.grid_values(0)


def test_encode_decode_and_reconstruct(vae_model):
    x = torch.rand(7, 1, 8, 8)
    mu, logvar = explore.encode_dataset(vae_model, x, batch_size=3)
    q = vae_model.encode(x)
    np.testing.assert_allclose(mu, q.mu.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(logvar, q.logvar.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(explore.reconstruct(vae_model, x), explore.decode(vae_model, mu), atol=1e-6)
    a, b = explore.reconstruct(vae_model, x, sample=True, seed=1), explore.reconstruct(vae_model, x, sample=True, seed=1)
    assert np.array_equal(a, b)


def test_interpolation_and_traversal(vae_model):
    a, b = np.array([1.0, 0, 0]), np.array([0, 2.0, 0])
    lin = explore.interpolate(a, b, 5)
    np.testing.assert_allclose(lin[[0, -1]], [a, b])  # (an `and` between two asserts never ran the second)
    np.testing.assert_allclose(lin[2], (a + b) / 2)
    np.testing.assert_allclose(lin, np.linspace(a, b, 5))
    sl = explore.interpolate(a, b, 5, method="slerp")
    np.testing.assert_allclose(sl[[0, -1]], [a, b], atol=1e-12)
    norms = np.linalg.norm(sl, axis=1)
    assert norms.min() >= 1 - 1e-9 and norms.max() <= 2 + 1e-9  # along the great circle, no dip through 0
    imgs = explore.traversal(vae_model, [0, 0, 0], 2, [-1, 0, 1])
    np.testing.assert_allclose(imgs[1], explore.decode(vae_model, [0, 0, 0])[0], atol=1e-6)


def test_prior_samples_are_seeded(vae_model):
    i1, z1 = explore.prior_samples(vae_model, 4, seed=3)
    i2, z2 = explore.prior_samples(vae_model, 4, seed=3)
    assert np.array_equal(z1, z2) and np.array_equal(i1, i2) and z1.shape == (4, 3)


def test_kl_per_dim_and_active_units():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(200, 3)).astype(np.float32) * [1.0, 0.05, 0.0]
    logvar = rng.normal(size=(200, 3)).astype(np.float32) * 0.3
    ref = kl_divergence(Normal(torch.from_numpy(mu), torch.from_numpy(np.exp(0.5 * logvar))), Normal(0.0, 1.0)).mean(0)
    np.testing.assert_allclose(metrics.kl_per_dim(mu, logvar), ref.numpy(), rtol=1e-5)
    count, var = metrics.active_units(mu)
    assert count == 1 and var[0] > 0.5 and var[2] == 0
    assert metrics.kl_per_dim(mu, None).tolist() == [0.0, 0.0, 0.0]


def test_evaluate_summary_and_iwae_bound(vae_model):
    x = torch.rand(40, 1, 8, 8)
    res = metrics.evaluate(vae_model, x, iwae_k=50, seed=0)
    assert set(res) == {"recon", "kl", "elbo", "active_units", "iwae_nll", "n"} and res["n"] == 40
    assert res["elbo"] == pytest.approx(-(res["recon"] + res["kl"]))
    assert res["iwae_nll"] < -res["elbo"]  # k=50 is a tighter bound than the one-sample ELBO
    terms = metrics.per_image_terms(vae_model, x)
    assert terms["recon"].shape == (40,) and (terms["kl"] >= 0).all()
    ae = build_model(ModelConfig(kind="ae", latent_dim=3, hidden=(16,))).eval()
    res_ae = metrics.evaluate(ae, x, iwae_k=10)
    assert res_ae["iwae_nll"] is None and res_ae["kl"] is None and res_ae["elbo"] is None
