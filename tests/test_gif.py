"""GIF export (vae/gif.py, `python -m vae gif`): frame counts and sizes as asked, frame k = the torch decode of the
k-th z after the same uint8 rounding, slerp against its closed form, and impossible requests refused in words."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vae import gif as G
from vae.checkpoint import load_checkpoint
from vae.codes import code_stats
from vae.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _frames(data: bytes) -> list[np.ndarray]:
    im = Image.open(io.BytesIO(data))
    assert im.format == "GIF"
    out = []
    for k in range(im.n_frames):
        im.seek(k)
        out.append(np.asarray(im.convert("L")))
    return out


def _expected(model, z) -> np.ndarray:
    """The torch decode of points z (N, D), rounded to uint8 the way any 8-bit export must: (N, H, W)."""
    with torch.no_grad():
        img = model.decode(torch.as_tensor(np.asarray(z), dtype=torch.float32))  # (N, 1, H, W)
    return np.floor(img.clamp(0, 1).numpy()[:, 0] * 255 + 0.5).astype(np.uint8)


def _tile(frame: np.ndarray, i: int, j: int, hw: tuple[int, int], scale: int) -> np.ndarray:
    """Tile (row i, col j) of a frame, back at 1:1 (tiles are h×w, 1 px apart, upscaled by `scale`)."""
    h, w = hw
    y, x = i * (h + 1) * scale, j * (w + 1) * scale
    block = frame[y : y + h * scale, x : x + w * scale]
    assert (block == np.repeat(np.repeat(block[::scale, ::scale], scale, 0), scale, 1)).all()  # flat blocks
    return block[::scale, ::scale]


@pytest.fixture(scope="module")
def vae8(tiny_ckpts):
    from vae import data as D
    from vae import explore

    ck = load_checkpoint(tiny_ckpts["vae8"])
    test = D.load(D.config_from_info(ck.data)).test
    mu, logvar = explore.encode_dataset(ck.model, test.x)
    return ck.model, code_stats(mu, logvar, True), mu


def test_traversal_frames_are_the_decodes_of_each_frames_z(vae8):
    model, stats, mu = vae8
    dims, frames, scale = [3, 0, 5], 7, 3
    z0 = mu[4]
    data = G.make_gif(model, *G.traversal(model, stats, z0, dims, frames), scale=scale)
    got = _frames(data)
    h, w = model.config.input_shape[1:]
    assert len(got) == frames
    assert got[0].shape == (scale * h, scale * (len(dims) * (w + 1) - 1))
    values = np.linspace(-3, 3, frames)  # a VAE's traversal spans the prior's ±3σ
    for k in range(frames):
        z = np.tile(z0, (len(dims), 1))
        z[np.arange(len(dims)), dims] = values[k]
        want = _expected(model, z)
        for i in range(len(dims)):
            np.testing.assert_array_equal(_tile(got[k], 0, i, (h, w), scale), want[i], err_msg=f"frame {k} dim {dims[i]}")


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_interpolation_frames_follow_the_path(vae8, method):
    model, _, mu = vae8
    a, b, frames = mu[0], mu[9], 12
    got = _frames(G.make_gif(model, *G.interpolation(model, a, b, frames, method), scale=2))
    assert len(got) == frames and got[0].shape == (2 * 8, 2 * 8)
    t = np.linspace(0, 1, frames)[:, None]
    if method == "linear":
        z = (1 - t) * a + t * b
    else:  # closed form (Shoemake 1985): sin((1 − t)Ω)/sin Ω · a + sin(tΩ)/sin Ω · b, cos Ω = â · b̂
        om = np.arccos(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))
        z = (np.sin((1 - t) * om) * a + np.sin(t * om) * b) / np.sin(om)
    want = _expected(model, z)
    for k in range(frames):
        np.testing.assert_array_equal(_tile(got[k], 0, 0, (8, 8), 2), want[k], err_msg=f"frame {k}")


def test_slerp_keeps_norm_and_turns_evenly():
    """With |a| = |b| every slerp point has that norm, and the angle from a grows linearly to Ω."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=6), rng.normal(size=6)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    z = G.interpolation(None, a, b, 9, "slerp")[0][:, 0]  # (9, D)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), np.linalg.norm(a), rtol=1e-12)
    cos = z @ a / np.linalg.norm(z, axis=1) / np.linalg.norm(a)
    om = np.arccos(np.dot(a, b) / np.linalg.norm(a) ** 2)
    np.testing.assert_allclose(np.arccos(np.clip(cos, -1, 1)), np.linspace(0, om, 9), atol=1e-6)
    np.testing.assert_allclose(z[[0, -1]], [a, b], atol=1e-12)


