"""The server-drawn map (Plotly): the cached figure, this rerun's marks on it, and what a click on it means.

Every click must land on a point, so an invisible grid of targets covers the empty space. A data dot and a grid
target are told apart by ROW_FIELD: the data traces, and only they, carry their test row there.
"""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui.colour import ColourBy
from ui.common import encode_test, mtime, plain
from ui.images import png_bytes
from ui.map import frame as F
from ui.map.state import K_A, K_B, K_CTX, K_POINT, K_Z, View, pick_row, scoped, set_z
from vae import explore

(CHART_KEY,) = scoped("map_chart")
ROW_FIELD = "customdata"  # a selected point's test row; absent on the click grid and the marks
GRID_TRACE = "grid"  # the invisible click targets' trace name
GRID_SIDE = 70  # click targets per axis: about one every 8 px on a 550 px map
SNAP = F.span_fraction(F.SNAP_PX)  # a grid click this close to a dot (fraction of the axis span) picks the dot
ELLIPSE_MIN = F.span_fraction(F.ELLIPSE_MIN_PX)  # the same rule as the canvas's, as a fraction of the span


@st.cache_data(max_entries=8, show_spinner=False)
def base_figure(path: str, mt: float, view: View, classes: tuple[str, ...], colour: ColourBy | None = None) -> dict:
    """The map without the per-click traces, as a plain dict: it pickles in a millisecond, a Figure in 100s."""
    data = F.view_data(path, mt, view.method, view.dims)
    xy, idx = data["xy"], data["idx"]
    colour = colour or ColourBy.labels(encode_test(path)["y"], classes)
    codes = colour.for_rows(idx)
    fig = go.Figure()
    for c in np.unique(codes):
        m = codes == c
        name = plain(colour.names[c])  # class names are user-derived
        fig.add_trace(go.Scattergl(
            x=xy[m, 0], y=xy[m, 1], mode="markers", name=name, **{ROW_FIELD: idx[m]},
            marker=dict(size=6, color=colour.palette[c], opacity=0.8),
            hovertemplate=f"{plain(colour.title)} {name}<br>test image #%{{customdata}}<extra></extra>"))
    x0, x1, y0, y1 = F.bounds(xy)
    layout: dict = {}
    if view.overlay and data["basis"] is not None and view.method == "dims":
        # evenly spaced whatever the tab's spacing: quantile cells near 0 would be too small to read on the map
        grid = F.grid_images(path, mt, view.grid_n, "linear", view.dims)
        xs, ys, images = grid["xs"], grid["ys"], grid["images"]
        w = 0.94 * min(np.diff(np.sort(xs)).min(), np.diff(np.sort(ys)).min()) if len(xs) > 1 else 1.0
        layout["images"] = [
            dict(source="data:image/png;base64," + base64.b64encode(png_bytes(images[i, j], 64)).decode(),
                 xref="x", yref="y", x=xs[j], y=ys[i], sizex=w, sizey=w, xanchor="center", yanchor="middle",
                 sizing="stretch", opacity=0.9, layer="below")
            for i in range(len(ys)) for j in range(len(xs))]
        x0, x1 = min(x0, xs.min() - w / 2), max(x1, xs.max() + w / 2)
        y0, y1 = min(y0, ys.min() - w / 2), max(y1, ys.max() + w / 2)
    if data["basis"] is not None:  # t-SNE has no inverse: nothing to decode in its empty space
        # the targets' markers are smaller than the data's, because Plotly's hover distance favours bigger markers
        gx, gy = np.meshgrid(np.linspace(x0, x1, GRID_SIDE), np.linspace(y0, y1, GRID_SIDE))
        fig.add_trace(go.Scattergl(x=gx.ravel(), y=gy.ravel(), mode="markers", name=GRID_TRACE, showlegend=False,
                                   marker=dict(size=2, opacity=0), hoverinfo="none"))
    xlabel, ylabel = F.axes(view.method, view.dims, data["basis"])
    margin = 10
    fig.update_layout(
        height=F.MAP_PX + 2 * margin, margin=dict(l=margin, r=margin, t=margin, b=margin), hovermode="closest",
        dragmode="pan", uirevision=f"{path}-{view}",
        legend=dict(title=plain(colour.title), itemsizing="constant", y=0.9),
        xaxis=dict(title=xlabel, range=[x0, x1], zeroline=False, showgrid="images" not in layout),
        yaxis=dict(title=ylabel, range=[y0, y1], zeroline=False, showgrid="images" not in layout,
                   scaleanchor="x" if view.method != "tsne" else None),
        **layout)
    return fig.to_dict()


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
    data, enc = F.view_data(path, mt, view.method, view.dims), encode_test(path)
    origin, basis = data["origin"], data["basis"]
    row = st.session_state.get(K_POINT)
    if row is not None:
        hit = np.nonzero(data["idx"] == row)[0]
        if len(hit):
            fig.add_trace(go.Scattergl(x=[data["xy"][hit[0], 0]], y=[data["xy"][hit[0], 1]], mode="markers",
                                     name=f"clicked #{row}", hoverinfo="skip", showlegend=False,
                                     marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(color="black", width=2))))
        if F.equal_axes(basis) and enc["logvar"] is not None:  # drawn after the ring, so it is on top of it
            centre, cov = explore.project_gaussian(enc["mu"][row], enc["logvar"][row], origin, basis)
            add_ellipse(fig, centre, cov, base["layout"])
    if basis is not None:
        marks = [("decoded z", st.session_state[K_Z], "x", "#d62728", "")]
        marks += [(f"pin {n}", st.session_state[k].z, "diamond", "#222", n) for n, k in (("A", K_A), ("B", K_B))
                  if st.session_state.get(k)]
        for name, z, symbol, color, text in marks:
            x, y = F.plane_xy(z, origin, basis, fig.layout.yaxis.range)
            fig.add_trace(go.Scattergl(
                x=[x], y=[y], mode="markers+text", name=name, hoverinfo="skip", showlegend=False,
                text=[text], textposition="top center", textfont=dict(size=14, color=color),
                marker=dict(size=13, symbol=symbol, color=color, line=dict(width=1, color="white"))))
    xr, yr = base["layout"]["xaxis"]["range"], base["layout"]["yaxis"]["range"]
    st.session_state[K_CTX] = {"path": path, "method": view.method, "dims": list(view.dims),
                               "span": [xr[1] - xr[0], yr[1] - yr[0]],
                               "origin": None if origin is None else origin.tolist(),
                               "basis": None if basis is None else basis.tolist()}
    return fig


