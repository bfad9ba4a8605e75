"""β-sweep page helpers: the rate–distortion plane (Alemi et al., 2018), per-β views and the trials' points (the form: ui/sweep_form.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui.common import (display_png, encode_test, figure_cache, latent_scatter, load_model, load_split, md, mtime,
                       set_current, store)
from ui.factors import mig_of
from ui.jobs_ui import COLORS, STATE_ICON, job_manager
from ui.seed_bands import OPENED_KEY, add_seed_dots, iqr_errors, mig_band_figure, plane_summary, several_seeds
from vae import explore
from vae.checkpoint import CheckpointError
from vae.errors import VaeError
from vae.runs import SWEEPS, UnknownCheckpoint
from vae.sweep_points import trial_points

SWEEP_KEY = "beta_sweep"  # non-widget keys: they survive leaving the page
PLANE_KEY = "beta_plane"
N_INPUTS = 10  # test images reconstructed by every β
MAP_LIM = 4.0  # latent maps share ±4 axes so the shrink toward N(0, I) is visible
DEMO_SWEEP = "Bundled demos (2-D VAEs on digits)"  # a ready-made sweep, so the page teaches before any run
SHAPES_DEMO_SWEEP = "Bundled demos (conv VAEs on shapes)"  # the disentanglement demos: MIG against β
TCVAE_DEMO_SWEEP = "Bundled demos (β-TCVAEs on shapes)"  # the same with β on the total correlation only
DEMO_SWEEPS = {DEMO_SWEEP: ("digits", "elbo"), SHAPES_DEMO_SWEEP: ("shapes", "elbo"),
               TCVAE_DEMO_SWEEP: ("shapes", "beta-tcvae")}  # sweep name -> (dataset, objective) of its demos


def demo_points(dataset: str = "digits", objective: str = "elbo") -> list[dict]:
    """Bundled VAE demos as finished sweep points: the 2-D digits VAEs (β = 1, 2, 4), or the shapes VAEs or
    β-TCVAEs (`objective`)."""
    out = []
    for ckpt_id, path, meta, _ in store().rows():
        if not ckpt_id.startswith("demo/"):
            continue
        model, train = (meta or {}).get("model") or {}, (meta or {}).get("train") or {}
        if model.get("kind") != "vae" or not meta.get("history") or (meta.get("data") or {}).get("name") != dataset:
            continue
        if (dataset == "digits" and model.get("latent_dim") != 2) or train.get("objective", "elbo") != objective:
            continue
        test = meta["history"][-1].get("test") or {}
        n = len(meta["history"])
        out.append({"beta": train.get("beta", 1.0), "state": "done", "message": "", "epoch": n, "epochs": n,
                    "fraction": 1.0, "path": str(path), "id": ckpt_id, "rate": test.get("kl"), "distortion": test.get("recon")})
    return sorted(out, key=lambda p: p["beta"])


def sweep_points(sweep: str) -> list[dict]:
    """One row per trial: state, progress, the latest test rate (KL) and distortion (recon) in nats per image, and
    MIG where the data has known factors (a CLI sweep's from its sweep.json, an app sweep's from each checkpoint)."""
    if sweep in DEMO_SWEEPS:
        return demo_points(*DEMO_SWEEPS[sweep])
    mgr, runs = job_manager(), store()
    jobs = mgr.jobs(sweep=sweep)
    if not jobs:  # a sweep made by `python -m vae sweep` (maybe on a cluster, copied in): its sweep.json lists trials
        return [{**p, "id": _id_or_none(runs, p["path"])} for p in trial_points(runs.runs_root / SWEEPS / sweep)]
    out, several = [], len({j.seed for j in jobs}) > 1
    for j in jobs:
        rows = mgr.history(j.id)
        test = (rows[-1].get("test") or {}) if rows else {}
        out.append({"beta": j.beta, "state": j.state, "message": j.message, "epoch": j.epoch, "epochs": j.epochs,
                    "fraction": j.fraction, "path": j.checkpoint, "id": runs.checkpoint_id(j.checkpoint), "rate": test.get("kl"),
                    "distortion": test.get("recon"), "seed": j.seed if several else None,
                    "mig": mig_of(j.checkpoint) if j.state == "done" else None})  # None without factors; cached
    return out


def _id_or_none(runs, path: str) -> str | None:
    try:
        return runs.checkpoint_id(path)
    except UnknownCheckpoint:
        return None


def one_per_beta(points: list[dict]) -> list[dict]:
    """The lowest seed of each β: reconstructions and latent maps show one run per β, not every seed."""
    best: dict[float, dict] = {}
    for p in points:
        seed = p.get("seed") if p.get("seed") is not None else -1
        if p["beta"] not in best or seed < (best[p["beta"]].get("seed") if best[p["beta"]].get("seed") is not None else -1):
            best[p["beta"]] = p
    return [best[b] for b in sorted(best)]


def _nice_step(raw: float) -> float:
    """The round number (1, 2 or 5 times a power of ten) nearest above `raw`."""
    power = 10 ** np.floor(np.log10(max(raw, 1e-9)))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


PLOT_PX = (560, 360)  # the plot area of the rate–distortion figure in the browser, roughly (width, height)
SIDES = ("top right", "bottom right", "top left", "bottom left", "middle right", "middle left", "top center",
         "bottom center")


def label_sides(x: np.ndarray, y: np.ndarray, texts: list[str], span: tuple[float, float],
                char_px: float = 7.0, line_px: float = 16.0) -> list[str]:
    """A text position per point such that no two labels overlap (greedy, most crowded first), as far as the
    candidate positions allow; sizes are estimated in pixels and converted with the axes' spans."""
    sx, sy = PLOT_PX[0] / max(span[0], 1e-12), PLOT_PX[1] / max(span[1], 1e-12)
    px = np.column_stack([np.asarray(x, float) * sx, -np.asarray(y, float) * sy])  # screen-like: y grows down
    marker = 9.0  # half a 14 px marker plus a gap

    def box(i: int, side: str) -> tuple[float, float, float, float]:
        w, h = char_px * len(texts[i]), line_px
        cx, cy = px[i]
        v, hz = side.split()
        x0 = {"right": cx + marker, "left": cx - marker - w, "center": cx - w / 2}[hz]
        y0 = {"top": cy - marker - h, "bottom": cy + marker, "middle": cy - h / 2}[v]
        return x0, y0, x0 + w, y0 + h

    def hits(a, b) -> bool:
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    n = len(texts)
    crowd = [sum(np.hypot(*(px[i] - px[j])) < 60 for j in range(n)) for i in range(n)]
    placed: dict[int, tuple] = {}
    out = ["top right"] * n
    dots = [(p[0] - 7, p[1] - 7, p[0] + 7, p[1] + 7) for p in px]
    for i in sorted(range(n), key=lambda k: -crowd[k]):
        for side in SIDES:
            b = box(i, side)
            if not any(hits(b, o) for o in placed.values()) and not any(hits(b, d) for j, d in enumerate(dots) if j != i):
                out[i], placed[i] = side, b
                break
        else:
            placed[i] = box(i, out[i])
    return out


