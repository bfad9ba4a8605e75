"""Latent map helpers: cached view arrays, the Plotly map, and the decoder panel fragment."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import url_state
from ui.colour import ColourBy, colour_by
from ui.common import current_data, display_png, encode_test, load_model, mtime, plain, png_bytes
from vae import explore
from vae.codes import code_stats
from vae.metrics import per_image_terms

K_Z, K_POINT, K_A, K_B = "map_z", "map_point", "map_a", "map_b"  # non-widget keys: they survive navigation
K_FOR, K_CTX, K_MS = "map_for", "map_ctx", "map_fragment_ms"
K_SPACING, K_DX, K_DY = "map_spacing", "map_dx", "map_dy"  # widgets whose default depends on the checkpoint
CHART_KEY = "map_chart"
KEEP = ("map_classic",)  # a preference, not a view of one checkpoint: survives opening another
MAX_POINTS = 20_000  # Scattergl stays smooth well past this; beyond it we draw a seeded subsample
TSNE_POINTS = 2_000
GRID_SIDE = 70  # invisible click targets per axis: about one every 8 px on a 550 px map
SNAP = 0.012  # a click this close to a dot (fraction of the axis span: 4 px on the map) picks the dot
MAX_SLIDERS = 16
ELLIPSE_MIN = 0.03  # an ellipse smaller than this fraction of the map (~15 px radius) also gets an enlarged copy
IMG = 104  # px for the decoder panel images; three fit side by side


@dataclass(frozen=True)
class View:
    method: str = "dims"  # dims | pca | tsne
    dims: tuple[int, int] = (0, 1)
    overlay: bool = False
    grid_n: int = 15
    spacing: str = "cdf"  # cdf | linear
    colour: str = "label"  # "label", or the name of a known generative factor (datasets like shapes)


def crisp(img: np.ndarray, size: int, where=st, **kw) -> None:
    """Nearest-neighbour upscaled and sent as PNG: st.image's default JPEG smears the pixel edges."""
    where.image(display_png(np.asarray(img, dtype=np.float32), size), **kw)


def slider_key(i: int) -> str:
    return f"map_z{i + 1}"


def sub(i: int) -> str:
    return str(i + 1).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


# --- cached arrays ---------------------------------------------------------------------------------


@st.cache_data(max_entries=16, show_spinner=False)
def latent_stats(path: str, mt: float) -> dict:
    """Slider ranges, the decoding centre and KL per dimension; mt keys the cache on the file's mtime."""
    enc = encode_test(path)
    return code_stats(enc["mu"], enc["logvar"], load_model(path).model.generative)


@st.cache_data(max_entries=16, show_spinner=False)  # prepare() shows the one wait worth a spinner (t-SNE)
def view_data(path: str, mt: float, method: str, dims: tuple[int, int]) -> dict:
    """Map coordinates xy (M, 2) of test rows idx (M,), labels y, and the plane (None for t-SNE).
    What colours the points is not here: ui/colour.py (View.colour names it)."""
    enc = encode_test(path)
    mu, y = enc["mu"], enc["y"]
    idx = np.arange(mu.shape[0])
    if mu.shape[0] > MAX_POINTS:
        idx = np.sort(np.random.default_rng(0).choice(mu.shape[0], MAX_POINTS, replace=False))
    origin = basis = None
    if method == "tsne" and mu.shape[1] > 2:
        xy, sub_idx = explore.project(mu[idx], "tsne", max_points=TSNE_POINTS, seed=0)
        idx = idx[sub_idx]
    else:
        origin, basis = explore.latent_plane(mu, "pca" if method == "pca" else "dims", dims=dims)
        xy = explore.to_plane(mu[idx], origin, basis)
        if xy.shape[1] == 1:  # 1-D latent: spread the labels vertically so the classes are readable
            xy = np.column_stack([xy[:, 0], y[idx] + np.random.default_rng(0).uniform(-0.3, 0.3, len(idx))])
    return {"xy": xy.astype(np.float32), "idx": idx, "y": y[idx], "origin": origin, "basis": basis}


