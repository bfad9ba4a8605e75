"""The map's panel: the view widgets, the decoder sliders, and the fragment that shows the map (canvas or Plotly)
beside the decoded image and the clicked point's details."""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from ui import url_state
from ui.colour import colour_by
from ui.common import current_data, load_model, mtime
from ui.images import crisp
from ui import computation
from ui.map import canvas_map as CV
from ui.map import frame as F
from ui.map import plotly_map as PM
from ui.map import state as S
from vae import explore
from vae.metrics import per_image_terms

GRID_SIZES = (8, 10, 15, 20, 25)  # the manifold grid's side, in images
IMG = 104  # px for the decoder panel images; three fit side by side
K_SET = {name: S.scoped(f"map_set_{name}")[0] for name in ("A", "B")}  # the "Set z as A/B" buttons
S.scoped(*computation.KEYS)  # the computation view under the map follows its clicked point


def view_ui(path: str, model, grid_box) -> S.View:
    """How the map is drawn: projection and axes (for D > 2) and overlay here; grid size and spacing in grid_box."""
    d, stats = model.config.latent_dim, F.latent_stats(path, mtime(path))
    S.sync_state(path, d)  # before any map_ widget exists, so a new checkpoint starts clean
    S.widget_defaults(path, model)
    method, dims = "dims", (0, min(1, d - 1))
    if d > 2:
        cols = st.columns([2, 1, 1, 2], vertical_alignment="bottom")
        method = cols[0].radio("Map shows", list(S.PROJECTIONS), horizontal=True, key=S.K_METHOD,
                               format_func={"dims": "two dims", "pca": "PCA", "tsne": "t-SNE"}.get)
        top = [int(i) for i in stats["order"][:2]]  # default to the two most informative dims
        if method == "dims":
            dims = (cols[1].selectbox("x axis", range(d), format_func=lambda i: f"z{F.sub(i)}", key=S.K_DX),
                    cols[2].selectbox("y axis", range(d), format_func=lambda i: f"z{F.sub(i)}", key=S.K_DY))
        else:
            dims = (top[0], top[1])
    factors = current_data(load_model(path)).test.factor_names
    colour = "label"
    if factors:  # a dataset with known generative factors: colour the map by any of them
        colour = st.selectbox("Colour by", ["label", *factors], key=S.K_COLOUR,
                              help="The class label, or one generative factor of the images")
    if d < 2:
        return S.View(method="dims", dims=dims, colour=colour)
    ss = st.session_state
    grid_n, spacing = ss.get(S.K_GRID_N) or GRID_SIZES[2], ss[S.K_SPACING]  # kept while another tab is open
    if grid_box.open:
        c1, c2, _ = grid_box.columns([1, 2, 2])
        grid_n = c1.selectbox("Grid", GRID_SIZES, index=2, key=S.K_GRID_N, persist_state=S.PERSIST,
                              format_func=lambda n: f"{n}×{n}")
        spacing = c2.radio("Spacing", ["cdf", "linear"], key=S.K_SPACING, persist_state=S.PERSIST,
                           format_func={"cdf": "quantiles of N(0, 1)", "linear": "linear over the codes' range"}.get,
                           horizontal=True)
    overlay = st.toggle("Overlay the manifold grid on the map", key=S.K_OVERLAY,
                        disabled=method != "dims" or dims[0] == dims[1],
                        help="Decoded images placed at their z on an evenly spaced grid over the codes' range "
                             "(two-dims view; grid size in the Manifold grid tab).")
    return S.View(method=method, dims=dims, overlay=overlay and method == "dims", grid_n=grid_n, spacing=spacing,
                  colour=colour)


def prepare(path: str, view: S.View) -> None:
    """Fill the caches before the fragment runs, with a spinner where the wait is noticeable (t-SNE)."""
    mt = mtime(path)
    if view.method == "tsne":
        with st.spinner(f"Running t-SNE on up to {F.TSNE_POINTS:,} points (once per checkpoint and view)…"):
            F.view_data(path, mt, view.method, view.dims)
    S.pins(path)  # so the map shows the interpolation ends from the first run


def decoder_ui(path: str, model) -> np.ndarray:
    """One slider per latent dim (the 16 most informative when there are more); returns the image of z."""
    d, stats = model.config.latent_dim, F.latent_stats(path, mtime(path))
    z = np.asarray(st.session_state[S.K_Z], dtype=np.float64)
    shown = sorted(int(i) for i in stats["order"][: F.MAX_SLIDERS])
    cols = st.columns(2) if d > 2 else [st.container()]
    for n, i in enumerate(shown):
        lo, hi = float(min(stats["lo"][i], z[i])), float(max(stats["hi"][i], z[i]))
        if S.slider_key(i) not in st.session_state:  # re-created after navigation: start from the kept z
            st.session_state[S.slider_key(i)] = float(z[i])
        label = f"z{F.sub(i)}" + (f" · KL {stats['kl'][i]:.2f}" if model.generative and d > 2 else "")
        cols[n % len(cols)].slider(label, lo, hi, step=(hi - lo) / 200, key=S.slider_key(i), on_change=S.on_slider,
                                   args=(i,), format="%.2f")
    if d > F.MAX_SLIDERS:
        st.caption(f"Sliders for the {F.MAX_SLIDERS} dims with the most KL; the others stay at their values.")
    return explore.decode(model, z)[0]


