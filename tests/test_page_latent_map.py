"""Latent map page (AppTest) and the plane / ellipse / grid helpers it uses, against closed forms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import open_map_tab, plotly_array

from vae import explore

ROOT = Path(__file__).resolve().parents[1]


def _app(path, classic: bool = True) -> AppTest:
    """The page; classic: with the server-drawn Plotly map, which AppTest can inspect (it cannot run the canvas's JS;
    tests/test_canvas_browser.py drives that in Chromium)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    from conftest import as_run

    at.session_state["ckpt_id"] = as_run(path)
    at.session_state["map_classic"] = classic
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _spec(at) -> dict:
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


_arr = plotly_array


def _image(at, caption_start: str):
    hits = [im for im in at.get("image") if im.proto.imgs[0].caption.startswith(caption_start)]
    assert hits, f"no image captioned {caption_start!r}"
    return hits[0].proto.imgs[0]


# --- the page ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["vae", "ae", "pca", "vae8"])
def test_page_renders_for_every_model_kind(tiny_ckpts, runs_dir, kind):
    at = _app(tiny_ckpts[kind])
    d = 8 if kind == "vae8" else 2
    assert sorted(s.key for s in at.slider) == sorted(f"map_z{i + 1}" for i in range(d))
    spec = _spec(at)
    names = [t.get("name") for t in spec["data"]]
    assert "grid" in names and "decoded z" in names
    n_points = sum(len(_arr(t["customdata"])) for t in spec["data"] if t.get("customdata") is not None)
    assert n_points == 359  # round(1797 * 0.2) digits test images, every one on the map
    assert not any("decodes of z ~ N(0, I), seed" in im.proto.imgs[0].caption for im in at.get("image"))  # closed tab
    open_map_tab(at, "Prior samples")
    assert any(im.proto.imgs[0].caption.startswith("32 decodes of z ~ N(0, I)") for im in at.get("image"))
    assert any("not a generative model" in w.value for w in at.warning) == (kind in ("ae", "pca"))


@pytest.mark.parametrize("classic", [True, False])
def test_every_map_key_is_dropped_with_its_checkpoint_or_kept_on_purpose(tiny_ckpts, runs_dir, classic):
    """Opening another checkpoint drops the keys registered with ui.map.state.scoped, not every 'map_' key: a key
    the page makes without registering it would outlive its checkpoint. The prefix is only this test's net."""
    from conftest import as_run

    from ui.map.state import KEPT, is_scoped

    other = as_run(tiny_ckpts["vae"])  # in the store before the sidebar lists it
    at = _app(tiny_ckpts["vae8"], classic=classic)
    at.session_state["map_point"] = 3
    at.run()
    made = {str(k) for k in at.session_state if str(k).startswith("map_")}
    from ui.map.state import TABS

    for label in TABS.values():  # each tab's widgets exist only while it is open
        made |= {str(k) for k in open_map_tab(at, label).session_state if str(k).startswith("map_")}
    assert "map_z8" in made and "map_point" in made
    assert not {k for k in made if not is_scoped(k) and k not in KEPT}, "unregistered map keys"
    at.session_state["ckpt_id"] = other  # what the sidebar picker's callback does
    at.run()
    assert not at.exception
    assert at.session_state["map_point"] is None and len(at.session_state["map_z"]) == 2
    assert "map_z8" not in at.session_state  # the 8-D checkpoint's slider went with it


def test_slider_changes_the_decoded_image_and_marker(tiny_ckpts, runs_dir):
    at = _app(tiny_ckpts["vae"])
    before = _image(at, "decoded z").url
    at.run()
    assert _image(at, "decoded z").url == before  # same z, same picture: the url is a content hash
    at.slider(key="map_z1").set_value(2.5).run()
    at.slider(key="map_z2").set_value(-2.0).run()
    assert not at.exception
    assert _image(at, "decoded z").url != before
    assert at.session_state["map_z"] == pytest.approx([2.5, -2.0])
    marker = next(t for t in _spec(at)["data"] if t.get("name") == "decoded z")
    assert _arr(marker["x"])[0] == pytest.approx(2.5) and _arr(marker["y"])[0] == pytest.approx(-2.0)
    assert at.session_state["map_fragment_ms"] > 0


