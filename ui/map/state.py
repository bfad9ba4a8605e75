"""The map's session state: its keys (and which of them belong to one checkpoint), the View, the pins, and the
map's parameters in the URL (registered with the generic ui/url_state.py by ui/links.py).

Non-widget keys survive navigation: map_z (the decoded z), map_point (the clicked test row or None), map_a and
map_b (the interpolation ends, Pins), map_for (the checkpoint they belong to).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from ui.common import current_path, encode_test, load_model, mtime
from ui.map.frame import latent_stats
from ui.url_state import format_z, parse_int, parse_z

# Keys that describe one checkpoint's view: opening another drops exactly these. Each module registers the keys
# it makes (`scoped`), before it makes them, so every such key in a session is registered by the time it is dropped.
_SCOPED: set[str] = set()


def scoped(*keys: str) -> tuple[str, ...]:
    """Register session keys as one checkpoint's (dropped when another opens); returns them."""
    _SCOPED.update(keys)
    return keys


def scoped_key(key: str) -> str:
    """`scoped` for one key made at run time (a slider per dimension, a GIF's frames)."""
    _SCOPED.add(key)
    return key


K_Z, K_POINT, K_A, K_B, K_CTX, K_MS = scoped("map_z", "map_point", "map_a", "map_b", "map_ctx", "map_fragment_ms")
K_SPACING, K_DX, K_DY, K_METHOD = scoped("map_spacing", "map_dx", "map_dy", "map_method")  # checkpoint defaults
K_COLOUR, K_GRID_N, K_OVERLAY = scoped("map_colour", "map_grid_n", "map_overlay")
K_FOR = "map_for"  # which checkpoint the scoped keys describe: set, never dropped
K_CLASSIC = "map_classic"  # "Server-drawn map": a preference, not a view of one checkpoint, so not scoped
K_TAB = "map_tab"  # the open tab below the map (a widget: only that tab's body runs, ui/map/tabs.py)
K_TAB_KEPT = "map_tab_kept"  # the same, kept across a page switch (which drops widget keys)
PERSIST = "page"  # persist_state of a tab's widgets: kept while another tab is open (its widgets are not drawn then)
KEPT = (K_FOR, K_CLASSIC, K_TAB, K_TAB_KEPT)  # the map's keys that outlive a checkpoint, on purpose
PROJECTIONS = ("dims", "pca", "tsne")
TABS = {"grid": "Manifold grid", "traversals": "Traversals", "interpolation": "Interpolation",
        "prior": "Prior samples", "attributes": "Attribute vectors", "replay": "Training replay", "export": "Export"}
URL_PARAMS = ("pt", "z", "a", "b", "proj", "dx", "dy", "tab")


@dataclass(frozen=True)
class View:
    method: str = "dims"  # dims | pca | tsne
    dims: tuple[int, int] = (0, 1)
    overlay: bool = False
    grid_n: int = 15
    spacing: str = "cdf"  # cdf | linear
    colour: str = "label"  # "label", or the name of a known generative factor (datasets like shapes)


@dataclass(frozen=True)
class Pin:
    """An interpolation end: a z, and the test row it is the code of (None: a z chosen some other way)."""

    z: tuple[float, ...]
    row: int | None = None

    @property
    def label(self) -> str:
        return f"test #{self.row}" if self.row is not None else "chosen z"

    @classmethod
    def of_row(cls, path: str, row: int) -> Pin:
        return cls(tuple(float(v) for v in encode_test(path)["mu"][row]), int(row))


def is_scoped(key: str) -> bool:
    return key in _SCOPED


def slider_key(i: int) -> str:
    return scoped_key(f"map_z{i + 1}")


def sync_state(path: str, d: int) -> None:
    """Reset the map's keys when another checkpoint is opened: old z's have the wrong size and meaning."""
    ss = st.session_state
    if ss.get(K_FOR) == path and len(ss.get(K_Z, [])) == d:
        return
    for k in [k for k in ss if is_scoped(k)]:
        del ss[k]
    ss[K_FOR] = path
    ss[K_Z] = [float(v) for v in latent_stats(path, mtime(path))["centre"]]
    ss[K_POINT] = None


def widget_defaults(path: str, model) -> None:
    """Checkpoint-dependent widget defaults, set through session state rather than the widget's index.

    A widget keeps its ID when only its default changes, so the browser would go on showing the old checkpoint's
    choice (e.g. Spacing "quantiles" after opening the AE) while the page follows the new default. Setting the
    value through session state makes Streamlit push it to the browser. Also refills keys dropped on page leave.
    """
    ss, top = st.session_state, [int(i) for i in latent_stats(path, mtime(path))["order"][:2]]
    ss.setdefault(K_SPACING, "cdf" if model.generative else "linear")
    if model.config.latent_dim > 2:  # default axes: the two most informative dims of this checkpoint
        ss.setdefault(K_METHOD, "dims")  # else the browser keeps showing the last checkpoint's t-SNE choice
        ss.setdefault(K_DX, top[0])
        ss.setdefault(K_DY, top[1])