def point_ui(path: str, ckpt, x_hat: np.ndarray) -> None:
    """The decoded z, then the clicked test image next to its reconstruction, with its own recon and KL in nats."""
    row, model = st.session_state.get(S.K_POINT), ckpt.model
    z = st.session_state[S.K_Z]
    cols = st.columns(3)
    crisp(x_hat, IMG, cols[0], width="stretch", caption="decoded z = (" + ", ".join(f"{v:.2f}" for v in z[:3])
          + (", …)" if len(z) > 3 else ")"))
    if row is None:
        st.caption("Click a point to see its reconstruction; click empty space to decode that z.")
        return
    split = current_data(ckpt)
    x = split.test.x[row : row + 1]  # (1, C, H, W)
    terms = per_image_terms(model, x, seed=0)
    crisp(x[0].numpy(), IMG, cols[1], width="stretch", caption=f"x: test #{row}, label {int(split.test.y[row])}")
    crisp(explore.reconstruct(model, x)[0], IMG, cols[2], width="stretch", caption="x̂: decoded from its μ")
    if model.generative:
        st.markdown(f"Test #{row}: recon **{terms['recon'][0]:.2f}** nats · KL **{terms['kl'][0]:.2f}** nats")
    else:
        st.markdown(f"Test #{row}: recon **{terms['recon'][0]:.2f}** nats")
        st.caption(f"{model.config.kind.upper()} gives each image one point code, not a distribution: "
                   "no ellipse and no KL.")


def pin_buttons(path: str) -> None:
    a, b = st.columns(2)
    for col, key, name in ((a, S.K_A, "A"), (b, S.K_B, "B")):
        if col.button(f"Set z as {name}", key=K_SET[name], help=f"Pin this z as end {name} of the interpolation",
                      width="stretch"):
            S.pin_here(path, key)
            st.rerun()  # app scope: the interpolation strip below must follow


def plotly_ui(path: str, view: S.View, classes: tuple[str, ...], colour, reason: str, generative: bool) -> None:
    if reason != "chosen":
        st.caption(f"Showing the server-drawn map because {reason}.")
    st.plotly_chart(PM.map_figure(path, view, classes, colour), key=PM.CHART_KEY, on_select=PM.on_select,
                    selection_mode="points", config={"scrollZoom": True, "displaylogo": False})
    if view.method == "tsne":
        st.caption("t-SNE has no inverse: click data points (not empty space); the decoded z is not drawn.")
    else:
        st.caption("✕ decoded z · ◆ interpolation ends A, B · ring: clicked image"
                   + (", outline: its posterior μ ± 1σ (dotted red: the same, enlarged, when it is too small to see)"
                      if generative else ""))


@st.fragment
def map_panel(path: str, view: S.View, classes: tuple[str, ...]) -> None:
    """Map and decoder together: a slider or a click reruns only this, never the grids and strips below.

    The map is the in-browser canvas (canvas_map.py) unless it cannot be; then the Plotly map, saying why. Both are
    coloured by the one ColourBy that view.colour names (ui/colour.py: the label or a known factor).
    """
    t0 = time.perf_counter()
    ckpt = load_model(path)
    colour = colour_by(path, view.colour, classes)
    reason = CV.canvas_reason(path)
    left, right = st.columns([5, 2] if reason is None else [3, 2], gap="medium")
    with right:
        point_ui(path, ckpt, decoder_ui(path, ckpt.model))
        pin_buttons(path)
        if st.session_state.get(S.K_POINT) is not None:
            CV.neighbours_ui(path, ckpt, st.session_state[S.K_POINT])
        if reason is None:
            CV.upload_ui(path, ckpt.model.config.input_shape)
            CV.drawn_ui(path, ckpt)
    with left:
        if reason is None:
            CV.canvas_map(path, view, classes, colour)
            st.caption("Hover empty space: the decoder runs in your browser · hover a dot: its test image · "
                       "click: details on the right · wheel: zoom · drag: pan · draw on the pad to encode your own"
                       + (". t-SNE has no inverse: hovering shows the nearest test image only."
                          if view.method == "tsne" else ""))
        else:
            plotly_ui(path, view, classes, colour, reason, ckpt.model.generative)
        st.toggle("Server-drawn map", key=S.K_CLASSIC, help="The Plotly map, drawn on the server: every hover and "
                  "click is a round trip. For browsers where the canvas does not work.")
    computation.computation_ui(ckpt, st.session_state.get(S.K_POINT),  # follows each click and drawing
                               st.session_state.get(CV.K_DRAWN), decoder=None if reason else (CV.exported_parts(path)[0] or {}).get("decoder"))
    st.session_state[S.K_MS] = 1000 * (time.perf_counter() - t0)
    url_state.write()  # a click or a slider reruns only this fragment: the URL must follow it too