def test_clicked_point_shows_reconstruction_and_posterior_ellipse(tiny_ckpts, runs_dir):
    from ui.common import encode_test

    path = tiny_ckpts["vae"]
    at = _app(path)
    enc = encode_test(path)
    row = 7
    at.session_state["map_point"] = row  # what the on_select callback writes for a click on a data point
    at.session_state["map_z"] = [float(v) for v in enc["mu"][row]]
    at.run()
    assert not at.exception
    _image(at, f"x: test #{row}")
    _image(at, "x̂")
    assert any("KL" in m.value and "nats" in m.value for m in at.markdown)
    ell = next(t for t in _spec(at)["data"] if t.get("name") == "posterior μ ± σ")
    xy = np.column_stack([_arr(ell["x"]), _arr(ell["y"])])
    sigma = np.exp(0.5 * enc["logvar"][row])
    # every ellipse point is one standard deviation from the mean in the axis-aligned posterior
    r2 = (((xy - enc["mu"][row]) / sigma) ** 2).sum(1)
    np.testing.assert_allclose(r2, 1.0, rtol=1e-4)


def test_point_codes_have_no_ellipse(tiny_ckpts, runs_dir):
    at = _app(tiny_ckpts["ae"])
    at.session_state["map_point"] = 3
    at.run()
    assert not at.exception
    assert "posterior μ ± σ" not in [t.get("name") for t in _spec(at)["data"]]
    assert any("point code" in c.value for c in at.caption)


def _select_script():
    import streamlit as st

    from ui.map import plotly_map as PM
    from ui.map import state as S

    ctx = st.session_state["test_ctx"]
    S.sync_state(ctx["path"], ctx["d"])
    st.session_state[S.K_CTX] = ctx["map_ctx"]
    st.session_state[PM.CHART_KEY] = {"selection": {"points": ctx["points"]}}
    PM.on_select()


def test_on_select_copies_data_and_empty_space_clicks(tiny_ckpts, runs_dir):
    from streamlit.testing.v1 import AppTest

    from ui.common import encode_test

    path = str(tiny_ckpts["vae8"])
    mu = encode_test(path)["mu"]
    ctx = {"path": path, "method": "dims", "n_data": 10, "origin": [0.0] * 8,
           "basis": np.eye(8)[[2, 5]].tolist()}
    at = AppTest.from_function(_select_script, default_timeout=60)
    at.session_state["test_ctx"] = {"path": path, "d": 8, "map_ctx": ctx,
                                    "points": [{"curve_number": 3, "x": 0.0, "y": 0.0, "customdata": 11}]}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["map_point"] == 11
    np.testing.assert_allclose(at.session_state["map_z"], mu[11], rtol=1e-6)
    # a click on the invisible grid (curve 10) sets the two viewed dims, 3 and 6, and keeps the rest
    at.session_state["test_ctx"] = {"path": path, "d": 8, "map_ctx": ctx,
                                    "points": [{"curve_number": 10, "x": 1.5, "y": -0.5}]}
    at.run()
    z = np.asarray(at.session_state["map_z"])
    expected = mu[11].astype(np.float64).copy()
    expected[2], expected[5] = 1.5, -0.5
    np.testing.assert_allclose(z, expected, rtol=1e-6, atol=1e-7)
    assert at.session_state["map_z3"] == pytest.approx(1.5)  # the sliders follow the click
    # a grid target that Plotly preferred over a dot under the pointer still picks the dot
    xy = mu[:, [2, 5]].astype(np.float64)
    gaps = np.abs(xy[:, None] - xy[None]).max(-1) + np.eye(len(xy)) * 1e9
    lonely = int(np.argmax(gaps.min(1)))  # the dot farthest from its neighbours, so the answer is unambiguous
    ctx_snap = dict(ctx, dims=[2, 5], span=[6.0, 6.0])
    at.session_state["test_ctx"] = {"path": path, "d": 8, "map_ctx": ctx_snap,
                                    "points": [{"curve_number": 10, "x": xy[lonely, 0] + 1e-3,
                                                "y": xy[lonely, 1] - 1e-3}]}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["map_point"] == lonely


def test_projection_choices_for_an_8d_model(tiny_ckpts, runs_dir):
    at = _app(tiny_ckpts["vae8"])
    assert _spec(at)["layout"]["xaxis"]["title"]["text"].startswith("z")
    at.radio(key="map_method").set_value("pca").run()
    assert not at.exception
    spec = _spec(at)
    assert spec["layout"]["xaxis"]["title"]["text"] == "PC1"
    assert "decoded z" in [t.get("name") for t in spec["data"]]
    at.radio(key="map_method").set_value("tsne").run()
    assert not at.exception
    spec = _spec(at)
    assert spec["layout"]["xaxis"]["title"]["text"] == "t-SNE 1"
    assert "grid" not in [t.get("name") for t in spec["data"]]  # t-SNE has no inverse to decode empty space
    assert len(at.get("plotly_chart")) == 1 and len(at.slider) == 8