def test_grid_sweep_frames_are_the_grid_at_each_swept_value(vae8):
    model, stats, _ = vae8
    n, frames = 4, 5
    z, cols = G.grid_sweep(model, stats, (1, 2), 6, frames, n=n, spacing="cdf")
    got = _frames(G.make_gif(model, z, cols, scale=1))
    assert len(got) == frames and got[0].shape == (n * 9 - 1, n * 9 - 1)
    from scipy.stats import norm

    vals = norm.ppf(np.linspace(0.05, 0.95, n))  # quantiles of N(0, 1), Kingma & Welling Fig. 4
    for k, s in enumerate(np.linspace(-3, 3, frames)):
        for i, j in ((0, 0), (n - 1, 1), (2, n - 1)):
            zz = np.zeros(8)
            zz[[1, 2, 6]] = vals[j], vals[::-1][i], s  # row 0 at the top = the largest z
            np.testing.assert_array_equal(_tile(got[k], i, j, (8, 8), 1), _expected(model, zz[None])[0])


@pytest.mark.parametrize("call, field", [
    (lambda m, s: G.traversal(m, s, np.zeros(8), [0], 1), "frames"),
    (lambda m, s: G.traversal(m, s, np.zeros(8), [0], 121), "frames"),
    (lambda m, s: G.traversal(m, s, np.zeros(8), [0], 2.5), "frames"),
    (lambda m, s: G.traversal(m, s, np.zeros(8), [0], True), "frames"),
    (lambda m, s: G.traversal(m, s, np.zeros(8), [8], 5), "dims"),
    (lambda m, s: G.traversal(m, s, np.zeros(8), [-1], 5), "dims"),
    (lambda m, s: G.traversal(m, s, np.zeros(8), [1, 1], 5), "dims"),
    (lambda m, s: G.traversal(m, s, np.zeros(8), [], 5), "dims"),
    (lambda m, s: G.interpolation(m, np.zeros(8), np.ones(8), 5, "cubic"), "method"),
    (lambda m, s: G.grid_sweep(m, s, (0, 1), 1, 5), "dims"),
    (lambda m, s: G.grid_sweep(m, s, (0, 1), 2, 5, n=1), "grid"),
    (lambda m, s: G.grid_sweep(m, s, (0, 1), 2, 5, spacing="log"), "spacing"),
    (lambda m, s: G.make_gif(m, *G.interpolation(m, np.zeros(8), np.ones(8), 5), scale=0), "scale"),
    (lambda m, s: G.make_gif(m, *G.interpolation(m, np.zeros(8), np.ones(8), 5), scale=200), "scale"),
    (lambda m, s: G.make_gif(m, *G.interpolation(m, np.zeros(8), np.ones(8), 5), fps=0), "fps"),
    (lambda m, s: G.make_gif(m, np.zeros((5, 1, 3)), 1), "z"),
])
def test_impossible_requests_are_refused_by_field(vae8, call, field):
    model, stats, _ = vae8
    with pytest.raises(ConfigError) as e:
        call(model, stats)
    assert e.value.field == field and len(str(e.value).splitlines()) == 1