@figure_cache
def rd_figure(points: list[dict]) -> go.Figure:
    """Distortion against rate, one labelled point per β, with dashed lines of equal ELBO (D + R = const)."""
    trials = [p for p in points if p["rate"] is not None and p["distortion"] is not None]
    seeds = several_seeds(trials)  # then each β is its median with an interquartile cross, seeds as faint dots
    pts = plane_summary(trials) if trials else []
    fig = go.Figure()
    if pts:
        r = np.array([p["rate"] for p in pts])
        d = np.array([p["distortion"] for p in pts])
        every_r, every_d = np.array([p["rate"] for p in trials]), np.array([p["distortion"] for p in trials])
        lo, hi = min(0.0, every_r.min()), every_r.max() * 1.15 + 1.0
        lo -= 0.04 * (hi - lo)  # room for a collapsed run's marker at R = 0
        pad = 0.15 * (np.ptp(every_d) + 1)
        ylo, yhi = every_d.min() - pad, every_d.max() + pad
        # -ELBO = R + D is constant along lines of slope -1: draw them at round values, labelled where they
        # leave the plot on the right (or at the bottom), so the labels never pile up
        elbo = r + d
        step = _nice_step(max(np.ptp(elbo), 0.5) / 4)
        for c in np.arange(np.floor(elbo.min() / step) * step, elbo.max() + step, step):
            fig.add_scatter(x=[lo, hi], y=[c - lo, c - hi], mode="lines", hoverinfo="skip", showlegend=False,
                            line=dict(dash="dash", color="#bdbdbd", width=1))
            x_lab, y_lab = (hi, c - hi) if c - hi >= ylo else (c - ylo, ylo)
            fig.add_annotation(x=x_lab, y=y_lab, text=f"−ELBO {c:g}", showarrow=False, xanchor="right",
                               yanchor="bottom", font=dict(size=10, color="#9e9e9e"))
        texts = [f"β={p['beta']:g}" for p in pts]
        sides = label_sides(r, d, texts, (hi - lo, yhi - ylo))
        if seeds:
            add_seed_dots(fig, trials)
        what = "median " if seeds else ""
        fig.add_scatter(x=r.tolist(), y=d.tolist(), mode="markers+text", text=texts,
                        textposition=sides, customdata=[p["id"] for p in pts],
                        error_x=iqr_errors(pts, "rate") if seeds else None,
                        error_y=iqr_errors(pts, "distortion") if seeds else None,
                        name="runs", marker=dict(size=14, color=[COLORS[i % len(COLORS)] for i in range(len(pts))]),
                        hovertemplate=f"%{{text}}<br>{what}rate %{{x:.2f}} nats<br>{what}distortion %{{y:.2f}} nats"
                                      "<extra></extra>")
        fig.update_xaxes(range=[lo, hi])
        fig.update_yaxes(range=[ylo, yhi])
    # the title sits left and above the plot area, clear of the toolbar that appears top right on hover
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=70, b=10), showlegend=False, clickmode="event+select",
                      title=dict(text="Rate–distortion plane (test set; click a point to open it)"
                                 + ("<br><sup>median per β, cross: interquartile range over seeds</sup>" if seeds else ""), x=0,
                                 xanchor="left", y=0.97, yanchor="top"),
                      xaxis_title="rate R = KL(q(z|x) ‖ p(z))  [nats per image]",
                      yaxis_title="distortion D = recon  [nats per image]")
    return fig


