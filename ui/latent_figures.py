"""Latent maps as Plotly figures: one map (Train, Compare) or several as the panels of one figure (β page)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.common import SVG_POINTS, figure_cache, label_color


def _label_traces(xy: np.ndarray, y: np.ndarray, *, first: bool = True) -> list:
    """One trace per label, in the label's colour, grouped by label across panels (the legend doubles as a filter
    of every panel); only the `first` panel's traces are in the legend."""
    # SVG below SVG_POINTS: each WebGL plot costs the browser a GL context (software GL without a GPU), and the
    # β sweep and Compare pages draw several small maps at once
    trace = go.Scatter if len(xy) < SVG_POINTS else go.Scattergl
    return [trace(x=xy[y == lab, 0], y=xy[y == lab, 1], mode="markers", name=str(lab), legendgroup=str(lab),
                  showlegend=first, marker={"size": 4, "color": label_color(lab)},
                  hovertemplate=f"label {lab}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>") for lab in np.unique(y)]


def _square_axes(fig: go.Figure, lim: float | None, prior_circle: bool, **where) -> None:
    """Equal scales on one panel (`where`: row/col of a subplot, or nothing); ±lim axes; the prior's 2σ circle."""
    x_ref = where.pop("x_ref", "x")
    fig.update_yaxes(scaleanchor=x_ref, scaleratio=1, **where)
    if lim is not None:  # keep the range and shrink the plot area instead: equal scales must not widen the axes
        fig.update_xaxes(range=[-lim, lim], constrain="domain", **where)
        fig.update_yaxes(range=[-lim, lim], constrain="domain", **where)
    if prior_circle:
        fig.add_shape(type="circle", x0=-2, y0=-2, x1=2, y1=2, line=dict(color="#9e9e9e", dash="dot"), **where)


@figure_cache
def latent_scatter(xy: np.ndarray, y: np.ndarray, *, title: str = "", height: int = 300, legend: bool = True,
                   lim: float | None = None, prior_circle: bool = False) -> go.Figure:
    """Latent means coloured by label, one trace per label (the legend doubles as a filter); equal axis scales.

    `lim` fixes the axes to ±lim so that maps of different models can be compared by eye; `prior_circle` draws
    the prior's 2σ circle. Cached (figure_cache): do not change the figure it returns.
    """
    fig = go.Figure(_label_traces(xy, y))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=30 if title else 10, b=10),
                      legend=dict(font=dict(size=9), itemsizing="constant"), showlegend=legend)
    _square_axes(fig, lim, prior_circle)
    return fig


@figure_cache
def latent_panels(panels: tuple[tuple[str, np.ndarray, np.ndarray], ...], *, cols: int = 3, height: int = 260,
                  lim: float | None = None, prior_circle: bool = False) -> go.Figure:
    """Several 2-D maps `(title, xy, y)` as the panels of ONE figure, `cols` to a row, on the same axes.

    One legend filters every panel (a label clicked off goes off everywhere). Drawing it costs the browser about
    what the separate figures did (3 digits maps: 466 against 468 ms for the β page switch; bench/README). Cached.
    """
    from plotly.subplots import make_subplots

    cols = max(1, min(cols, len(panels)))
    rows = -(-len(panels) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[t for t, _, _ in panels], horizontal_spacing=0.04,
                        vertical_spacing=0.12 / rows)
    for i, (_, xy, y) in enumerate(panels):
        r, c = divmod(i, cols)
        for tr in _label_traces(xy, y, first=i == 0):
            fig.add_trace(tr, row=r + 1, col=c + 1)
        _square_axes(fig, lim, prior_circle, row=r + 1, col=c + 1, x_ref=f"x{i + 1 if i else ''}")
    fig.update_layout(height=height * rows + 50, margin=dict(l=10, r=10, t=30, b=60),  # b: the legend's row
                      legend=dict(font=dict(size=10), itemsizing="constant", orientation="h", x=0,
                                  y=-38 / (height * rows - 40),  # 38 px below the plot area, whatever the rows
                                  yanchor="top", title=dict(text="label (click to hide in every map)")))
    return fig
