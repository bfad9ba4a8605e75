"""The replay player's data (ui/replay.py): what the page is sent is the recorded means on the view's plane, thinned
evenly (first and last kept) when a long run would exceed the page's budget."""

from __future__ import annotations

import numpy as np

from ui import replay as UR
from vae import wire
from vae.checkpoint import load_checkpoint
from vae.replay import read


def test_browser_epochs_fit_the_budget_and_keep_the_ends():
    assert list(UR.browser_epochs(3, 359)) == [0, 1, 2]
    keep = UR.browser_epochs(500, 2000, budget=2000 * UR.BYTES_PER_POSITION * 40)
    assert len(keep) <= 40 and keep[0] == 0 and keep[-1] == 499 and list(keep) == sorted(set(keep))
    assert np.ptp(np.diff(keep)) <= 1  # evenly spread


def test_frames_are_the_recorded_means_on_the_plane(tiny_ckpts):
    for name, d in (("vae", 2), ("vae8", 8)):
        path = tiny_ckpts[name]
        rep = read(load_checkpoint(path).replay)
        got = UR.frames(path, "dims", (0, 1) if d == 2 else (3, 5))
        content = got["part"].content
        xy = wire.tensor_values(content["xy"])  # (E, N, 2) as the page reads it
        assert xy.shape == (len(rep.epochs), len(rep.rows), 2)
        want = rep.mu[:, :, [0, 1] if d == 2 else [3, 5]]
        np.testing.assert_allclose(xy, want, atol=2e-3)
        assert content["epochs"] == [float(e) for e in rep.epochs] and content["n"] == len(rep.rows)
        x0, x1, y0, y1 = content["bounds"]
        assert x0 < want[..., 0].min() and x1 > want[..., 0].max() and y0 < want[..., 1].min()
        assert len(content["frame_bounds"]) == len(rep.epochs)


def test_the_default_plane_is_the_two_most_spread_dims():
    rng = np.random.default_rng(0)
    last = rng.normal(size=(100, 5)) * np.array([0.1, 3, 0.2, 2, 0.1])
    origin, basis, axes = UR.replay_plane(last, "dims", None)
    assert axes == ["z2", "z4"] and basis[0, 1] == 1 and basis[1, 3] == 1
    _, basis, axes = UR.replay_plane(last, "pca", None)
    assert axes == ["PC1", "PC2"] and abs(abs(basis[0, 1]) - 1) < 0.05


def test_a_checkpoint_without_a_replay_has_no_frames(tiny_ckpts, tmp_path):
    from vae.checkpoint import save_checkpoint

    ck = load_checkpoint(tiny_ckpts["vae"])
    old = save_checkpoint(tmp_path / "old.safetensors", ck.model, data=ck.data)
    assert UR.frames(old) is None