def mig_points(points: list[dict]) -> list[tuple[float, float]]:
    """(β, MIG) of the finished runs whose dataset has known factors; empty when none has."""
    out = []
    for p in points:
        if p["state"] == "done" and p["path"] and Path(p["path"]).exists():
            mig = mig_of(p["path"])
            if mig is not None:
                out.append((p["beta"], mig))
    return out


@figure_cache
def mig_figure(pairs: list[tuple[float, float]]) -> go.Figure:
    """MIG against β (log axis): does a larger β give each factor a dim of its own (Higgins et al., 2017)?"""
    pairs = sorted(pairs)
    several = len({b for b, _ in pairs}) != len(pairs)
    fig = mig_band_figure(pairs) if several else go.Figure(go.Scatter(x=[b for b, _ in pairs], y=[m for _, m in pairs], mode="lines+markers+text",
                               text=[f"{m:.3f}" for _, m in pairs], textposition="top center",
                               marker=dict(size=12, color=COLORS[1]),
                               hovertemplate="β=%{x:g}<br>MIG %{y:.3f}<extra></extra>"))
    top = max([m for _, m in pairs] + [0.1])
    fig.update_xaxes(type="log", title="β (log scale)")
    fig.update_yaxes(range=[0, min(1.0, top * 1.3)], title="MIG (0 = entangled, 1 = one dim per factor)")
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=40, b=10), showlegend=False,
                      title="Disentanglement (MIG) against β" + (": median, IQR band, seeds" if several else ""))
    return fig