@st.cache_data(max_entries=16, show_spinner="Decoding the manifold grid…")
def grid_images(path: str, mt: float, n: int, spacing: str, dims: tuple[int, int]) -> dict:
    """The manifold grid: images (n, n, C, H, W), coordinates xs, ys (ys descending, row 0 at the top)."""
    stats = latent_stats(path, mt)
    if spacing == "cdf":
        xs = ys = explore.grid_values(n, spacing="cdf")
    else:  # linear over the range the data cover, which for AE/PCA codes is far from N(0, 1)
        xs, ys = (np.linspace(stats["lo"][d], stats["hi"][d], n) for d in dims)
    images, _ = explore.decode_grid(load_model(path).model, xs, ys, dims=dims, base=stats["centre"])
    return {"images": images, "xs": np.asarray(xs), "ys": np.sort(ys)[::-1]}


@st.cache_data(max_entries=8, show_spinner=False)
def base_figure(path: str, mt: float, view: View, classes: tuple[str, ...], colour: ColourBy | None = None) -> dict:
    """The map without the per-click traces, as a plain dict: it pickles in a millisecond, a Figure in 100s."""
    data = view_data(path, mt, view.method, view.dims)
    xy, idx = data["xy"], data["idx"]
    colour = colour or ColourBy.labels(encode_test(path)["y"], classes)
    codes = colour.for_rows(idx)
    fig = go.Figure()
    for c in np.unique(codes):
        m = codes == c
        name = plain(colour.names[c])  # class names are user-derived
        fig.add_trace(go.Scattergl(
            x=xy[m, 0], y=xy[m, 1], mode="markers", name=name, customdata=idx[m],
            marker=dict(size=6, color=colour.palette[c], opacity=0.8),
            hovertemplate=f"{plain(colour.title)} {name}<br>test image #%{{customdata}}<extra></extra>"))
    pad = 0.05 * (xy.max(0) - xy.min(0)) + 1e-3
    x0, y0 = xy.min(0) - pad
    x1, y1 = xy.max(0) + pad
    layout: dict = {}
    if view.overlay and data["basis"] is not None and view.method == "dims":
        # evenly spaced whatever the tab's spacing: quantile cells near 0 would be too small to read on the map
        grid = grid_images(path, mt, view.grid_n, "linear", view.dims)
        xs, ys, images = grid["xs"], grid["ys"], grid["images"]
        w = 0.94 * min(np.diff(np.sort(xs)).min(), np.diff(np.sort(ys)).min()) if len(xs) > 1 else 1.0
        layout["images"] = [
            dict(source="data:image/png;base64," + base64.b64encode(png_bytes(images[i, j], 64)).decode(),
                 xref="x", yref="y", x=xs[j], y=ys[i], sizex=w, sizey=w, xanchor="center", yanchor="middle",
                 sizing="stretch", opacity=0.9, layer="below")
            for i in range(len(ys)) for j in range(len(xs))]
        x0, x1 = min(x0, xs.min() - w / 2), max(x1, xs.max() + w / 2)
        y0, y1 = min(y0, ys.min() - w / 2), max(y1, ys.max() + w / 2)
    if data["basis"] is not None:  # every click must land on a point: an invisible grid catches the empty ones; its markers
        # are smaller than the data's, because Plotly's hover distance favours bigger markers
        gx, gy = np.meshgrid(np.linspace(x0, x1, GRID_SIDE), np.linspace(y0, y1, GRID_SIDE))
        fig.add_trace(go.Scattergl(x=gx.ravel(), y=gy.ravel(), mode="markers", name="grid", showlegend=False,
                                   marker=dict(size=2, opacity=0), hoverinfo="none"))
    axis = "z" if view.method == "dims" else ("PC" if view.method == "pca" else "t-SNE ")
    xlabel = f"z{sub(view.dims[0])}" if view.method == "dims" else f"{axis}1"
    ylabel = f"z{sub(view.dims[1])}" if view.method == "dims" else f"{axis}2"
    if data["basis"] is not None and data["basis"].shape[0] == 1:
        ylabel = "label (jittered)"
    fig.update_layout(
        height=500, margin=dict(l=10, r=10, t=10, b=10), hovermode="closest", dragmode="pan",
        uirevision=f"{path}-{view}", legend=dict(title=plain(colour.title), itemsizing="constant", y=0.9),
        xaxis=dict(title=xlabel, range=[x0, x1], zeroline=False, showgrid="images" not in layout),
        yaxis=dict(title=ylabel, range=[y0, y1], zeroline=False, showgrid="images" not in layout, scaleanchor="x" if axis != "t-SNE " else None),
        **layout)
    return fig.to_dict()


