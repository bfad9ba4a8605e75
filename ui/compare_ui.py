"""Cached encodings and figures for the Reconstruction & KL and Compare pages (the metrics table: ui/compare_table.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import payload as P
from ui.common import SVG_POINTS, figure_cache, load_model, load_split_by_key, md, mtime
from ui.images import display_png
from ui.components import latent_canvas as C
from ui.map.canvas_map import exported_parts  # Compare's z plane sends the map's decoder parts: one copy per session
from vae.analysis import normal_pdf, prior_holes

HIST_CAP = 3.0  # histogram axes stop at this multiple of the prior's peak density, so the prior stays readable


@st.cache_data(max_entries=32, show_spinner=False)
def _encode_on(path: str, mtime_s: float, split: str) -> tuple[np.ndarray, np.ndarray | None]:
    from vae.explore import encode_dataset

    return encode_dataset(load_model(path).model, load_split_by_key(split).test.x)


def encode_on(path: str | Path, split: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(mu (N, D), logvar (N, D) or None) of a test split; cached by path + mtime."""
    return _encode_on(str(path), mtime(path), split)


@st.cache_data(max_entries=8, show_spinner="Mapping the prior's holes…")
def _holes(path: str, mtime_s: float, split: str) -> dict:
    mu, logvar = _encode_on(path, mtime_s, split)
    return prior_holes(mu, logvar)


def holes_for(path: str | Path, split: str) -> dict:
    return _holes(str(path), mtime(path), split)


@st.cache_data(max_entries=32, show_spinner=False)
def _recon_pairs(path: str, mtime_s: float, split: str, idx: tuple[int, ...], seed: int) -> dict[str, np.ndarray]:
    import torch

    from vae.explore import reconstruct
    from vae.metrics import per_image_terms

    model = load_model(path).model
    x = load_split_by_key(split).test.x[torch.as_tensor(idx)]  # (n, C, H, W)
    terms = per_image_terms(model, x, seed=seed)
    return {"x": x.numpy(), "x_hat": reconstruct(model, x), "recon": terms["recon"], "kl": terms["kl"]}


def recon_pairs(path: str | Path, split: str, idx, seed: int) -> dict[str, np.ndarray]:
    """Test images `idx`, their decoded posterior means, and per-image recon and KL (nats) for one z ~ q(z|x) drawn
    with `seed`: {'x', 'x_hat', 'recon', 'kl'}; cached by path + mtime, so a page switch does not rerun the model."""
    return _recon_pairs(str(path), mtime(path), split, tuple(int(i) for i in idx), int(seed))


def shared_z_ui(paths: list[str], names: list[str], split: str) -> None:
    """One z plane, decoded by every compared model in the browser as the mouse moves (ui/components/z_plane.js)."""
    dims = {load_model(p).model.config.latent_dim for p in paths}
    if len(dims) > 1:
        st.info("One z through every decoder needs the same latent dim; these have " + ", ".join(
            f"{n}: {load_model(p).model.config.latent_dim}" for p, n in zip(paths, names)) + ".")
        return
    d = dims.pop()
    refused = {n: exported_parts(p)[1] for p, n in zip(paths, names) if exported_parts(p)[1]}
    if d < 2 or C.available() or refused or st.session_state.get("compare_plane_failed"):
        why = ("a 1-D latent has no plane" if d < 2 else C.available() or st.session_state.get("compare_plane_failed")
               or "; ".join(f"{n}: {r}" for n, r in refused.items()))
        st.caption(f"One z through every decoder is unavailable: {md(why)}.")
        return
    lim = max(3.0, max(float(np.percentile(np.abs(encode_on(p, split)[0][:, :2]), 99.5)) for p in paths))
    decoders = [exported_parts(p)[0]["decoder"] for p in paths]  # the map's own parts: sent once per session
    models = [{"name": n, "decoder": dec, "note": "" if load_model(p).model.generative else "not generative"}
              for p, n, dec in zip(paths, names, decoders)]
    data = {"static_key": "|".join(dec.key for dec in decoders) + f"|{lim:.3g}|" + "|".join(names),
            "models": models, "lim": round(lim, 3), "dims": [0, 1], "base": [0.0] * d, "axes": ["z1", "z2"]}

    def failed() -> None:
        ev = (st.session_state.get("compare_plane") or {}).get("failed")
        st.session_state["compare_plane_failed"] = str(ev.get("message") if isinstance(ev, dict) else ev)[:300]

    def need() -> None:
        ev = (st.session_state.get("compare_plane") or {}).get("need_static")
        P.forget(ev.get("keys") if isinstance(ev, dict) else None)

    C.z_plane(P.payload(data), key="compare_plane", on_failed=failed, on_need_static=need)
    st.caption("Hover the plane: that z (z1, z2" + (", the other dims at 0" if d > 2 else "")
               + ") is decoded by every model here, in your browser. Circles: 1σ and 2σ of the prior N(0, I).")


# ---------- figures ----------