def test_overlay_places_decoded_images_at_their_z(tiny_ckpts, runs_dir):
    at = _app(tiny_ckpts["vae"])
    at.toggle(key="map_overlay").set_value(True).run()
    assert not at.exception
    images = _spec(at)["layout"]["images"]
    assert len(images) == 15 * 15
    assert all(im["source"].startswith("data:image/png;base64,") for im in images)
    xs, ys = (np.unique([im[k] for im in images]) for k in ("x", "y"))
    assert len(xs) == len(ys) == 15  # a full 15 × 15 grid: every (x, y) pair once
    assert {(im["x"], im["y"]) for im in images} == {(x, y) for x in xs for y in ys}
    for v in (xs, ys):  # evenly spaced, over the data's range and the prior's ±3σ (a VAE's slider range)
        np.testing.assert_allclose(np.diff(v), (v[-1] - v[0]) / 14, rtol=1e-6)
        assert v[0] <= -3 and v[-1] >= 3
    assert all(im["xref"] == "x" and im["yref"] == "y" and im["xanchor"] == "center" and im["yanchor"] == "middle"
               and im["sizex"] <= xs[1] - xs[0] for im in images)  # centred on their z, no overlap
    # each picture is the decoder's image at its own (x, y), decoded here straight from the model
    import base64
    import io

    from PIL import Image

    from vae.checkpoint import load_checkpoint

    model = load_checkpoint(tiny_ckpts["vae"]).model.eval()
    z = torch.tensor([[im["x"], im["y"]] for im in images], dtype=torch.float32)
    with torch.no_grad():
        want = model.decode(z)[:, 0].numpy()  # (225, 8, 8) in [0, 1]
    for im, w in zip(images, want):
        png = np.asarray(Image.open(io.BytesIO(base64.b64decode(im["source"].split(",", 1)[1]))), dtype=np.float64)
        got = png[:: png.shape[0] // 8, :: png.shape[1] // 8] / 255  # one pixel of each upscaled 8 × 8 block
        np.testing.assert_allclose(got, w, atol=1 / 255 + 1e-6)


def test_latents_csv_has_one_row_per_test_image(tiny_ckpts):
    from ui.map import tabs as T
    from ui.common import encode_test

    path = str(tiny_ckpts["vae8"])
    lines = T.latents_csv(path).decode().strip().split("\n")
    head = lines[0].split(",")
    assert head[:3] == ["index", "label", "mu_1"] and head[-1] == "logvar_8" and len(head) == 2 + 16
    assert len(lines) == 1 + 359
    first = np.array(lines[1].split(","), dtype=float)
    np.testing.assert_allclose(first[2:10], encode_test(path)["mu"][0], rtol=1e-5, atol=1e-6)
    assert "logvar_1" not in T.latents_csv(str(tiny_ckpts["ae"])).decode().split("\n")[0]


# --- vae.explore helpers against closed forms -------------------------------------------------------------


def test_pca_plane_matches_sklearn_and_round_trips():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    mu = rng.normal(size=(500, 6)) * np.array([5.0, 3.0, 1.0, 0.5, 0.2, 0.1]) + 2.0
    origin, basis = explore.latent_plane(mu, "pca")
    ref = PCA(n_components=2).fit(mu)
    np.testing.assert_allclose(origin, ref.mean_, atol=1e-10)
    np.testing.assert_allclose(np.abs((basis * ref.components_).sum(1)), 1.0, atol=1e-8)  # same axes, up to sign
    np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-10)
    # points already on the plane come back exactly
    on_plane = origin + rng.normal(size=(20, 2)) @ basis
    np.testing.assert_allclose(explore.from_plane(explore.to_plane(on_plane, origin, basis), origin, basis),
                               on_plane, atol=1e-10)


def test_dims_plane_sets_two_dims_and_keeps_the_rest():
    origin, basis = explore.latent_plane(np.zeros((3, 5)), "dims", dims=(3, 1))
    base = np.arange(5.0)
    z = explore.from_plane([[7.0, -2.0]], origin, basis, base=base)[0]
    np.testing.assert_allclose(z, [0.0, -2.0, 2.0, 7.0, 4.0])
    np.testing.assert_allclose(explore.to_plane(z, origin, basis), [[7.0, -2.0]])