def row_of(point: dict) -> int | None:
    """The test row of a selected point, or None for a click target or a mark."""
    row = point.get(ROW_FIELD)
    if row is None:
        return None
    return int(row[0] if isinstance(row, (list, tuple)) else row)


def on_select() -> None:
    """Copy the clicked point into session state: any change of the figure clears Plotly's selection."""
    points = (st.session_state.get(CHART_KEY) or {}).get("selection", {}).get("points", [])
    ctx = st.session_state.get(K_CTX)
    if not points or not ctx:
        return
    rows = [r for r in map(row_of, points) if r is not None]
    row = rows[0] if rows else None
    if row is None and ctx.get("span"):  # Plotly may give the click to a grid target next to a dot: snap to the dot
        data = F.view_data(ctx["path"], mtime(ctx["path"]), ctx["method"], tuple(ctx["dims"]))
        gap = np.abs(data["xy"] - [points[0]["x"], points[0]["y"]]) / np.asarray(ctx["span"])  # (M, 2)
        nearest = int(np.argmin(gap.max(1)))
        if gap[nearest].max() < SNAP:
            row = int(data["idx"][nearest])
    if row is not None:
        pick_row(ctx["path"], row)
    elif ctx["origin"] is not None:
        p = points[0]
        origin, basis = np.asarray(ctx["origin"]), np.asarray(ctx["basis"])
        xy = [p["x"], p["y"]][: basis.shape[0]]
        base = st.session_state.get(K_Z) if ctx["method"] == "dims" else None  # other dims keep their values
        set_z(explore.from_plane(xy, origin, basis, base=base)[0])
