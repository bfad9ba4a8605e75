"""The view in the URL: restored from a link, written back as it changes, and hostile values refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import read_as_shown

ROOT = Path(__file__).resolve().parents[1]


def _app(params: dict[str, str], page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["map_classic"] = True  # the server-drawn map, which AppTest can inspect
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _q(at: AppTest, key: str) -> str | None:
    v = at.query_params.get(key)
    return v[-1] if isinstance(v, list) else v


def test_a_link_restores_checkpoint_point_and_pins(runs_dir):
    at = _app({"ckpt": "demo/digits-2-ae", "pt": "5", "a": "i3", "b": "0.5,-1.25"})
    assert at.session_state["ckpt_id"] == "demo/digits-2-ae"
    assert at.session_state["map_point"] == 5
    assert at.session_state["map_a"].label == "test #3"
    assert (at.session_state["map_b"].z, at.session_state["map_b"].label) == ((0.5, -1.25), "chosen z")
    assert not [w for w in at.warning if "From the link" in w.value]
    assert any(im.proto.imgs[0].caption.startswith("x: test #5") for im in at.get("image"))


def test_the_url_follows_the_view(runs_dir):
    at = _app({})
    at.session_state["map_point"] = 7
    at.run()
    assert _q(at, "ckpt") == "demo/digits-3-vae" and _q(at, "pt") == "7"
    at.session_state["ckpt_id"] = "demo/digits-2-ae"  # what the sidebar picker's callback does
    at.run()
    assert _q(at, "ckpt") == "demo/digits-2-ae"
    assert "pt" not in at.query_params  # a new checkpoint starts with nothing clicked


def test_the_open_tab_below_the_map_is_in_the_link_and_survives_a_page_switch(runs_dir):
    from conftest import open_map_tab

    at = _app({"tab": "traversals"})
    assert at.session_state["map_tab"] == "Traversals" and _q(at, "tab") == "traversals"
    assert at.get("select_slider")[0].key == "map_trav_steps"  # the Traversals tab's body ran, and only it
    assert not [w for w in at.warning if "From the link" in w.value]
    open_map_tab(at, "Prior samples")
    assert _q(at, "tab") == "prior"
    at.switch_page("pages/train.py").run()
    at.switch_page("pages/latent_map.py").run()
    assert at.session_state["map_tab"] == "Prior samples"  # the tab widget's key was dropped with the page, not the choice
    assert any(im.proto.imgs[0].caption.startswith("32 decodes of z ~ N(0, I)") for im in at.get("image"))
    open_map_tab(at, "Manifold grid")
    assert "tab" not in at.query_params  # the first tab is the default, left out of the link


def _ignored(notes: str) -> list[str]:
    """The parameters a restore notice names as ignored ('ignored the link's pt, z: not valid ...')."""
    m = re.search(r"ignored the link's (.+?): not valid", notes)
    return m.group(1).split(", ") if m else []


@pytest.mark.parametrize("params,bad", [
    ({"ckpt": "../../etc/passwd"}, "checkpoint"),
    ({"ckpt": "/etc/passwd"}, "checkpoint"),
    ({"ckpt": "run/" + "x" * 500}, "checkpoint"),
    ({"ckpt": "demo/nope"}, "checkpoint"),
    ({"ckpt": "**bold** [x](http://e.vil)"}, "checkpoint"),
    ({"pt": "abc"}, "pt"),
    ({"pt": "99999999"}, "pt"),
    ({"pt": "-1"}, "pt"),
    ({"z": "1,2,3"}, "z"),
    ({"z": "nan,1"}, "z"),
    ({"z": "1e308,1"}, "z"),
    ({"a": "iabc"}, "a"),
    ({"a": "i99999"}, "a"),
    ({"b": "**bold**,1"}, "b"),
    ({"tab": "settings"}, "tab"),
    ({"tab": "Traversals"}, "tab"),  # by its short name only
])
def test_hostile_values_are_refused_with_a_notice(runs_dir, params, bad):
    at = _app(params)
    assert _q(at, "ckpt") == "demo/digits-3-vae"  # the default, never a path
    notes = " ".join(w.value for w in at.warning)
    text = read_as_shown(notes)
    assert text.startswith("From the link: "), notes
    if bad == "checkpoint":
        assert "checkpoint" in text and "is not here" in text and not _ignored(text), notes
        assert repr(params["ckpt"][:80]) in text, notes  # the value is quoted as sent, cut to 80 characters
    else:
        assert _ignored(text) == [bad], notes  # exactly the bad parameter is named, nothing else
    assert "**" not in notes and "](" not in notes  # quoted values are escaped, not rendered as Markdown


def _restore_app(page: str) -> None:
    from ui import links, url_state

    links.register()  # as app.py does before it restores
    url_state.restore(page)
    url_state.show_notices()


def _restore(page: str, params: dict[str, str]) -> AppTest:
    """restore() alone, as app.py calls it for `page` (AppTest.switch_page bypasses the router)."""
    at = AppTest.from_function(_restore_app, args=(page,), default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_compare_train_and_checkpoints_params(runs_dir):
    at = _restore("compare", {"cmp": "demo/digits-1-pca,demo/digits-2-ae"})
    assert at.session_state["compare_ids"] == ["demo/digits-1-pca", "demo/digits-2-ae"]
    at = _restore("compare", {"cmp": "demo/digits-1-pca,/etc/passwd"})
    assert "compare_ids" not in at.session_state and "not here" in at.warning[0].value
    at = _restore("train", {"job": "../../x"})
    assert "train_job" not in at.session_state and "run named in the link" in at.warning[0].value
    at = _restore("checkpoints", {"pick": "demo/digits-2-ae"})
    assert at.session_state["ckpts_pick"] == "demo/digits-2-ae"


def test_parsers():
    from ui.url_state import format_z, parse_int, parse_z

    assert parse_z("1,-2.5", 2) == [1.0, -2.5]
    assert parse_z(format_z([0.123456, 3]), 2) == [0.1235, 3.0]
    for bad in ("", "1", "1,2,3", "a,b", "inf,0", "1e4,0", "1," * 3000):
        assert parse_z(bad, 2) is None, bad
    assert parse_int("3", 0, 10) == 3
    for bad in ("10", "-1", "1.5", "0x3", "", "9" * 40):
        assert parse_int(bad, 0, 10) is None, bad


def test_a_link_to_a_checkpoint_whose_data_is_gone_shows_a_notice_not_a_traceback(runs_dir, tmp_path):
    import numpy as np

    from conftest import _train

    npz = tmp_path / "gone.npz"
    rng = np.random.default_rng(0)
    np.savez(npz, x=(rng.random((120, 8, 8)) * 255).astype(np.uint8), y=rng.integers(0, 3, 120))
    _train(runs_dir / "orphan.safetensors", "vae", data=str(npz))
    npz.unlink()  # e.g. an uploaded dataset deleted since: the checkpoint lists, but its test set cannot load
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["map_classic"] = True
    at.query_params["ckpt"] = "run/orphan"
    at.query_params["pt"] = "0"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("could not be restored" in w.value for w in at.warning)


def _click_far_out():
    import streamlit as st

    from ui import links, url_state
    from ui.common import current_path
    from ui.map import canvas_map as CV
    from ui.map import state as L

    links.register()
    path = str(current_path())
    L.sync_state(path, 2)
    st.session_state[CV.CANVAS_KEY] = {"select": {"z": st.session_state["test_z"], "nonce": 1}}
    CV.on_select(path)  # a click on empty canvas, zoomed far out
    st.session_state[url_state.PAGE_KEY] = url_state.MAP_PAGE
    st.session_state["out"] = {"z": st.session_state[L.K_Z], "url": url_state.wanted()}


def test_a_z_that_a_click_accepts_survives_a_reload(runs_dir):
    """The canvas and the URL parser keep z within one bound: what a click sets, the link restores."""
    at = AppTest.from_function(_click_far_out, default_timeout=60)
    at.session_state["ckpt_id"] = "demo/digits-3-vae"
    at.session_state["test_z"] = [5000.0, -3e5]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    z, url = at.session_state["out"]["z"], at.session_state["out"]["url"]
    assert "z" in url and url["ckpt"] == "demo/digits-3-vae"
    reloaded = _app(url)
    assert reloaded.session_state["map_z"] == pytest.approx(z, rel=1e-3)
    assert not [w for w in reloaded.warning if "ignored the link" in w.value]


def _restore_write_app(page: str) -> None:
    from ui import links, url_state

    links.register()  # as app.py does before it restores
    url_state.restore(page)
    url_state.write()


def test_a_url_this_session_wrote_a_moment_ago_does_not_take_the_view_back(runs_dir):
    """A click that leaves the browser before it applied the latest URL write carries the URL before it: that
    must not switch the view back (the Train page flipped between the new run and the previous one)."""
    pca, ae, vae = "demo/digits-1-pca", "demo/digits-2-ae", "demo/digits-3-vae"
    at = AppTest.from_function(_restore_write_app, args=("compare",), default_timeout=60)
    at.query_params["cmp"] = f"{pca},{ae}"
    at.run()
    assert at.session_state["compare_ids"] == [pca, ae]
    at.session_state["compare_ids"] = [pca, vae]  # the visitor picks another checkpoint
    at.run()
    assert _q(at, "cmp") == f"{pca},{vae}"
    at.query_params["cmp"] = f"{pca},{ae}"  # a stale URL comes back with the next click
    at.run()
    assert at.session_state["compare_ids"] == [pca, vae] and _q(at, "cmp") == f"{pca},{vae}"
    at.query_params["cmp"] = f"{ae},{vae}"  # an address this session never wrote is still applied
    at.run()
    assert at.session_state["compare_ids"] == [ae, vae]