# --- session state -------------------------------------------------------------------------------------


def sync_state(path: str, d: int) -> None:
    """Reset the map's keys when another checkpoint is opened: old z's have the wrong size and meaning."""
    if st.session_state.get(K_FOR) == path and len(st.session_state.get(K_Z, [])) == d:
        return
    for k in [k for k in st.session_state if str(k).startswith("map_") and k not in KEEP]:
        del st.session_state[k]
    st.session_state[K_FOR] = path
    st.session_state[K_Z] = [float(v) for v in latent_stats(path, mtime(path))["centre"]]
    st.session_state[K_POINT] = None


def widget_defaults(path: str, model) -> None:
    """Checkpoint-dependent widget defaults, set through session state rather than the widget's index.

    A widget keeps its ID when only its default changes, so the browser would go on showing the old checkpoint's
    choice (e.g. Spacing "quantiles" after opening the AE) while the page follows the new default. Setting the
    value through session state makes Streamlit push it to the browser. Also refills keys dropped on page leave.
    """
    ss, top = st.session_state, [int(i) for i in latent_stats(path, mtime(path))["order"][:2]]
    ss.setdefault(K_SPACING, "cdf" if model.generative else "linear")
    if model.config.latent_dim > 2:  # default axes: the two most informative dims of this checkpoint
        ss.setdefault("map_method", "dims")  # else the browser keeps showing the last checkpoint's t-SNE choice
        ss.setdefault(K_DX, top[0])
        ss.setdefault(K_DY, top[1])


def set_z(z) -> None:
    """The decoded z, mirrored into the slider keys (allowed in callbacks, before the sliders are drawn)."""
    z = [float(v) for v in np.asarray(z, dtype=np.float64).ravel()]
    st.session_state[K_Z] = z
    for i, v in enumerate(z):
        st.session_state[slider_key(i)] = v


def on_select() -> None:
    """Copy the clicked point into session state: any change of the figure clears Plotly's selection."""
    points = (st.session_state.get(CHART_KEY) or {}).get("selection", {}).get("points", [])
    ctx = st.session_state.get(K_CTX)
    if not points or not ctx:
        return
    data_points = [p for p in points if p.get("curve_number", 0) < ctx["n_data"]]
    row = None
    if data_points:
        row = data_points[0].get("customdata")
        row = int(row[0] if isinstance(row, (list, tuple)) else row)
    elif ctx.get("span"):  # Plotly may give the click to a grid target next to a dot: snap to the dot
        data = view_data(ctx["path"], mtime(ctx["path"]), ctx["method"], tuple(ctx["dims"]))
        gap = np.abs(data["xy"] - [points[0]["x"], points[0]["y"]]) / np.asarray(ctx["span"])  # (M, 2)
        nearest = int(np.argmin(gap.max(1)))
        if gap[nearest].max() < SNAP:
            row = int(data["idx"][nearest])
    if row is not None:
        st.session_state[K_POINT] = row
        set_z(encode_test(ctx["path"])["mu"][row])
    elif ctx["origin"] is not None:
        p = points[0]
        origin, basis = np.asarray(ctx["origin"]), np.asarray(ctx["basis"])
        xy = [p["x"], p["y"]][: basis.shape[0]]
        base = st.session_state.get(K_Z) if ctx["method"] == "dims" else None  # other dims keep their values
        set_z(explore.from_plane(xy, origin, basis, base=base)[0])


def on_slider(i: int) -> None:
    z = list(st.session_state[K_Z])
    z[i] = float(st.session_state[slider_key(i)])
    st.session_state[K_Z] = z


# --- the map and the decoder panel ------------------------------------------------------------------------


