"""Attribute vectors and latent arithmetic (vae/attributes.py, ui/attributes.py): v against group means computed
here, the projection onto v, the analogy row against a torch decode of A − B + C, and the named vectors in the URL,
hostile values included."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import read_as_shown
from vae import attributes as V

ROOT = Path(__file__).resolve().parents[1]


def _codes(n=300, d=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    mu = rng.normal(size=(n, d)) + y[:, None] * np.linspace(-1, 1, d)  # the labels sit apart
    return mu, y


# --- the maths ---------------------------------------------------------------------------------------------------


def test_vector_is_the_difference_of_the_group_means():
    mu, y = _codes()
    v = V.attribute_vector(mu, V.rows_where(y, 1), V.rows_where(y, 3))
    want = np.array([mu[i] for i in range(len(y)) if y[i] == 3]).mean(0) - np.array(
        [mu[i] for i in range(len(y)) if y[i] == 1]).mean(0)
    np.testing.assert_allclose(v, want, rtol=1e-12, atol=1e-12)
    assert np.linalg.norm(v) > 1  # the groups differ, so equality means something
    sel_a, sel_b = [0, 5, 7], [2, 3]  # a selection on the map: any rows
    np.testing.assert_allclose(V.attribute_vector(mu, sel_a, sel_b),
                               (mu[2] + mu[3]) / 2 - (mu[0] + mu[5] + mu[7]) / 3, atol=1e-12)


def test_factor_levels_group_the_shapes_dataset():
    from vae import data as D

    test = D.load(D.DataConfig(name="shapes")).test
    k = test.factor_names.index("scale")
    f = test.factors[:, k].numpy()
    mu = np.random.default_rng(1).normal(size=(len(f), 3))
    lo, hi = 0, len(test.factor_levels[k]) - 1
    v = V.attribute_vector(mu, V.rows_where(f, lo), V.rows_where(f, hi))
    np.testing.assert_allclose(v, mu[f == hi].mean(0) - mu[f == lo].mean(0), atol=1e-12)


def test_empty_or_out_of_range_groups_are_refused():
    mu, y = _codes()
    with pytest.raises(V.VectorError, match="no images"):
        V.attribute_vector(mu, V.rows_where(y, 9), V.rows_where(y, 1))
    with pytest.raises(V.VectorError, match="outside"):
        V.attribute_vector(mu, [0, 10_000], [1])


def test_along_and_analogy():
    z, v = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    np.testing.assert_allclose(V.along(z, v, [-2, 0, 1.5]), [[0, -2.5], [1, -2], [1.75, -1.625]])
    np.testing.assert_allclose(V.analogy([3, 1], [1, 1], [0, 2]), [2, 2])


def test_projection_onto_v():
    mu, y = _codes(d=6)
    v = V.attribute_vector(mu, V.rows_where(y, 0), V.rows_where(y, 2))
    origin, basis = V.projection_basis(mu, v)
    np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-10)  # orthonormal
    np.testing.assert_allclose(origin, mu.mean(0), atol=1e-12)
    xy = (mu - origin) @ basis.T
    np.testing.assert_allclose(xy[:, 0], (mu - mu.mean(0)) @ (v / np.linalg.norm(v)), atol=1e-10)  # x: along v
    from sklearn.decomposition import PCA

    u = v / np.linalg.norm(v)
    rest = (mu - mu.mean(0)) - np.outer((mu - mu.mean(0)) @ u, u)
    top = PCA(1).fit(rest).components_[0]
    assert abs(abs(top @ basis[1]) - 1) < 1e-8  # y: the main direction of what is left
    with pytest.raises(V.VectorError, match="zero length"):
        V.projection_basis(mu, np.zeros(6))


# --- named vectors in the URL ------------------------------------------------------------------------------------


def test_url_round_trip():
    vecs = [V.Named("thickness", (0.123456, -2.0, 3e-5)), V.Named("Dicke (Strich) 2", (1.0, 0.0, -0.5))]
    got = V.parse_vectors(V.format_vectors(vecs), 3)
    assert [n.name for n in got] == ["thickness", "Dicke (Strich) 2"]
    np.testing.assert_allclose([n.v for n in got], [[0.1235, -2.0, 3e-5], [1.0, 0.0, -0.5]])


def test_what_is_kept_always_fits_a_link():
    big = [V.Named(f"v{i}", tuple(np.linspace(-1.23456, 1.23456, 512))) for i in range(2)]
    assert V.fits_url(big[:1]) and not V.fits_url(big)  # 512 numbers fit once, not twice
    assert V.parse_vectors(V.format_vectors(big[:1]), 512) is not None


@pytest.mark.parametrize("text", [
    "", "thick", "thick~1", "thick~1,2,3", "~1,2", "thick~a,b", "thick~nan,1", "thick~inf,1", "thick~1e4,0",
    "thick~0,0", "a~1,2;a~2,3", "a;b~1,2", "bad\u202ename~1,2", "tab\tname~1,2", "x" * 41 + "~1,2",
    ";".join(f"v{i}~1,2" for i in range(V.MAX_VECTORS + 1)), "a~" + "1" * V.MAX_PARAM_CHARS + ",2", "a~1,2;",
])
def test_hostile_url_values_are_refused(text):
    assert V.parse_vectors(text, 2) is None


# --- the tab (AppTest) -------------------------------------------------------------------------------------------


def _app(params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["map_classic"] = True
    for k, v in {"tab": "attributes", **params}.items():  # a link to the Attribute vectors tab
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _q(at, key):
    v = at.query_params.get(key)
    return v[-1] if isinstance(v, list) else v


def test_the_tab_keeps_a_named_vector_in_the_url_and_a_link_brings_it_back(runs_dir):
    from ui.common import encode_test, resolve

    at = _app({"ckpt": "demo/digits-3-vae"})
    enc = encode_test(resolve("demo/digits-3-vae"))
    v = enc["mu"][enc["y"] == 1].mean(0) - enc["mu"][enc["y"] == 0].mean(0)  # the defaults: A = label 0, B = 1
    shown = [m.value for m in at.markdown if m.value.startswith("v = mean")]
    assert shown and f"|v| = {np.linalg.norm(v):.3g}" in shown[0]
    at.text_input(key="map_attr_name").set_value("zero to one")
    at.button(key="map_attr_keep").click().run()
    assert not at.exception
    kept = V.parse_vectors(_q(at, "vec"), 2)
    assert [n.name for n in kept] == ["zero to one"]
    np.testing.assert_allclose(kept[0].v, v, rtol=1e-3, atol=1e-4)
    back = _app({"ckpt": "demo/digits-3-vae", "vec": _q(at, "vec")})
    assert back.session_state["map_vectors"][0]["name"] == "zero to one"
    assert back.selectbox(key="map_attr_use").options == ["(this pair)", "zero to one"]


@pytest.mark.parametrize("vec", ["thick~1,2,3", "thick~nan,1", "a;b~1,2", "**x**~1,2;" * 10])
def test_a_hostile_vec_is_ignored_with_a_notice(runs_dir, vec):
    at = _app({"ckpt": "demo/digits-3-vae", "vec": vec})
    assert "map_vectors" not in at.session_state or not at.session_state["map_vectors"]
    notes = read_as_shown(" ".join(w.value for w in at.warning))
    m = re.search(r"ignored the link's (.+?): not valid", notes)
    assert m and m.group(1).split(", ") == ["vec"], notes
    assert "vec" not in at.query_params


def test_a_name_is_shown_as_text_not_markup(runs_dir):
    name = "**bold** [x](http://e.vil) <b>"
    at = _app({"ckpt": "demo/digits-3-vae", "vec": V.format_vectors([V.Named(name, (1.0, 0.5))])})
    assert at.session_state["map_vectors"][0]["name"] == name  # kept as it is, shown escaped
    at.selectbox(key="map_attr_use").set_value(name).run()
    at.toggle(key="map_attr_show_view").set_value(True).run()
    assert not at.exception
    spec = [c.proto.spec for c in at.get("plotly_chart") if "along" in c.proto.spec]
    assert spec and "<b>" not in spec[0].split("along", 1)[1][:80] and "&lt;b&gt;" in spec[0]


def test_the_analogy_row_decodes_a_minus_b_plus_c(runs_dir):
    from ui.common import load_model, resolve
    from ui.map.state import Pin

    at = _app({"ckpt": "demo/digits-3-vae"})
    a, b, c = [0.5, -1.0], [1.5, 0.25], [-0.75, 0.8]
    at.session_state["map_a"] = Pin(tuple(a))
    at.session_state["map_b"] = Pin(tuple(b))
    at.session_state["map_pin_c"] = Pin(tuple(c))
    at.run()
    assert not at.exception
    want = np.array(a) - np.array(b) + np.array(c)
    cap = [x.value for x in at.caption if x.value.startswith("A − B + C = (")]
    assert cap and cap[0] == "A − B + C = (" + ", ".join(f"{x:.3f}" for x in want) + ")"
    assert [im for im in at.get("image") if im.proto.imgs[0].caption == "A − B + C"]
    from ui import attributes as UA

    model = load_model(resolve("demo/digits-3-vae")).model
    z, imgs = UA.analogy_row(model, [Pin(tuple(a)), Pin(tuple(b)), Pin(tuple(c))])
    np.testing.assert_allclose(z, want, atol=1e-12)
    with torch.no_grad():
        ref = model.decode(torch.tensor(np.stack([a, b, c, want]), dtype=torch.float32)).numpy()  # (4, 1, 8, 8)
    np.testing.assert_allclose(imgs, ref, atol=1e-6)
    assert np.abs(imgs[3] - imgs[2]).max() > 0.05  # A − B + C is not C: the row shows a change


def test_a_selection_on_the_projection_view_becomes_a_group(runs_dir):
    from ui.common import encode_test, resolve

    at = _app({"ckpt": "demo/digits-3-vae"})
    at.toggle(key="map_attr_show_view").set_value(True).run()
    rows = [3, 10, 42, 77]
    at.session_state["map_attr_sel"] = rows  # what a lasso on the view leaves (ui.attributes._on_select)
    at.run()
    at.button(key="map_attr_take_A").click().run()
    assert not at.exception
    assert at.session_state["map_attr_by_A"] == "selection" and at.session_state["map_attr_rows_A"] == rows
    enc = encode_test(resolve("demo/digits-3-vae"))
    v = enc["mu"][enc["y"] == 1].mean(0) - enc["mu"][rows].mean(0)  # B is still label 1
    shown = [m.value for m in at.markdown if m.value.startswith("v = mean")]
    assert shown and "a selection (4 images)" in read_as_shown(shown[0])
    assert f"|v| = {np.linalg.norm(v):.3g}" in shown[0]


def test_on_select_keeps_the_selected_rows(monkeypatch):
    from ui import attributes as UA

    state = {UA.VIEW_KEY: {"selection": {"points": [{"customdata": 5}, {"customdata": [9]}, {"customdata": "x"},
                                                    {"customdata": 5}, {}]}}}
    monkeypatch.setattr(UA.st, "session_state", state)
    UA._on_select()
    assert state[UA.K_SEL] == [5, 9]


@pytest.mark.parametrize("name", ["", "a;b", "tilde~name", "bidi\u202eevil"])
def test_keep_refuses_a_name_a_link_could_not_carry(runs_dir, name):
    at = _app({"ckpt": "demo/digits-3-vae"})
    at.text_input(key="map_attr_name").set_value(name)
    at.button(key="map_attr_keep").click().run()
    assert not at.exception
    assert not at.session_state["map_vectors"] if "map_vectors" in at.session_state else True
    assert "vec" not in at.query_params
    assert any("A vector's name is 1 to" in w.value for w in at.warning)


def test_groups_by_factor_level_on_the_shapes_demo(runs_dir):
    from ui.common import current_data, encode_test, load_model, resolve

    at = _app({"ckpt": "demo/shapes-1-vae-b1"})
    for g in "AB":
        at.radio(key=f"map_attr_by_{g}").set_value("factor")
    at.run()
    at.selectbox(key="map_attr_factor_A").set_value("scale")
    at.selectbox(key="map_attr_factor_B").set_value("scale").run()
    assert not at.exception
    path = resolve("demo/shapes-1-vae-b1")
    test = current_data(load_model(path)).test
    k = test.factor_names.index("scale")
    f, mu = test.factors[:, k].numpy(), encode_test(path)["mu"]
    top = len(test.factor_levels[k]) - 1  # the defaults: A the smallest level, B the largest
    v = mu[f == top].mean(0) - mu[f == 0].mean(0)
    shown = read_as_shown([m.value for m in at.markdown if m.value.startswith("v = mean")][0])
    assert f"from scale = {test.factor_levels[k][0]} ({(f == 0).sum()} images)" in shown, shown
    assert f"|v| = {np.linalg.norm(v):.3g}" in shown