def test_projected_gaussian_and_ellipse_closed_forms():
    rng = np.random.default_rng(1)
    mu, logvar = rng.normal(size=4), rng.normal(size=4)
    origin, basis = explore.latent_plane(np.zeros((2, 4)), "dims", dims=(0, 2))
    centre, cov = explore.project_gaussian(mu, logvar, origin, basis)
    np.testing.assert_allclose(centre, mu[[0, 2]])
    np.testing.assert_allclose(cov, np.diag(np.exp(logvar[[0, 2]])))
    # a rotated plane: the projected covariance is B Σ Bᵀ, checked against samples of the 4-D Gaussian
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    b = q[:2]
    samples = mu + rng.normal(size=(200_000, 4)) * np.exp(0.5 * logvar)
    _, cov_b = explore.project_gaussian(mu, logvar, np.zeros(4), b)
    np.testing.assert_allclose(cov_b, np.cov((samples @ b.T).T), atol=0.02 * np.abs(cov_b).max())
    pts = explore.ellipse([1.0, -1.0], cov_b, k=2.0)
    d = pts - [1.0, -1.0]
    maha = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov_b), d)
    np.testing.assert_allclose(maha, 4.0, rtol=1e-8)
    np.testing.assert_allclose(pts[0], pts[-1])  # a closed curve


def test_decode_grid_against_pca_closed_form():
    from vae.config import ModelConfig
    from vae.model import build_model

    x = torch.rand(64, 1, 8, 8)
    model = build_model(ModelConfig(kind="pca", latent_dim=3, likelihood="gaussian")).fit(x)
    xs, ys = np.array([-1.0, 0.0, 2.0]), np.array([0.5, -0.5])
    base = np.array([0.0, 0.0, 0.3])
    images, z = explore.decode_grid(model, xs, ys, dims=(0, 2), base=base)
    assert images.shape == (2, 3, 1, 8, 8)
    comps, mean = model.components.numpy(), model.mean.numpy()
    for i, yv in enumerate([0.5, -0.5]):  # row 0 is the largest y
        for j, xv in enumerate(xs):
            zz = np.array([xv, 0.0, yv])
            np.testing.assert_allclose(z[i, j], zz)
            expected = np.clip(zz @ comps + mean, 0, 1).reshape(1, 8, 8)
            np.testing.assert_allclose(images[i, j], expected, atol=1e-5)


def test_a_collapsed_model_is_called_out_on_the_map(runs_dir):
    from streamlit.testing.v1 import AppTest

    demos = Path(__file__).resolve().parents[1] / "checkpoints" / "demos"
    for name, collapsed in (("digits-6-beta4-vae-collapsed", True), ("digits-3-vae", False)):
        at = AppTest.from_file("../app.py", default_timeout=60)
        assert (demos / f"{name}.safetensors").exists()
        at.session_state["ckpt_id"] = f"demo/{name}"
        at.run()
        assert not at.exception
        assert any("posterior has collapsed" in w.value for w in at.warning) == collapsed, name


def test_spacing_radio_follows_the_checkpoint_kind(tiny_ckpts, runs_dir):
    """Opening the AE after a VAE: the radio must be *pushed* to 'linear' (set_value), or the browser keeps
    showing 'quantiles' for the same widget ID while the grid is spaced linearly."""
    from conftest import as_run

    ae = as_run(tiny_ckpts["ae"])  # in the store before the sidebar lists it
    at = _app(tiny_ckpts["vae"])
    assert at.radio(key="map_spacing").value == "cdf"
    at.selectbox(key="sidebar_ckpt").set_value(ae).run()
    assert not at.exception
    radio = at.radio(key="map_spacing")
    assert radio.value == "linear" and radio.proto.set_value
    assert "evenly over the range" in _image(at, "Decoded grid").caption


def test_tiny_ellipse_gets_an_enlarged_copy_drawn_above_the_ring():
    import plotly.graph_objects as go

    from ui.map.plotly_map import ELLIPSE_MIN, add_ellipse

    layout = {"xaxis": {"range": [-4, 4]}, "yaxis": {"range": [-4, 4]}}
    fig = go.Figure(go.Scattergl(x=[0.5], y=[0.5], name="clicked #1"))
    scale = add_ellipse(fig, [0.5, 0.5], np.diag([0.05**2, 0.03**2]), layout)  # MNIST-sized σ
    names = [t.name for t in fig.data]
    assert names[0] == "clicked #1" and names[1] == "posterior μ ± σ"  # on top of the ring
    big = fig.data[2]
    radius = np.hypot(np.asarray(big.x) - 0.5, np.asarray(big.y) - 0.5).max()
    np.testing.assert_allclose(radius, ELLIPSE_MIN * 8, rtol=1e-3)
    assert f"×{scale:.3g}" in big.name
    fig2 = go.Figure()
    assert add_ellipse(fig2, [0, 0], np.eye(2), layout) == 1.0 and len(fig2.data) == 1  # big enough: no copy