def view_ui(path: str, model, grid_box) -> View:
    """How the map is drawn: projection and axes (for D > 2) and overlay here; grid size and spacing in grid_box."""
    d, stats = model.config.latent_dim, latent_stats(path, mtime(path))
    sync_state(path, d)  # before any map_ widget exists, so a new checkpoint starts clean
    widget_defaults(path, model)
    method, dims = "dims", (0, min(1, d - 1))
    if d > 2:
        cols = st.columns([2, 1, 1, 2], vertical_alignment="bottom")
        method = cols[0].radio("Map shows", ["dims", "pca", "tsne"], horizontal=True, key="map_method",
                               format_func={"dims": "two dims", "pca": "PCA", "tsne": "t-SNE"}.get)
        top = [int(i) for i in stats["order"][:2]]  # default to the two most informative dims
        if method == "dims":
            dims = (cols[1].selectbox("x axis", range(d), format_func=lambda i: f"z{sub(i)}", key=K_DX),
                    cols[2].selectbox("y axis", range(d), format_func=lambda i: f"z{sub(i)}", key=K_DY))
        else:
            dims = (top[0], top[1])
    factors = current_data(load_model(path)).test.factor_names
    colour = "label"
    if factors:  # a dataset with known generative factors: colour the map by any of them
        colour = st.selectbox("Colour by", ["label", *factors], key="map_colour",
                              help="The class label, or one generative factor of the images")
    if d < 2:
        return View(method="dims", dims=dims, colour=colour)
    c1, c2, _ = grid_box.columns([1, 2, 2])
    grid_n = c1.selectbox("Grid", [8, 10, 15, 20, 25], index=2, key="map_grid_n", format_func=lambda n: f"{n}×{n}")
    spacing = c2.radio("Spacing", ["cdf", "linear"], key=K_SPACING,
                       format_func={"cdf": "quantiles of N(0, 1)", "linear": "linear over the codes' range"}.get,
                       horizontal=True)
    overlay = st.toggle("Overlay the manifold grid on the map", key="map_overlay",
                        disabled=method != "dims" or dims[0] == dims[1],
                        help="Decoded images placed at their z on an evenly spaced grid over the codes' range "
                             "(two-dims view; grid size in the Manifold grid tab).")
    return View(method=method, dims=dims, overlay=overlay and method == "dims", grid_n=grid_n, spacing=spacing,
                colour=colour)


def prepare(path: str, view: View) -> None:
    """Fill the caches before the fragment runs, with a spinner where the wait is noticeable (t-SNE)."""
    mt = mtime(path)
    if view.method == "tsne":
        with st.spinner(f"Running t-SNE on up to {TSNE_POINTS:,} points (once per checkpoint and view)…"):
            view_data(path, mt, view.method, view.dims)
    pins(path)  # so the map shows the interpolation ends from the first run


def add_ellipse(fig: go.Figure, centre, cov, layout: dict) -> float:
    """The clicked point's μ ± σ outline; when it is smaller than the ring (MNIST's σ ≈ 0.05 on a ±4 map is
    ~3 px), also a dashed copy scaled up to ELLIPSE_MIN of the axis span, named with its scale. Returns the scale."""
    e = explore.ellipse(centre, cov)  # (n, 2)
    fig.add_trace(go.Scattergl(x=e[:, 0], y=e[:, 1], mode="lines", name="posterior μ ± σ", hoverinfo="skip",
                               showlegend=False, line=dict(color="black", width=2), fill="toself",
                               fillcolor="rgba(0,0,0,0.08)"))
    span = min(np.ptp(layout["xaxis"]["range"]), np.ptp(layout["yaxis"]["range"]))
    radius = float(np.sqrt(np.linalg.eigvalsh(np.asarray(cov, dtype=np.float64)).max()))
    scale = ELLIPSE_MIN * span / max(radius, 1e-12)
    if scale <= 1:
        return 1.0
    big = np.asarray(centre) + scale * (e - np.asarray(centre))
    fig.add_trace(go.Scattergl(x=big[:, 0], y=big[:, 1], mode="lines", name=f"posterior μ ± σ ×{scale:.3g}",
                               hoverinfo="skip", showlegend=False, line=dict(color="#d62728", width=2, dash="dot")))
    return scale


