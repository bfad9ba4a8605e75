"""Chen et al.'s sampled MIG (vae/mig.py) on synthetic codes, against a slow reference and a 1-D closed case."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from vae.mig import draw_samples, mig_report, mig_without, sampled_factor_scores, sampled_mi

LEVELS = (4, 5, 6)


def _grid(repeat: int = 8) -> np.ndarray:
    """Every combination of LEVELS `repeat` times: independent, uniform factors, (N, 3)."""
    return np.array(list(itertools.product(*[range(k) for k in LEVELS])) * repeat)


def _code(factors, columns, sigma=0.05, extra=2, seed=0):
    """Posteriors whose means are the given columns (functions of the factors) plus `extra` unused dims at the prior."""
    rng = np.random.default_rng(seed)
    mu = np.stack([c(factors) for c in columns] + [np.zeros(len(factors))] * extra, axis=1).astype(float)
    logvar = np.full(mu.shape, 2 * math.log(sigma))
    logvar[:, len(columns):] = 0.0  # unused dims: q(z_d|x) = N(0, 1) for every x
    return mu + rng.normal(0, 1e-3, mu.shape), logvar


def test_each_factor_in_its_own_dim_gives_about_one():
    f = _grid()
    mu, logvar = _code(f, [lambda f, k=k: f[:, k] for k in range(3)])
    s = sampled_factor_scores(mu, logvar, f, n_samples=2000)
    assert s.mig > 0.97, s.gaps
    np.testing.assert_allclose(s.entropy, np.log(LEVELS))
    np.testing.assert_allclose(np.diag(s.mi[:3]), np.log(LEVELS), atol=0.01)  # the dim knows its factor fully
    assert np.abs(s.mi[3:]).max() < 1e-4  # a dim at the prior for every x carries nothing (float32 rounding)


def test_an_independent_code_gives_about_zero():
    f = _grid()
    rng = np.random.default_rng(3)
    mu, logvar = rng.normal(size=(len(f), 4)), np.full((len(f), 4), math.log(0.2))
    s = sampled_factor_scores(mu, logvar, f, n_samples=2000)
    assert abs(s.mig) < 0.03 and np.abs(s.mi).max() < 0.05, s.mi


def test_two_factors_in_one_dim_and_one_factor_in_two_dims_are_well_below_one():
    f = _grid()
    mixed, lv = _code(f, [lambda f: f[:, 0] + f[:, 1], lambda f: f[:, 2]])  # dim 0 holds the sum of factors 0, 1
    s = sampled_factor_scores(mixed, lv, f, n_samples=2000)
    assert s.gaps[0] < 0.5 and s.gaps[1] < 0.5 and s.gaps[2] > 0.95 and s.mig < 0.65, s.gaps
    copied, lv = _code(f, [lambda f: f[:, 0], lambda f: f[:, 0] + 0.01 * f[:, 1], lambda f: f[:, 2]])
    s = sampled_factor_scores(copied, lv, f, n_samples=2000)
    assert s.gaps[0] < 0.05, s.gaps  # two dims know factor 0 equally well: no gap


def _slow_mi(z, idx, mu, logvar, codes):
    """Reference by loops: mean over samples of log q(z_d | own level) − log q(z_d), scipy's normal density."""
    sd = np.exp(0.5 * logvar)
    d, k = mu.shape[1], codes.shape[1]
    mi = np.zeros((d, k))
    for i, zs in zip(idx, z):
        for dim in range(d):
            dens = norm.pdf(zs[dim], mu[:, dim], sd[:, dim])  # (N,)
            for j in range(k):
                same = codes[:, j] == codes[i, j]
                mi[dim, j] += math.log(dens[same].mean()) - math.log(dens.mean())
    return mi / len(idx)


def test_agrees_with_a_slow_reference_on_a_small_case():
    rng = np.random.default_rng(5)
    n = 60
    codes = np.stack([rng.integers(0, 3, n), rng.integers(0, 4, n)], axis=1)
    mu = np.stack([codes[:, 0] + rng.normal(0, 0.3, n), rng.normal(size=n), codes[:, 1] * 0.5], axis=1)
    logvar = rng.normal(-2, 0.5, mu.shape)
    idx, z = draw_samples(mu, logvar, 25, seed=1)
    assert len(idx) == 25 and len(set(idx)) == 25
    np.testing.assert_allclose(sampled_mi(z, idx, mu, logvar, codes), _slow_mi(z, idx, mu, logvar, codes),
                               atol=1e-4)


def test_matches_the_mutual_information_of_a_gaussian_channel():
    """z = level + N(0, σ²) for a uniform K-level factor: I = H(mixture of K Gaussians) − ½ log(2πeσ²), by quadrature."""
    k, sigma = 5, 0.6
    f = np.repeat(np.arange(k), 400)[:, None]
    mu = np.stack([f[:, 0].astype(float), np.zeros(len(f))], axis=1)
    logvar = np.stack([np.full(len(f), 2 * math.log(sigma)), np.zeros(len(f))], axis=1)
    mix = lambda t: np.mean(norm.pdf(t, np.arange(k), sigma))  # noqa: E731
    h_mix = quad(lambda t: -mix(t) * math.log(mix(t)), -6, k + 5, limit=200)[0]
    truth = h_mix - 0.5 * math.log(2 * math.pi * math.e * sigma**2)
    s = sampled_factor_scores(mu, logvar, f, n_samples=2000)
    assert s.mi[0, 0] == pytest.approx(truth, abs=0.03), (s.mi, truth)
    assert s.gaps[0] == pytest.approx(truth / math.log(k), abs=0.03)


def test_mig_without_shape_and_bad_input():
    f = _grid()
    mu, logvar = _code(f, [lambda f: f[:, 0], lambda f: f[:, 1] + f[:, 2]])
    s = sampled_factor_scores(mu, logvar, f, ["shape", "x", "y"], n_samples=1000)
    assert mig_without(s) == pytest.approx(np.mean(s.gaps[1:])) and mig_without(s) < s.mig
    assert mig_without(s, "none of these") == pytest.approx(s.mig)
    with pytest.raises(ValueError, match="at least 2"):
        sampled_factor_scores(mu[:, :1], logvar[:, :1], f)
    with pytest.raises(ValueError, match="NaN"):
        sampled_factor_scores(np.full_like(mu, np.nan), logvar, f)
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        sampled_factor_scores(mu, logvar, f[:10])


def test_report_on_a_model_without_factors_is_empty(tiny_ckpts):
    from vae import data as data_mod
    from vae.checkpoint import load_checkpoint

    ckpt = load_checkpoint(tiny_ckpts["vae"])
    assert mig_report(ckpt.model, data_mod.load(data_mod.config_from_info(ckpt.data))) == {}


def test_a_group_far_below_the_largest_term_does_not_underflow():
    """exp(−112) is 0 in float32: the own level's sum then falls back to its own log-sum-exp."""
    import torch

    from vae.mig import _log_mixtures

    mu, logvar = torch.tensor([[0.0], [14.0]], dtype=torch.float64), torch.tensor([[2 * math.log(1e-6)], [0.0]],
                                                                                   dtype=torch.float64)
    codes = torch.tensor([[0], [1]])
    marginal, conditional = _log_mixtures(torch.zeros(1, 1, dtype=torch.float64), mu, logvar, codes, codes[1:])
    assert conditional[0, 0, 0] == pytest.approx(norm.logpdf(0.0, 14.0, 1.0), abs=1e-3)
    assert marginal[0, 0] == pytest.approx(norm.logpdf(0.0, 0.0, 1e-6), abs=1e-3)