def set_z(z) -> None:
    """The decoded z, mirrored into the slider keys (allowed in callbacks, before the sliders are drawn)."""
    z = [float(v) for v in np.asarray(z, dtype=np.float64).ravel()]
    st.session_state[K_Z] = z
    for i, v in enumerate(z):
        st.session_state[slider_key(i)] = v


def pick_row(path: str, row: int) -> None:
    """A test image chosen (a click on its dot, a link): it is the clicked point, and z is its μ."""
    st.session_state[K_POINT] = int(row)
    set_z(encode_test(path)["mu"][row])


def on_slider(i: int) -> None:
    z = list(st.session_state[K_Z])
    z[i] = float(st.session_state[slider_key(i)])
    st.session_state[K_Z] = z


def pins(path: str) -> tuple[Pin, Pin]:
    """Interpolation ends; until the user sets them, the first test images of two different labels."""
    y = encode_test(path)["y"]
    other = int(np.nonzero(y != y[0])[0][0]) if (y != y[0]).any() else min(1, len(y) - 1)
    for key, row in ((K_A, 0), (K_B, other)):
        if not st.session_state.get(key):
            st.session_state[key] = Pin.of_row(path, row)
    return st.session_state[K_A], st.session_state[K_B]


def pin_here(path: str, key: str) -> None:
    """Pin the decoded z as an interpolation end; it names its test row when z is still that row's μ."""
    z, row = st.session_state[K_Z], st.session_state.get(K_POINT)
    at_point = row is not None and np.allclose(encode_test(path)["mu"][row], z, atol=1e-4)
    st.session_state[key] = Pin(tuple(float(v) for v in z), int(row) if at_point else None)


# --- the URL (pure checks in ui/url_state.py; every value is checked against this checkpoint) ---------------------


def from_url(url: dict[str, str], notes: list[str]) -> None:
    """Apply the link's map parameters to the session; name the ones this checkpoint cannot take in `notes`."""
    path = current_path()
    if path is None or not (set(url) & set(URL_PARAMS)):
        return
    ss, path = st.session_state, str(path)
    d = load_model(path).model.config.latent_dim
    mu = encode_test(path)["mu"]
    n = len(mu)
    sync_state(path, d)  # a new checkpoint starts clean before the link's values go in
    bad = []
    row = parse_int(url.get("pt"), 0, n) if "pt" in url else None
    if "pt" in url and row is None:
        bad.append("pt")
    z = parse_z(url.get("z"), d) if "z" in url else None
    if "z" in url and z is None:
        bad.append("z")
    if row is not None:
        ss[K_POINT] = row
    if z is not None or row is not None:
        set_z(z if z is not None else mu[row])
    for key, name in ((K_A, "a"), (K_B, "b")):
        if name not in url:
            continue
        text = url[name]
        pin_row = parse_int(text[1:], 0, n) if text[:1] in ("i", "#") else None  # '#' only from hand-typed links
        pin_z = parse_z(text, d) if pin_row is None else None
        if pin_row is not None:
            ss[key] = Pin.of_row(path, pin_row)
        elif pin_z is not None:
            ss[key] = Pin(tuple(pin_z))
        else:
            bad.append(name)
    if "tab" in url:  # by its short name (`tab=traversals`); the first tab is the default and is left out
        if url["tab"] in TABS:
            ss[K_TAB] = ss[K_TAB_KEPT] = TABS[url["tab"]]
        else:
            bad.append("tab")
    if d > 2:
        if "proj" in url:
            if url["proj"] in PROJECTIONS:
                ss[K_METHOD] = url["proj"]
            else:
                bad.append("proj")
        for key, name in ((K_DX, "dx"), (K_DY, "dy")):
            if name in url:
                v = parse_int(url[name], 0, d)
                if v is None:
                    bad.append(name)
                else:
                    ss[key] = v
    if bad:
        notes.append(f"ignored the link's {', '.join(bad)}: not valid for this {d}-D checkpoint "
                     f"with {n} test images")


def to_url() -> dict[str, str]:
    """The map's view as query parameters: a test image as its row (`pt`, pins `i<row>`), any other z as numbers."""
    ss, out = st.session_state, {}
    path = ss.get(K_FOR)
    if not path or str(current_path()) != path or ss.get(K_Z) is None:
        return out
    mu = encode_test(path)["mu"]
    row = ss.get(K_POINT)
    z = np.asarray(ss[K_Z], dtype=np.float64)
    if row is not None and 0 <= row < len(mu):
        out["pt"] = str(int(row))
    if row is None or not np.allclose(mu[row], z, atol=1e-4):
        out["z"] = format_z(z)
    for key, name in ((K_A, "a"), (K_B, "b")):
        pin = ss.get(key)
        if pin:
            out[name] = f"i{pin.row}" if pin.row is not None else format_z(pin.z)  # no '#': it ends a URL
    for key, name in ((K_METHOD, "proj"), (K_DX, "dx"), (K_DY, "dy")):
        if ss.get(key) is not None:
            out[name] = str(ss[key])
    tab = next((slug for slug, label in TABS.items() if label == ss.get(K_TAB_KEPT)), "grid")
    if tab != "grid":
        out["tab"] = tab
    return out