def map_figure(path: str, view: View, classes: tuple[str, ...], colour: ColourBy | None = None) -> go.Figure:
    """The cached map plus this rerun's traces: the clicked point's posterior ellipse, the decoded z, pins A/B."""
    mt = mtime(path)
    base = base_figure(path, mt, view, classes, colour)
    fig = go.Figure(base)
    data, enc = view_data(path, mt, view.method, view.dims), encode_test(path)
    origin, basis = data["origin"], data["basis"]
    planar = basis is not None and basis.shape[0] == 2
    row = st.session_state.get(K_POINT)
    if row is not None:
        hit = np.nonzero(data["idx"] == row)[0]
        if len(hit):
            fig.add_trace(go.Scattergl(x=[data["xy"][hit[0], 0]], y=[data["xy"][hit[0], 1]], mode="markers",
                                     name=f"clicked #{row}", hoverinfo="skip", showlegend=False,
                                     marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(color="black", width=2))))
        if planar and enc["logvar"] is not None:  # drawn after the ring, so it is on top of it
            centre, cov = explore.project_gaussian(enc["mu"][row], enc["logvar"][row], origin, basis)
            add_ellipse(fig, centre, cov, base["layout"])
    if basis is not None:
        marks = [("decoded z", st.session_state[K_Z], "x", "#d62728")]
        marks += [(f"pin {n}", st.session_state[k]["z"], "diamond", "#222") for n, k in (("A", K_A), ("B", K_B))
                  if st.session_state.get(k)]
        for name, z, symbol, color in marks:
            xy = explore.to_plane(z, origin, basis)[0]
            yv = xy[1] if planar else float(np.mean(fig.layout.yaxis.range))
            fig.add_trace(go.Scattergl(
                x=[xy[0]], y=[yv], mode="markers+text", name=name, hoverinfo="skip", showlegend=False,
                text=[name[-1] if name.startswith("pin") else ""], textposition="top center",
                textfont=dict(size=14, color=color), marker=dict(size=13, symbol=symbol, color=color,
                                                                 line=dict(width=1, color="white"))))
    xr, yr = base["layout"]["xaxis"]["range"], base["layout"]["yaxis"]["range"]
    n_data = sum(1 for t in base["data"] if t.get("name") != "grid")  # one trace per colour, then the click grid
    st.session_state[K_CTX] = {"path": path, "method": view.method, "dims": list(view.dims),
                               "span": [xr[1] - xr[0], yr[1] - yr[0]], "n_data": n_data,
                               "origin": None if origin is None else origin.tolist(),
                               "basis": None if basis is None else basis.tolist()}
    return fig


def decoder_ui(path: str, model) -> np.ndarray:
    """One slider per latent dim (the 16 most informative when there are more); returns the image of z."""
    d, stats = model.config.latent_dim, latent_stats(path, mtime(path))
    z = np.asarray(st.session_state[K_Z], dtype=np.float64)
    shown = sorted(int(i) for i in stats["order"][:MAX_SLIDERS])
    cols = st.columns(2) if d > 2 else [st.container()]
    for n, i in enumerate(shown):
        lo, hi = float(min(stats["lo"][i], z[i])), float(max(stats["hi"][i], z[i]))
        if slider_key(i) not in st.session_state:  # re-created after navigation: start from the kept z
            st.session_state[slider_key(i)] = float(z[i])
        label = f"z{sub(i)}" + (f" · KL {stats['kl'][i]:.2f}" if model.generative and d > 2 else "")
        cols[n % len(cols)].slider(label, lo, hi, step=(hi - lo) / 200, key=slider_key(i), on_change=on_slider,
                                   args=(i,), format="%.2f")
    if d > MAX_SLIDERS:
        st.caption(f"Sliders for the {MAX_SLIDERS} dims with the most KL; the others stay at their values.")
    return explore.decode(model, z)[0]


