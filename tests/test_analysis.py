"""vae.analysis against closed forms: Gaussian densities, total-variation distance, input picking, verdicts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from vae.analysis import (collapse_verdict, dataset_mismatch, listing_row, normal_pdf,
                          parse_indices, pick_indices, prior_holes, run_card, scott_bandwidth)


def test_normal_pdf_matches_torch():
    z = np.random.default_rng(0).normal(size=(50, 3))
    ref = Normal(0.0, 1.0).log_prob(torch.tensor(z)).sum(-1).exp().numpy()
    np.testing.assert_allclose(normal_pdf(z), ref, rtol=1e-10)


def test_point_codes_use_scott_kde():
    rng = np.random.default_rng(2)
    mu = rng.normal(size=(30, 2)) * np.array([1.0, 3.0])
    h = scott_bandwidth(mu)
    np.testing.assert_allclose(h, mu.std(0) * 30 ** (-1 / 6))


def test_no_holes_when_q_equals_the_prior():
    holes = prior_holes(np.zeros((1, 2)), np.zeros((1, 2)))
    assert holes["tv"] == pytest.approx(0.0, abs=1e-12) and holes["hole_mass"] == 0.0
    assert not holes["hole"].any() and len(holes["z_holes"]) == 0


def test_cell_masses_are_exact_integrals():
    """P and Q per cell against torch's normal CDF, for a cell off both axes; P sums to the box's prior mass."""
    a, s = 1.3, 0.7
    holes = prior_holes(np.array([[a, -0.4]]), np.full((1, 2), 2 * math.log(s)), n_cells=16, limit=4.0)
    e = torch.tensor(holes["edges"], dtype=torch.float64)
    i, j = 5, 11  # row = z2 cell, column = z1 cell

    def mass(lo, hi, m, sd):
        d = torch.distributions.Normal(torch.tensor(m, dtype=torch.float64), torch.tensor(sd, dtype=torch.float64))
        return float(d.cdf(hi) - d.cdf(lo))

    assert holes["P"][i, j] == pytest.approx(mass(e[j], e[j + 1], 0.0, 1.0) * mass(e[i], e[i + 1], 0.0, 1.0), rel=1e-9)
    assert holes["Q"][i, j] == pytest.approx(mass(e[j], e[j + 1], a, s) * mass(e[i], e[i + 1], -0.4, s), rel=1e-9)
    box = mass(torch.tensor(-4.0), torch.tensor(4.0), 0.0, 1.0) ** 2
    assert holes["P"].sum() == pytest.approx(box, rel=1e-12)


@pytest.mark.parametrize("a", [0.5, 1.0, 2.0])
def test_tv_on_a_fine_partition_matches_the_closed_form(a):
    # TV(N((a, 0), I), N(0, I)) = 2 Phi(a / 2) - 1
    holes = prior_holes(np.array([[a, 0.0]]), np.zeros((1, 2)), n_cells=280, limit=7.0)
    tv = 2 * (0.5 * (1 + math.erf(a / 2 / math.sqrt(2)))) - 1
    assert holes["tv"] == pytest.approx(tv, abs=2e-3)
    # q/p = exp(a z1 − a²/2) < 1/4 exactly left of z1* = (log 1/4 + a²/2) / a: the holes lie there
    edge = (math.log(holes["ratio"]) + a * a / 2) / a
    assert len(holes["z_holes"]) > 0 and (holes["z_holes"][:, 0] < edge).all()
    cells = holes["g"][None, :].repeat(len(holes["g"]), 0)  # z1 of every cell
    assert holes["hole"][cells < edge - 0.05].all() and not holes["hole"][cells > edge + 0.05].any()
    assert 0 < holes["hole_mass"] <= 1


def test_narrow_posteriors_filling_a_region_leave_no_holes_inside_it():
    """MNIST-like: 10,000 codes with σ = 0.01 fill [-1, 1]^2. Read pointwise, q is spiky and the middle of the
    cloud looked like holes; integrated per cell, every cell inside is covered and the holes lie outside."""
    rng = np.random.default_rng(0)
    mu = rng.uniform(-1, 1, size=(10_000, 2))
    holes = prior_holes(mu, np.full_like(mu, 2 * math.log(0.01)), n_cells=48, limit=4.0)
    g = holes["g"]
    inside = (np.abs(g)[:, None] < 0.9) & (np.abs(g)[None, :] < 0.9)
    assert not holes["hole"][inside].any()
    assert holes["hole"][np.abs(g) > 1.2, :].all()  # far from the data in z2: holes everywhere
    assert (np.abs(holes["z_holes"]).max(1) > 0.9).all()  # decoded hole centres are outside the cloud


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
    assert row["latent"] == 2 and row["epochs"] == 2 and row["test ELBO"] == meta["history"][-1]["test"]["elbo"]
    assert row["size (KB)"] == tiny_ckpts["vae"].stat().st_size / 1024
    ae = listing_row(tiny_ckpts["ae"], read_metadata(tiny_ckpts["ae"]), None)
    ae_test = read_metadata(tiny_ckpts["ae"])["history"][-1]["test"]
    assert ae["β"] is None and ae["test KL"] is None and ae["test recon"] == ae_test["recon"]
    assert row["model"] == "VAE · mlp" and ae["model"] == "AE · mlp"
    tc = {**meta, "train": {**meta["train"], "objective": "beta-tcvae"}}
    assert listing_row(tiny_ckpts["vae"], tc, None)["model"] == "β-TCVAE · mlp"
    broken = listing_row("/nope/x.safetensors", None, "bad file")
    assert broken["problem"] == "bad file" and broken["model"] is None
