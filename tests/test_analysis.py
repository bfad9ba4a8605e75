"""vae.analysis against closed forms: Gaussian densities, total-variation distance, input picking, verdicts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal, Normal

from vae.analysis import (aggregate_posterior_density, collapse_verdict, dataset_mismatch, listing_row, normal_pdf,
                          parse_indices, pick_indices, prior_holes, run_card, scott_bandwidth)


def _mvn_diag(points, mu, var):
    return MultivariateNormal(torch.tensor(mu, dtype=torch.float64),
                              torch.diag(torch.tensor(var, dtype=torch.float64))).log_prob(
        torch.tensor(points, dtype=torch.float64)).exp().numpy()


def test_normal_pdf_matches_torch():
    z = np.random.default_rng(0).normal(size=(50, 3))
    ref = Normal(0.0, 1.0).log_prob(torch.tensor(z)).sum(-1).exp().numpy()
    np.testing.assert_allclose(normal_pdf(z), ref, rtol=1e-10)


def test_aggregate_posterior_is_the_mean_of_the_components():
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(3, 2))
    logvar = rng.normal(scale=0.5, size=(3, 2))
    pts = rng.normal(size=(40, 2)) * 2
    ref = np.mean([_mvn_diag(pts, mu[i], np.exp(logvar[i])) for i in range(3)], axis=0)
    # a chunk smaller than N checks that chunks add up
    np.testing.assert_allclose(aggregate_posterior_density(pts, mu, logvar, chunk=2), ref, rtol=1e-9)


def test_point_codes_use_scott_kde():
    rng = np.random.default_rng(2)
    mu = rng.normal(size=(30, 2)) * np.array([1.0, 3.0])
    pts = rng.normal(size=(20, 2))
    h = scott_bandwidth(mu)
    np.testing.assert_allclose(h, mu.std(0) * 30 ** (-1 / 6))
    ref = np.mean([_mvn_diag(pts, m, h**2) for m in mu], axis=0)
    np.testing.assert_allclose(aggregate_posterior_density(pts, mu, None), ref, rtol=1e-9)


def test_no_holes_when_q_equals_the_prior():
    holes = prior_holes(np.zeros((1, 2)), np.zeros((1, 2)))
    assert holes["uncovered"] == pytest.approx(0.0, abs=1e-12)
    assert len(holes["z_holes"]) == 0


@pytest.mark.parametrize("a", [0.5, 1.0, 2.0])
def test_uncovered_mass_is_the_total_variation_distance(a):
    # TV(N((a, 0), I), N(0, I)) = 2 Phi(a / 2) - 1, in closed form
    holes = prior_holes(np.array([[a, 0.0]]), np.zeros((1, 2)), n_grid=241, limit=7.0)
    tv = 2 * (0.5 * (1 + math.erf(a / 2 / math.sqrt(2)))) - 1
    assert holes["uncovered"] == pytest.approx(tv, abs=1e-3)
    # holes lie on the prior's side of the midpoint, away from the data
    assert len(holes["z_holes"]) > 0 and (holes["z_holes"][:, 0] < a / 2).all()
    # p and q are laid out rows = z2, columns = z1: check one off-axis cell against the closed form
    g = holes["g"]
    i, j = 150, 100  # z2 = g[150] > 0, z1 = g[100] < 0
    z = np.array([[g[j], g[i]]])
    assert holes["q"][i, j] == pytest.approx(_mvn_diag(z, [a, 0.0], [1.0, 1.0])[0], rel=1e-9)
    assert holes["p"][i, j] == pytest.approx(normal_pdf(z)[0], rel=1e-12)


def test_prior_holes_needs_2d():
    with pytest.raises(ValueError):
        prior_holes(np.zeros((5, 3)), None)


def test_pick_indices_modes():
    y = np.array([0, 1, 2, 1, 1, 0, 2, 1])
    a = pick_indices(y, 4, seed=3)
    assert len(set(a)) == 4 and (np.diff(a) > 0).all()
    np.testing.assert_array_equal(a, pick_indices(y, 4, seed=3))
    lab = pick_indices(y, 10, mode="label", label=1)
    assert sorted(lab) == [1, 3, 4, 7]
    np.testing.assert_array_equal(pick_indices(y, 5, mode="index", indices=[7, 0]), [7, 0])
    with pytest.raises(ValueError, match="0..7"):
        pick_indices(y, 5, mode="index", indices=[8])
    with pytest.raises(ValueError, match="label 9"):
        pick_indices(y, 5, mode="label", label=9)
    with pytest.raises(ValueError):
        pick_indices(y, 5, mode="nope")


def test_seed_changes_the_random_pick():
    y = np.zeros(500)
    picks = {tuple(pick_indices(y, 5, seed=s)) for s in range(5)}
    assert len(picks) == 5


def test_parse_indices():
    assert parse_indices("3, 7 12-14") == [3, 7, 12, 13, 14]
    assert parse_indices("") == []
    for bad in ("a", "5-2", "1-5000"):
        with pytest.raises(ValueError):
            parse_indices(bad)


def test_collapse_verdict():
    assert collapse_verdict(np.array([1e-5, 1e-5]), 0, True)[0] == "error"
    assert collapse_verdict(np.array([0.01, 0.02]), 2, True)[0] == "error"  # total KL near 0
    level, msg = collapse_verdict(np.array([2.0, 0.001]), 1, True)
    assert level == "warning" and "1 of 2" in msg
    assert collapse_verdict(np.array([2.0, 1.5]), 2, True) is None
    assert collapse_verdict(np.zeros(2), 0, False) is None  # AE/PCA have no KL to collapse


def test_dataset_mismatch_names_the_odd_ones():
    digits = {"name": "digits", "shape": [1, 8, 8], "fingerprint": "sklearn-digits"}
    other = {"name": "/tmp/x.npz", "shape": [1, 8, 8], "fingerprint": "npz-abc"}
    assert dataset_mismatch({"a": digits, "b": dict(digits)}) is None
    msg = dataset_mismatch({"a": digits, "b": dict(digits), "c": other})
    assert "**a**" in msg and "**c**" in msg and "**b**" not in msg
    assert dataset_mismatch({"a": digits, "d": {**digits, "shape": [1, 16, 16]}}) is not None


def test_run_card_and_listing_row(tiny_ckpts):
    from vae.checkpoint import read_metadata

    meta = read_metadata(tiny_ckpts["vae"])
    card = run_card(meta, name="tiny")
    json.dumps(card)  # must be JSON-able
    assert card["model"]["kind"] == "vae" and card["seed"] == 0 and card["data"]["fingerprint"] == "sklearn-digits"
    assert card["epochs_trained"] == 2 and card["final"]["test"]["elbo"] == meta["history"][-1]["test"]["elbo"]
    row = listing_row(tiny_ckpts["vae"], meta, None)
    assert row["latent"] == 2 and row["epochs"] == 2 and row["test ELBO"] < 0 and row["size (KB)"] > 0
    ae = listing_row(tiny_ckpts["ae"], read_metadata(tiny_ckpts["ae"]), None)
    assert ae["β"] is None and ae["test KL"] is None and ae["test recon"] > 0
    broken = listing_row("/nope/x.safetensors", None, "bad file")
    assert broken["problem"] == "bad file" and broken["model"] is None


def test_prior_holes_subsample_is_close_to_the_full_mixture():
    rng = np.random.default_rng(5)
    mu = rng.normal(size=(3000, 2)) * 0.7
    logvar = np.full((3000, 2), -2.0)
    full = prior_holes(mu, logvar, n_grid=31)
    sub = prior_holes(mu, logvar, n_grid=31, max_points=1000)
    assert sub["uncovered"] == pytest.approx(full["uncovered"], abs=0.03)