@figure_cache
def kl_bars(kl_dims: np.ndarray, variances: np.ndarray, threshold: float, *, generative: bool = True,
            height: int = 260) -> go.Figure:
    """KL per latent dimension; active units (Var_x E[z_i|x] > threshold) solid, inactive ones grey.

    Point-mass codes (AE, PCA) have no KL, so their bars show Var_x E[z_i|x] instead, labelled as such.
    """
    kl_dims, variances = np.asarray(kl_dims), np.asarray(variances)
    active = variances > threshold
    y = kl_dims if generative else variances
    names = [f"z{i + 1}" for i in range(len(y))]
    fig = go.Figure(go.Bar(
        x=names, y=y, marker_color=["#1f77b4" if a else "#bbbbbb" for a in active] if generative else "#7f7f7f",
        text=["active" if a else "inactive" for a in active], textposition="outside",
        customdata=variances, hovertemplate="%{x}: %{y:.3f}<br>Var E[z|x] = %{customdata:.3g}<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10),
                      yaxis_title="KL (nats / image)" if generative else "Var of μ (no KL)",
                      yaxis_range=[0, max(0.5, float(y.max()) * 1.25)])
    return fig


@figure_cache
def marginal_histograms(values: np.ndarray, *, per_row: int = 4, height_per_row: int = 220) -> go.Figure:
    """One histogram per dimension of `values` (N, D) as a density, over the N(0, 1) density of the prior."""
    from plotly.subplots import make_subplots

    d = values.shape[1]
    rows = -(-d // per_row)
    cols = min(d, per_row)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"z{i + 1}" for i in range(d)],
                        horizontal_spacing=0.04, vertical_spacing=0.12 if rows > 1 else 0.0)
    grid = np.linspace(-4, 4, 161)
    prior = normal_pdf(grid[:, None])
    cap = HIST_CAP * float(prior.max())
    for i in range(d):
        r, c = i // per_row + 1, i % per_row + 1
        fig.add_trace(go.Histogram(x=values[:, i], histnorm="probability density", nbinsx=40, marker_color="#1f77b4",
                                   opacity=0.7, name="data", showlegend=i == 0), row=r, col=c)
        fig.add_trace(go.Scatter(x=grid, y=prior, mode="lines", line=dict(color="#d62728"), name="prior N(0, 1)",
                                 showlegend=i == 0), row=r, col=c)
        # a collapsed dim's spike (density ~100) would flatten the prior to a line at 0: cap the axis, say so
        peak = float(np.histogram(values[:, i], bins=40, density=True)[0].max()) if len(values) else 0.0
        top = 1.1 * min(max(peak, float(prior.max())), cap)
        fig.update_yaxes(range=[0, top], row=r, col=c)
        if peak > cap:
            fig.add_annotation(text=f"bars cut at {cap:.2g} (peak {peak:.3g})", x=0.98, y=0.98, xref="x domain",
                               yref="y domain", showarrow=False, font=dict(size=9), xanchor="right", yanchor="top",
                               row=r, col=c)
    fig.update_layout(height=height_per_row * rows + 40, margin=dict(l=10, r=10, t=30, b=10), bargap=0.02,
                      legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    return fig


def pair_grid(x: np.ndarray, x_hat: np.ndarray, captions: list[str], *, per_row: int = 8, size: int = 80) -> None:
    """Each input above its reconstruction, with a caption under the pair; wraps after per_row pairs."""
    for start in range(0, len(x), per_row):
        cols = st.columns(per_row)
        for j in range(start, min(start + per_row, len(x))):
            with cols[j - start]:
                st.image(display_png(x[j], size), width=size)
                st.image(display_png(x_hat[j], size), caption=captions[j], width=size)


@figure_cache
def holes_figure(holes: dict, mu: np.ndarray, *, height: int = 420) -> go.Figure:
    """The hole cells (q has < HOLE_RATIO of the prior's mass there) shaded by their prior density, codes on top."""
    g = holes["g"]
    shade = np.where(holes["hole"], holes["p"], np.nan)  # NaN cells are drawn transparent
    # an absolute colour scale (0 .. the prior's peak), so a hole in the far tail never looks like a big one
    fig = go.Figure(go.Heatmap(x=g, y=g, z=shade, colorscale="Reds", zmin=0, zmax=float(holes["p"].max()),
                               colorbar=dict(title="p(z) in<br>holes"), hoverongaps=False,
                               hovertemplate="z1 %{x:.2f}, z2 %{y:.2f}<br>hole: p(z) %{z:.3f}<extra></extra>"))
    inside = (np.abs(mu) <= holes["edges"][-1]).all(1)
    trace = go.Scatter if inside.sum() < SVG_POINTS else go.Scattergl  # see ui.common.SVG_POINTS
    fig.add_trace(trace(x=mu[inside, 0], y=mu[inside, 1], mode="markers", name="test codes μ",
                               marker=dict(size=3, color="rgba(30,30,30,0.45)")))
    zh = holes["z_holes"]
    fig.add_trace(go.Scatter(x=zh[:, 0], y=zh[:, 1], mode="markers+text", name="decoded",
                             text=[str(i + 1) for i in range(len(zh))], textposition="top center",
                             marker=dict(size=11, symbol="x", color="#1f77b4")))
    lim = [holes["edges"][0], holes["edges"][-1]]
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="z1", yaxis_title="z2",
                      legend=dict(orientation="h", y=-0.15))
    fig.update_xaxes(range=lim, constrain="domain")
    fig.update_yaxes(range=lim, scaleanchor="x", scaleratio=1, constrain="domain")
    return fig