def test_limits_come_from_the_environment(vae8, monkeypatch):
    model, stats, _ = vae8
    z, cols = G.traversal(model, stats, np.zeros(8), list(range(8)), 40)
    monkeypatch.setenv("VAE_MAX_GIF_MPIXELS", "1")
    with pytest.raises(ConfigError, match="VAE_MAX_GIF_MPIXELS"):
        G.make_gif(model, z, cols, scale=8)
    assert len(_frames(G.make_gif(model, z, cols))) == 40  # the default scale shrinks to fit
    monkeypatch.setenv("VAE_MAX_GIF_FRAMES", "10")
    with pytest.raises(ConfigError, match="from 2 to 10"):
        G.traversal(model, stats, np.zeros(8), [0], 11)


def test_a_2d_latent_has_no_grid_sweep(tiny_ckpts):
    model = load_checkpoint(tiny_ckpts["vae"]).model
    with pytest.raises(ConfigError, match="third dim"):
        G.grid_sweep(model, {}, (0, 1), 2, 5)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "vae", "gif", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_cli_writes_the_gif_asked_for(tiny_ckpts, tmp_path):
    out = tmp_path / "t.gif"
    r = _cli(tiny_ckpts["ae"], "--kind", "interpolation", "--from", 3, "--to", 7, "--frames", 6, "--scale", 4,
             "--out", out)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["frames"] == 6
    got = _frames(out.read_bytes())
    assert len(got) == 6 and got[0].shape == (32, 32)


def test_cli_refuses_bad_arguments_in_one_line(tiny_ckpts, tmp_path):
    keep = tmp_path / "notes.gif"
    keep.write_text("my notes")
    for args, words in [(["--kind", "traversal", "--out", tmp_path / "x.png"], "must end in .gif"),
                        (["--kind", "traversal", "--out", keep], "not a GIF"),
                        (["--kind", "traversal", "--frames", 0, "--out", tmp_path / "x.gif"], "frames"),
                        (["--kind", "spiral", "--out", tmp_path / "x.gif"], "traversal, interpolation, grid"),
                        (["--kind", "interpolation", "--from", 0, "--to", 10**6, "--out", tmp_path / "x.gif"],
                         "does not exist"),
                        (["--kind", "grid", "--out", tmp_path / "x.gif"], "third dim")]:
        r = _cli(tiny_ckpts["vae"], *args)
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    assert keep.read_text() == "my notes" and not (tmp_path / "x.gif").exists()


@pytest.mark.parametrize("kind", ["vae8", "pca"])
def test_latent_map_offers_the_gifs(tiny_ckpts, runs_dir, kind):
    from conftest import as_run
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["ckpt_id"] = as_run(tiny_ckpts[kind])
    at.session_state["map_classic"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    from conftest import open_map_tab
    from ui.map.state import TABS

    keys = []
    for label in TABS.values():  # one tab open at a time: each tab's own GIF button is drawn while it is open
        keys += [b.key for b in open_map_tab(at, label).get("download_button") if b.proto.label == "Export GIF"]
    want = ["map_gif_trav", "map_gif_interp"] if kind != "vae8" else ["map_gif_grid", "map_gif_trav", "map_gif_interp"]
    assert keys == want, keys  # a 2-D latent has no grid sweep
    from ui.map import tabs as T

    path, d = str(tiny_ckpts[kind]), 8 if kind == "vae8" else 2
    assert len(_frames(T.traversal_gif(path, tuple(np.zeros(d)), 10))) == 10
    assert len(_frames(T.interpolation_gif(path, np.zeros(d), np.ones(d), "slerp", 6))) == 6


def test_colour_frames_keep_their_size_count_and_colours(tmp_path):
    import canvas_helpers as cv

    model = load_checkpoint(cv.colour_checkpoint(tmp_path)).model
    z, cols = G.interpolation(model, np.full(2, -2.0), np.full(2, 2.0), 6)
    frames = G.render(model, z, cols, scale=3)
    assert frames[0].shape == (24, 24, 3)
    im = Image.open(io.BytesIO(G.encode_gif(frames)))
    assert im.n_frames == 6 and im.size == (24, 24)
    for k in range(6):  # one 256-colour palette for all frames: every frame within a few levels of its pixels
        im.seek(k)
        err = np.abs(np.asarray(im.convert("RGB")).astype(int) - frames[k])
        assert err.mean() < 3 and err.max() < 32, (k, err.mean(), err.max())
