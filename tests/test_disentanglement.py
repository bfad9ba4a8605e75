"""The `shapes` dataset (full factor grid, determinism) and MIG (Chen et al., 2018) against independent cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import mutual_info_score

from vae import shapes
from vae.config import DataConfig
from vae.data import load
from vae.metrics import MIG_BINS, discrete_mi, discretize, factor_scores


@pytest.fixture(scope="module")
def grid():
    return shapes.generate(seed=0)


def test_shapes_images_and_factor_grid_complete(grid):
    n = len(shapes.SHAPES) * shapes.N_SCALES * shapes.N_ROTATIONS * shapes.N_POSITIONS**2
    assert grid.images.shape == (n, shapes.SIDE, shapes.SIDE) == (12_800, 32, 32)
    assert grid.images.dtype == np.float32 and grid.images.min() == 0 and grid.images.max() == 1
    # anti-aliased: edge pixels take intermediate values, and every image holds a shape
    assert ((grid.images > 0) & (grid.images < 1)).any() and (grid.images.sum((1, 2)) > 10).all()
    assert grid.factor_names == shapes.FACTOR_NAMES and grid.factors.shape == (n, 5)
    # every combination exactly once: the factors are independent and uniform
    assert len({tuple(f) for f in grid.factors.tolist()}) == n
    for k, levels in enumerate(grid.factor_levels):
        assert sorted(np.unique(grid.factors[:, k])) == list(range(len(levels)))


def test_shapes_factors_describe_the_pixels(grid):
    ink = grid.images.sum((1, 2))
    ys, xs = np.mgrid[: shapes.SIDE, : shapes.SIDE] + 0.5
    cx = (grid.images * xs).sum((1, 2)) / ink
    cy = (grid.images * ys).sum((1, 2)) / ink
    # the centre of mass follows the x and y factors; the area follows scale
    assert np.corrcoef(cx, grid.factors[:, 3])[0, 1] > 0.95 and np.corrcoef(cy, grid.factors[:, 4])[0, 1] > 0.95
    for k in range(len(shapes.SHAPES)):
        m = grid.factors[:, 0] == k
        assert np.corrcoef(ink[m], grid.factors[m, 1])[0, 1] > 0.95
    # rotation changes the picture (level 0 vs 1, same everything else) for every shape
    for k in range(len(shapes.SHAPES)):
        a = np.where((grid.factors == [k, 3, 0, 5, 5]).all(1))[0][0]
        b = np.where((grid.factors == [k, 3, 1, 5, 5]).all(1))[0][0]
        assert np.abs(grid.images[a] - grid.images[b]).sum() > 5


def test_shapes_deterministic_by_seed(grid):
    again = shapes.generate(seed=0)
    assert np.array_equal(again.images, grid.images) and np.array_equal(again.factors, grid.factors)
    other = shapes.generate(seed=1)
    assert not np.array_equal(other.factors, grid.factors)  # another order ...
    key = lambda d: np.lexsort(d.factors.T[::-1])  # noqa: E731 ... of the same images
    assert np.array_equal(other.images[key(other)], grid.images[key(grid)])


def test_shapes_registered_with_factors_through_split():
    s = load(DataConfig(name="shapes"))
    assert s.info["shape"] == [1, 32, 32] and s.info["n_train"] + s.info["n_test"] == 12_800
    assert s.info["fingerprint"].startswith("procedural-shapes") and s.train.classes == list(shapes.SHAPES)
    for part in (s.train, s.test):
        assert part.factors.shape == (len(part), 5) and part.factor_names == list(shapes.FACTOR_NAMES)
        assert torch.equal(part.y, part.factors[:, 0])  # the label is the shape
    limited = load(DataConfig(name="shapes", limit=100)).train
    assert limited.factors.shape == (100, 5) and torch.equal(limited.factors, s.train.factors[:100])
    assert load(DataConfig()).train.factors is None and load(DataConfig()).train.factor_names == []
    json.dumps(s.info)  # the dataset id stays JSON for the checkpoint header


# ---- MIG ----

def _factors(n=4000, seed=0, levels=(4, 4, 8, 10, 10)):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, k, n) for k in levels], axis=1)


def test_mi_matches_sklearn_on_the_same_bins():
    rng = np.random.default_rng(1)
    f = _factors()
    z = np.c_[f[:, 0] + rng.normal(0, 0.7, len(f)), rng.normal(size=len(f)), f[:, 3] * 0.3 + rng.normal(size=len(f))]
    codes = discretize(z)
    assert codes.min() >= 1 and codes.max() <= MIG_BINS  # disentanglement_lib's np.digitize convention
    for i in range(z.shape[1]):  # its _histogram_discretize: digitize on the left edges of a 20-bin histogram
        assert np.array_equal(codes[:, i], np.digitize(z[:, i], np.histogram(z[:, i], MIG_BINS)[1][:-1]))
    for i in range(z.shape[1]):
        assert len(np.unique(codes[:, i])) <= MIG_BINS
        for j in range(f.shape[1]):
            assert discrete_mi(codes[:, i], f[:, j]) == pytest.approx(mutual_info_score(f[:, j], codes[:, i]), abs=1e-10)
    scores = factor_scores(z, f)
    assert scores.entropy == pytest.approx([mutual_info_score(f[:, j], f[:, j]) for j in range(5)])
    assert scores.entropy == pytest.approx(np.log([4, 4, 8, 10, 10]), abs=0.02)  # near-uniform factors


def test_mig_one_when_each_factor_has_its_own_dim():
    f = _factors()
    z = f + np.random.default_rng(2).normal(0, 0.01, f.shape)  # each factor copied into its own dim
    s = factor_scores(np.c_[z, np.zeros(len(f))], f)  # plus an unused dim
    assert s.mig == pytest.approx(1.0, abs=0.01)
    assert s.best_dim.tolist() == [0, 1, 2, 3, 4]


def test_mig_zero_for_a_code_independent_of_the_factors():
    f = _factors()
    s = factor_scores(np.random.default_rng(3).normal(size=(len(f), 6)), f)
    assert 0 <= s.mig < 0.02


def test_mig_well_below_one_when_factors_share_dims():
    f = _factors().astype(float)
    x, y = f[:, 3], f[:, 4]
    summed = factor_scores(np.c_[f[:, :3], x + y], f)  # x and y folded into one dim: each only partly recoverable
    assert summed.gaps[:3] == pytest.approx(1.0, abs=0.01) and (summed.gaps[3:] < 0.4).all()
    assert summed.mig < 0.8
    mixed = factor_scores(np.c_[f[:, :3], x + y, x - y], f)  # x and y spread over two dims: no gap for either
    assert (mixed.gaps[3:] < 0.1).all() and mixed.mig < 0.7
    doubled = factor_scores(np.c_[f, f[:, 0]], f)  # one factor copied into two dims: its gap is 0
    assert doubled.gaps[0] == pytest.approx(0.0, abs=1e-9) and doubled.mig == pytest.approx(0.8, abs=0.01)


def test_factor_scores_refuse_bad_input():
    f = _factors(100)
    with pytest.raises(ValueError, match="NaN"):
        factor_scores(np.full((100, 3), np.nan), f)
    with pytest.raises(ValueError, match="factors"):
        factor_scores(np.zeros((99, 3)), f)
    with pytest.raises(ValueError, match="2 latent"):
        factor_scores(np.zeros((100, 1)), f)
    const = factor_scores(np.c_[f[:, 1:], np.zeros(100)], np.c_[np.zeros(100), f[:, 1:]])
    assert np.isnan(const.gaps[0]) and np.isfinite(const.mig)  # a one-level factor is left out of the mean


def test_cli_evaluate_reports_mig_only_for_datasets_with_factors(tmp_path, capsys, tiny_ckpts):
    from vae.__main__ import main

    out = tmp_path / "s.safetensors"
    assert main(["train", "--data", "shapes", "--limit", "256", "--arch", "conv", "--channels", "8,8",
                 "--hidden", "32", "--latent-dim", "3", "--epochs", "1", "--threads", "1", "--no-progress",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json", "--iwae-k", "0"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("mig", "mig_no_shape", "mig_sampled", "mig_sampled_no_shape"):  # both estimators, with and without shape
        assert 0 <= result[key] <= 1, key
    assert result["mig_no_shape"] != result["mig"] and result["mig_sampled"] != result["mig"]
    assert main(["evaluate", str(tiny_ckpts["vae"]), "--json", "--iwae-k", "0"]) == 0
    assert not any(k.startswith("mig") for k in json.loads(capsys.readouterr().out))


def test_bundled_shapes_demos_are_small_and_use_the_preset():
    from pathlib import Path

    from vae.checkpoint import read_metadata
    from vae.shapes import PRESET_MODEL, PRESET_TRAIN

    demos = sorted((Path(__file__).resolve().parents[1] / "checkpoints" / "demos").glob("shapes-*.safetensors"))
    assert len(demos) == 4
    betas = {"elbo": [], "beta-tcvae": []}
    for p in demos:
        assert p.stat().st_size <= 1024**2  # the bound for a bundled demo
        meta = read_metadata(p)
        assert meta["data"]["name"] == "shapes" and meta["model"]["arch"] == PRESET_MODEL["arch"]
        assert meta["model"]["latent_dim"] == PRESET_MODEL["latent_dim"]
        assert tuple(meta["model"]["channels"]) == PRESET_MODEL["channels"]
        assert len(meta["history"]) == PRESET_TRAIN["epochs"] and meta["train"]["seed"] == 0
        objective = meta["train"].get("objective", "elbo")
        assert ("tcvae" in p.name) == (objective == "beta-tcvae") and ({"mi", "tc", "dwkl"} <= set(meta["history"][-1])
                                                                      ) == (objective == "beta-tcvae")
        betas[objective].append(meta["train"]["beta"])
    for pair in betas.values():  # in file order: β = 1, then a larger β, for each objective
        assert len(pair) == 2 and pair[0] == 1.0 and pair[1] > 1.0