def point_ui(path: str, ckpt, x_hat: np.ndarray) -> None:
    """The decoded z, then the clicked test image next to its reconstruction, with its own recon and KL in nats."""
    row, model = st.session_state.get(K_POINT), ckpt.model
    z = st.session_state[K_Z]
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


@st.fragment
def map_panel(path: str, view: View, classes: tuple[str, ...]) -> None:
    """Map and decoder together: a slider or a click reruns only this, never the grids and strips below.

    The map is the in-browser canvas (ui/canvas.py) unless it cannot be; then the Plotly map, saying why. Both are
    coloured by the one ColourBy that view.colour names (ui/colour.py: the label or a known factor).
    """
    from ui import canvas as CV  # it builds on this module

    t0 = time.perf_counter()
    ckpt = load_model(path)
    colour = colour_by(path, view.colour, classes)
    reason = CV.canvas_reason(path)
    left, right = st.columns([5, 2] if reason is None else [3, 2], gap="medium")
    with right:
        x_hat = decoder_ui(path, ckpt.model)
        point_ui(path, ckpt, x_hat)
        z = st.session_state[K_Z]
        a, b = st.columns(2)
        for col, key, name in ((a, K_A, "A"), (b, K_B, "B")):
            if col.button(f"Set z as {name}", key=f"map_set_{name}", help=f"Pin this z as end {name} of the interpolation",
                          width="stretch"):
                row = st.session_state.get(K_POINT)
                at_point = row is not None and np.allclose(encode_test(path)["mu"][row], z, atol=1e-4)
                st.session_state[key] = {"z": list(z), "label": f"test #{row}" if at_point else "chosen z"}
                st.rerun()  # app scope: the interpolation strip below must follow
        if st.session_state.get(K_POINT) is not None:
            CV.neighbours_ui(path, ckpt, st.session_state[K_POINT])
        if reason is None:
            CV.upload_ui(path, ckpt.model.config.input_shape)
            CV.drawn_ui(path, ckpt)
    with left:
        if reason is None:
            CV.canvas_map(path, view, classes, colour)
            st.caption("Hover empty space: the decoder runs in your browser · hover a dot: its test image · "
                       "click: details on the right · wheel: zoom · drag: pan · draw on the pad to encode your own"
                       + (". t-SNE has no inverse: hovering shows the nearest test image only." if view.method == "tsne" else ""))
        else:
            if reason != "chosen":
                st.caption(f"Showing the server-drawn map because {reason}.")
            st.plotly_chart(map_figure(path, view, classes, colour), key=CHART_KEY, on_select=on_select,
                            selection_mode="points", config={"scrollZoom": True, "displaylogo": False})
            if view.method == "tsne":
                st.caption("t-SNE has no inverse: click data points (not empty space); the decoded z is not drawn.")
            else:
                st.caption("✕ decoded z · ◆ interpolation ends A, B · ring: clicked image"
                           + (", outline: its posterior μ ± 1σ (dotted red: the same, enlarged, when it is too small to see)"
                                if ckpt.model.generative else ""))
        st.toggle("Server-drawn map", key=CV.K_CLASSIC, help="The Plotly map, drawn on the server: every hover and "
                  "click is a round trip. For browsers where the canvas does not work.")
    from ui.computation import computation_ui

    computation_ui(ckpt, st.session_state.get(K_POINT), st.session_state.get(CV.K_DRAWN),  # follows each click
                   decoder=None if reason else (CV.exported_parts(path)[0] or {}).get("decoder"))
    st.session_state[K_MS] = 1000 * (time.perf_counter() - t0)
    url_state.write()  # a click or a slider reruns only this fragment: the URL must follow it too


def pins(path: str) -> tuple[dict, dict]:
    """Interpolation ends; until the user sets them, the first test images of two different labels."""
    enc = encode_test(path)
    y = enc["y"]
    other = int(np.nonzero(y != y[0])[0][0]) if (y != y[0]).any() else min(1, len(y) - 1)
    for key, row in ((K_A, 0), (K_B, other)):
        if not st.session_state.get(key):
            st.session_state[key] = {"z": [float(v) for v in enc["mu"][row]], "label": f"test #{row}"}
    return st.session_state[K_A], st.session_state[K_B]
