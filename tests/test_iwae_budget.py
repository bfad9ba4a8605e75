"""The Compare page's IWAE NLL within a time budget: k from an injected cost per sample, vae's IWAE with that k,
kept once per checkpoint content in the run store (vae/iwae_budget.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from vae import iwae_budget
from vae.checkpoint import load_checkpoint, save_checkpoint
from vae.metrics import iwae_nll
from vae.runs import RunStore

SPLIT = '{"name": "digits"}'  # any string: it only names the test split in the key


@pytest.mark.parametrize("cost,n,budget,k_max,k", [
    (1e-4, 359, 5, 50, 50),  # an MLP on digits: 139 would fit, capped at 50
    (2.5e-4, 2560, 5, 50, 7),  # a conv model on shapes: 5 / (2.5e-4 · 2560) = 7.8
    (1e-3, 1000, 5, 50, 5),  # exactly 5 · 1000 · 1e-3 = 5 s still fits
    (1e-3, 1000, 4.999, 50, 4),
    (1e-2, 10_000, 5, 50, 1),  # too slow for even one sample each: one, never zero
    (1e-3, 1000, 0, 50, 1),
    (1e-9, 1, 5, 3, 3),
])
def test_k_is_the_largest_that_fits_the_budget(cost, n, budget, k_max, k):
    assert iwae_budget.choose_k(cost, n, budget, k_max) == k


def test_k_is_deterministic_and_fits_for_any_cost():
    rng = np.random.default_rng(0)
    for cost, n, budget in zip(10 ** rng.uniform(-6, -2, 500), rng.integers(1, 20_000, 500), rng.uniform(0, 20, 500)):
        k = iwae_budget.choose_k(float(cost), int(n), float(budget), 50)
        assert k == iwae_budget.choose_k(float(cost), int(n), float(budget), 50)
        assert 1 <= k <= 50
        assert k == 1 or k * n * cost <= budget * (1 + 1e-9)  # fits
        assert k == 50 or (k + 1) * n * cost > budget  # and one more would not


@pytest.mark.parametrize("cost", [0.0, -1.0, math.nan, math.inf])
def test_a_cost_that_is_not_a_time_is_refused(cost):
    with pytest.raises(ValueError, match="cost > 0"):
        iwae_budget.choose_k(cost, 100, 5, 50)


@pytest.fixture
def vae_file(tiny_ckpts, tmp_path):
    path = tmp_path / "v.safetensors"
    path.write_bytes(tiny_ckpts["vae"].read_bytes())
    return path


def _test_x(path):
    from vae.data import config_from_info, load

    return load(config_from_info(load_checkpoint(path).data)).test.x


def test_the_figure_is_vaes_iwae_with_the_chosen_k_and_is_kept(vae_file, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_IWAE_SECONDS", "2")
    store, model, x = RunStore(tmp_path / "runs"), load_checkpoint(vae_file).model, _test_x(vae_file)
    cost = 2 / (13.5 * len(x))  # 13.5 samples per image fit in 2 s
    progress = []
    fig = iwae_budget.compute(store, vae_file, model, x, SPLIT, seed=3, cost_s=cost,
                              on_batch=lambda done, total: progress.append((done, total)))
    assert fig.k == 13 and fig.n == len(x)
    assert fig.nll == iwae_nll(model, x, k=13, seed=3)  # the same estimate, bit for bit
    assert fig.nll != iwae_nll(model, x, k=14, seed=3)
    assert fig.shown() == f"{fig.nll:.2f} (k=13)"
    assert [d for d, _ in progress] == sorted(d for d, _ in progress) and progress[-1] == (len(x), len(x))
    # kept: one side file in the store's cache folder, written whole (no temp file left), read back equal
    files = list((store.runs_root / ".cache" / "iwae").iterdir())
    assert len(files) == 1 and set(json.loads(files[0].read_text())) == {"nll", "k", "n", "seconds"}
    assert iwae_budget.read_kept(store, vae_file, SPLIT, 3) == fig
    # keyed by content, split and seed: another seed or split, or changed weights, is not this figure
    assert iwae_budget.read_kept(store, vae_file, SPLIT, 4) is None
    assert iwae_budget.read_kept(store, vae_file, '{"name": "shapes"}', 3) is None
    copy = tmp_path / "same-bytes.safetensors"
    copy.write_bytes(vae_file.read_bytes())
    assert iwae_budget.read_kept(store, copy, SPLIT, 3) == fig  # same content, another name: the same figure
    changed = load_checkpoint(vae_file).model
    with torch.no_grad():
        next(changed.parameters()).add_(0.01)
    save_checkpoint(copy, changed)
    assert iwae_budget.read_kept(store, copy, SPLIT, 3) is None


def test_sessions_asking_at_once_compute_it_once(vae_file, tmp_path, monkeypatch):
    import threading

    store, model, x = RunStore(tmp_path / "runs"), load_checkpoint(vae_file).model, _test_x(vae_file)
    calls, barrier, figs = [], threading.Barrier(4), []

    def counted(*args, **kwargs):
        calls.append(kwargs["k"])
        return iwae_nll(*args, **kwargs)

    monkeypatch.setattr(iwae_budget, "iwae_nll", counted)

    def visit():
        barrier.wait()
        figs.append(iwae_budget.compute(store, vae_file, model, x, SPLIT, cost_s=1e-3))

    threads = [threading.Thread(target=visit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(calls) == 1 and len(figs) == 4 and len(set(figs)) == 1


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"nll": "NaN", "k": 3, "n": 1, "seconds": 0}',
                                  '{"nll": 1.0, "k": 0, "n": 1, "seconds": 0}', '{"nll": 1.0}',
                                  '{"nll": 1.0, "k": 3, "n": 1, "seconds": 0, "x": "' + "a" * 5000 + '"}'])
def test_a_side_file_that_is_not_ours_is_ignored(vae_file, tmp_path, text):
    store, model, x = RunStore(tmp_path / "runs"), load_checkpoint(vae_file).model, _test_x(vae_file)
    iwae_budget.compute(store, vae_file, model, x[:8], SPLIT, cost_s=1.0)
    (side,) = (store.runs_root / ".cache" / "iwae").iterdir()
    side.write_text(text)
    assert iwae_budget.read_kept(store, vae_file, SPLIT, 0) is None


def test_a_write_cut_short_keeps_nothing_and_still_shows_the_figure(vae_file, tmp_path, monkeypatch):
    import os

    store, model, x = RunStore(tmp_path / "runs"), load_checkpoint(vae_file).model, _test_x(vae_file)[:16]

    def crash(*a):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)  # the write dies before the side file gets its name
    fig = iwae_budget.compute(store, vae_file, model, x, SPLIT, cost_s=1.0)
    assert fig.k == 1 and fig.nll == iwae_nll(model, x, k=1, seed=0)
    assert list((store.runs_root / ".cache" / "iwae").iterdir()) == []  # no half file, no temp file
    monkeypatch.undo()
    assert iwae_budget.read_kept(store, vae_file, SPLIT, 0) is None


def test_models_without_a_prior_have_no_iwae_and_keep_nothing(tiny_ckpts, tmp_path):
    store = RunStore(tmp_path / "runs")
    for kind in ("ae", "pca"):
        ckpt = load_checkpoint(tiny_ckpts[kind])
        assert iwae_budget.compute(store, tiny_ckpts[kind], ckpt.model, _test_x(tiny_ckpts[kind]), SPLIT) is None
    assert not (store.runs_root / ".cache").exists()


def test_the_measured_cost_gives_a_k_in_range(vae_file, tmp_path, monkeypatch):
    model, x = load_checkpoint(vae_file).model, _test_x(vae_file)
    cost = iwae_budget.sample_cost(model, x, 8)
    assert math.isfinite(cost) and 0 < cost < 1
    probed = []
    monkeypatch.setattr(iwae_budget, "sample_cost", lambda m, x, k, seed=0: probed.append(k) or 1e-3)
    assert iwae_budget.fit_k(model, x, 1.0, 50) == 2 and probed == [8, 2]  # 1 / (1e-3 · 359) = 2.8: probed at 2 too
    probed.clear()
    assert iwae_budget.fit_k(model, x, 8 * 1e-3 * len(x), 50) == 8 and probed == [8]  # the probe's k fits: no second
    monkeypatch.undo()
    fig = iwae_budget.compute(RunStore(tmp_path / "runs"), vae_file, model, x, SPLIT)
    assert 1 <= fig.k <= 50 and fig.nll == iwae_nll(model, x, k=fig.k, seed=0)


def test_cache_names_are_checked():
    store = RunStore("/nonexistent-runs")
    assert store.cache_path("iwae", "a" * 64).name == "a" * 64 + ".json"
    for kind, key in (("../x", "a" * 64), ("iwae", "../" + "a" * 61), ("iwae", "A" * 64), ("iwae", "a" * 63)):
        with pytest.raises(ValueError, match="not a cache name"):
            store.cache_path(kind, key)
