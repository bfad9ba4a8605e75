"""Spread over seeds on the β page: per-β medians and interquartile ranges, and the table of every trial.

Locatello et al. (2019) found that the seed moves disentanglement scores as much as the model does, so a β with
several seeds is drawn as its median with the middle half of its seeds around it, never as one line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui.common import set_current
from vae.runs import UnknownCheckpoint

TABLE_KEY = "beta_trials"
OPENED_KEY = "beta_opened"  # the last checkpoint opened from the β page (plane, MIG dots or table)
FAINT = "rgba(90, 90, 90, 0.35)"


def quartiles(values) -> tuple[float, float, float]:
    """(25th percentile, median, 75th percentile), linearly interpolated (numpy's default, R's type 7)."""
    q25, med, q75 = np.percentile(np.asarray(values, float), [25, 50, 75])
    return float(q25), float(med), float(q75)


def by_beta(items: list[tuple[float, float]]) -> list[dict]:
    """(β, value) pairs grouped by β, sorted: {'beta', 'n', 'q25', 'median', 'q75', 'values'} per β."""
    out = []
    for beta in sorted({b for b, _ in items}):
        vals = [v for b, v in items if b == beta]
        q25, med, q75 = quartiles(vals)
        out.append({"beta": beta, "n": len(vals), "q25": q25, "median": med, "q75": q75, "values": vals})
    return out


def several_seeds(points: list[dict]) -> bool:
    betas = [p["beta"] for p in points]
    return len(betas) != len(set(betas))


def plane_summary(pts: list[dict]) -> list[dict]:
    """One point per β: median rate and distortion with their quartiles, and the trial nearest the median (what a
    click on the median opens)."""
    rate = {g["beta"]: g for g in by_beta([(p["beta"], p["rate"]) for p in pts])}
    dist = {g["beta"]: g for g in by_beta([(p["beta"], p["distortion"]) for p in pts])}
    out = []
    for beta in sorted(rate):
        r, d = rate[beta], dist[beta]
        mine = [p for p in pts if p["beta"] == beta]
        near = min(mine, key=lambda p: abs(p["rate"] - r["median"]) + abs(p["distortion"] - d["median"]))
        out.append({"beta": beta, "rate": r["median"], "distortion": d["median"], "n": r["n"], "id": near["id"],
                    "rate_q": (r["q25"], r["q75"]), "distortion_q": (d["q25"], d["q75"])})
    return out


def iqr_errors(summary: list[dict], key: str) -> dict:
    """Plotly error bars from each median to its quartiles: the arms of the interquartile cross."""
    return dict(type="data", symmetric=False, thickness=1.5, width=6,
                array=[s[f"{key}_q"][1] - s[key] for s in summary],
                arrayminus=[s[key] - s[f"{key}_q"][0] for s in summary])


def add_seed_dots(fig: go.Figure, pts: list[dict]) -> None:
    """Every trial as a faint dot (clickable: it opens that trial)."""
    fig.add_scatter(x=[p["rate"] for p in pts], y=[p["distortion"] for p in pts], mode="markers", name="seeds",
                    customdata=[p["id"] for p in pts], text=[_trial_label(p) for p in pts],
                    marker=dict(size=7, color=FAINT),
                    hovertemplate="%{text}<br>rate %{x:.2f}<br>distortion %{y:.2f}<extra></extra>")


def mig_band_figure(pairs: list[tuple[float, float]]) -> go.Figure:
    """MIG against β over seeds: the median line, the interquartile band and each seed as a faint dot."""
    groups = by_beta(pairs)
    x = [g["beta"] for g in groups]
    fig = go.Figure()
    fig.add_scatter(x=x, y=[g["q75"] for g in groups], mode="lines", line=dict(width=0), hoverinfo="skip",
                    showlegend=False, name="IQR top")
    fig.add_scatter(x=x, y=[g["q25"] for g in groups], mode="lines", line=dict(width=0), fill="tonexty",
                    fillcolor="rgba(31, 119, 180, 0.2)", name="IQR", hoverinfo="skip")
    fig.add_scatter(x=[b for b, _ in pairs], y=[m for _, m in pairs], mode="markers", name="seeds",
                    marker=dict(size=7, color=FAINT), hovertemplate="β=%{x:g}<br>MIG %{y:.3f}<extra></extra>")
    fig.add_scatter(x=x, y=[g["median"] for g in groups], mode="lines+markers", name="median",
                    marker=dict(size=11), text=[f"{g['n']} seeds" for g in groups],
                    hovertemplate="β=%{x:g}<br>median MIG %{y:.3f} (%{text})<extra></extra>")
    return fig


def _trial_label(p: dict) -> str:
    return f"β={p['beta']:g}" + (f", seed {p['seed']}" if p.get("seed") is not None else "")


def _open_row() -> None:
    """A row clicked in the trials table becomes the current checkpoint (by ID, resolved in the store)."""
    rows = st.session_state[TABLE_KEY].selection.rows
    ids = st.session_state.get(f"{TABLE_KEY}_ids") or []
    if rows and rows[0] < len(ids) and ids[rows[0]]:
        try:
            set_current(ids[rows[0]])
        except UnknownCheckpoint:
            return
        st.session_state[OPENED_KEY] = ids[rows[0]]


def trials_table(points: list[dict]) -> None:
    """Every trial of the sweep, one row each; click a row to open it."""
    rows = sorted(points, key=lambda p: (p["beta"], p.get("seed") if p.get("seed") is not None else -1))
    st.session_state[f"{TABLE_KEY}_ids"] = [p["id"] if p["state"] == "done" else None for p in rows]
    table = pd.DataFrame({
        "β": [p["beta"] for p in rows], "seed": [p.get("seed") for p in rows], "state": [p["state"] for p in rows],
        "rate (KL)": [p["rate"] for p in rows], "distortion (recon)": [p["distortion"] for p in rows],
        "MIG": [p.get("mig") for p in rows], "message": [p["message"] or "" for p in rows]})  # plain cells: no Markdown to escape
    st.dataframe(table, key=TABLE_KEY, on_select=_open_row, selection_mode="single-row", hide_index=True,
                 width="stretch", column_config={"rate (KL)": st.column_config.NumberColumn(format="%.2f"),
                                                 "distortion (recon)": st.column_config.NumberColumn(format="%.2f"),
                                                 "MIG": st.column_config.NumberColumn(format="%.3f")})