def _on_select() -> None:
    """Copy the clicked point at once: the next redraw of the figure clears Plotly's selection."""
    pts = st.session_state[PLANE_KEY].selection.points
    if pts and pts[0].get("customdata"):
        ckpt_id = pts[0]["customdata"]
        ckpt_id = ckpt_id[0] if isinstance(ckpt_id, list) and ckpt_id else ckpt_id
        try:
            set_current(ckpt_id)  # an ID from the browser: resolved inside the store, never opened as a path
        except UnknownCheckpoint:
            return
        st.session_state[OPENED_KEY] = ckpt_id


def plane(points: list[dict]) -> None:
    st.plotly_chart(rd_figure(points), key=PLANE_KEY, on_select=_on_select, selection_mode="points")


def _ready(points: list[dict]) -> list[dict]:
    return one_per_beta([p for p in points if p["epoch"] >= 1 and Path(p["path"]).exists()])


@st.cache_data(max_entries=16, show_spinner=False)
def _recon_tiles(runs: tuple[tuple[str, float, float], ...]) -> list[tuple[str, bytes]]:
    """(label, PNG) rows for (path, mtime, β) runs: the inputs, then each β's reconstructions of them."""
    x = load_split(load_model(runs[0][0])).test.x[:N_INPUTS]  # (N, C, H, W); a sweep's runs share the split
    rows = [("input", x.numpy())]
    for path, _mt, beta in runs:
        try:
            rows.append((f"β={beta:g}", explore.reconstruct(load_model(path).model, x)))
        except CheckpointError:
            continue
    return [(label, display_png(explore.tile(imgs[None]), 48 * N_INPUTS)) for label, imgs in rows]


def recon_rows(points: list[dict]) -> None:
    """The same test images reconstructed by every β: detail fades as β buys a lower rate."""
    ready = _ready(points)
    if not ready:
        st.caption("Reconstructions appear after each run's first epoch.")
        return
    try:
        rows = _recon_tiles(tuple((p["path"], mtime(p["path"]), float(p["beta"])) for p in ready))
    except (VaeError, OSError, ValueError, TypeError) as e:  # a dataset that no longer loads must not break the page
        st.warning(f"Cannot show reconstructions: {md(e)}")
        return
    for label, png in rows:
        a, b = st.columns([1, 6], vertical_alignment="center")
        a.markdown(f"**{label}**")
        b.image(png, width="stretch")


def latent_maps(points: list[dict]) -> None:
    """Each β's 2-D map on the same axes: the clusters shrink into N(0, I) and merge as β grows."""
    ready = _ready(points)
    if not ready:
        return
    cols = st.columns(min(3, len(ready)))
    for i, p in enumerate(ready):
        enc = encode_test(p["path"])
        if enc["mu"].shape[1] != 2:
            cols[i % len(cols)].caption(f"β={p['beta']:g}: latent map needs a 2-D latent space")
            continue
        fig = latent_scatter(enc["mu"], enc["y"], height=260, title=f"β={p['beta']:g}", lim=MAP_LIM, legend=False,
                             prior_circle=True)
        cols[i % len(cols)].plotly_chart(fig, key=f"beta_map_{i}")


def progress_lines(points: list[dict]) -> None:
    """One element per β (the β page's poller draws them, so the count never changes for a sweep): a bar while it
    queues or trains, then its outcome; one caption when the sweep has no runs."""
    if not points:
        st.caption("No runs in this sweep yet.")
    for p in points:
        seed = f", seed {p['seed']}" if p.get("seed") is not None else ""
        text = f"{STATE_ICON.get(p['state'], '')} β={p['beta']:g}{seed}: {p['state']}, epoch {p['epoch']}/{p['epochs']}"
        if p["state"] in ("failed", "diverged"):
            st.error(f"{text}. {md(p['message'])}")
        elif p["state"] == "stopped":
            st.warning(f"{text}. {md(p['message'])}")
        elif p["state"] == "done":
            st.success(text)
        else:
            st.progress(p["fraction"], text=text)


def points_signature(points: list[dict]) -> str:
    """What the views outside the poller are drawn from: each point's state and whether it has an epoch yet."""
    return ";".join(f"{p['beta']:g}:{p.get('seed')}:{p['state']}:{min(p['epoch'], 1)}" for p in points)
