"""The β sweep's figures: the rate–distortion plane (Alemi et al., 2018) with labels that do not overlap, and
MIG against β (Higgins et al., 2017)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.common import figure_cache
from ui.jobs_ui import COLORS
from ui.seed_bands import add_seed_dots, iqr_errors, mig_band_figure, plane_summary, several_seeds


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


@figure_cache
def mig_figure(pairs: list[tuple[float, float]],
               references: dict[str, list[tuple[float, float]]] | None = None) -> go.Figure:
    """MIG against β (log axis): does a larger β give each factor a dim of its own (Higgins et al., 2017)?

    `references` are other series drawn beside it as dotted lines (name -> (β, MIG) pairs), e.g. the bundled
    demos of the other objective, so β-VAE and β-TCVAE read on one plot."""
    pairs = sorted(pairs)
    references = {k: sorted(v) for k, v in (references or {}).items() if v}
    several = len({b for b, _ in pairs}) != len(pairs)
    fig = mig_band_figure(pairs) if several else go.Figure(go.Scatter(x=[b for b, _ in pairs], y=[m for _, m in pairs], mode="lines+markers+text", name="this sweep",
                               text=[f"{m:.3f}" for _, m in pairs], textposition="top center",
                               marker=dict(size=12, color=COLORS[1]),
                               hovertemplate="β=%{x:g}<br>MIG %{y:.3f}<extra></extra>"))
    for i, (name, ref) in enumerate(references.items()):
        fig.add_scatter(x=[b for b, _ in ref], y=[m for _, m in ref], mode="lines+markers", name=name,
                        line=dict(dash="dot", color=COLORS[(3 + i) % len(COLORS)]), marker=dict(size=8),
                        hovertemplate=f"{name}<br>β=%{{x:g}}<br>MIG %{{y:.3f}}<extra></extra>")
    top = max([m for _, m in pairs] + [m for ref in references.values() for _, m in ref] + [0.1])
    fig.update_xaxes(type="log", title="β (log scale)")
    fig.update_yaxes(range=[0, min(1.0, top * 1.3)], title="MIG (0 = entangled, 1 = one dim per factor)")
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=40, b=10), showlegend=bool(references),
                      legend=dict(orientation="h", y=-0.2),
                      title="Disentanglement (MIG) against β" + (": median, IQR band, seeds" if several else ""))
    return fig
