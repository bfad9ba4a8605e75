"""The Latent map's computation view: one input (the clicked test image or your drawing) through the model as a
small graph, x → μ, log σ² → σ → ε → z = μ + σ ⊙ ε → x̂, with its numbers in each box and its loss terms.

The numbers come from vae/computation.py on the server; "Resample ε" draws new noise with a new seed there and
reruns the map's fragment (one round trip). Beside it, "Resample ε here" (ui/components/resample.py) draws ε and
decodes x̂ in the page with the map's decoder part, sending nothing back.
"""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from ui import payload as P
from ui.common import current_data
from ui.images import png_bytes
from ui.components import resample as RS
from vae.computation import SHOWN_DIMS, Computation, compute, kl_filled_in, num

K_SHOW, K_SEED, K_INPUT, K_FAILED = "map_comp_show", "map_comp_seed", "map_comp_input", "map_comp_failed"
K_BROWSER = "map_comp_browser"  # the in-page resampler's component state
K_RESAMPLE, K_GRAPH, K_KL = "map_comp_resample", "map_comp_graph", "map_comp_kl"
KEYS = (K_SHOW, K_SEED, K_INPUT, K_FAILED, K_BROWSER, K_RESAMPLE, K_GRAPH, K_KL)  # every key this view makes
HALF_W, HALF_H = 0.55, 0.4  # node boxes in data units of the 0..7 × 0..2 graph
EDGE = "#555"


def values_text(name: str, v: np.ndarray | None) -> str:
    """A box's text: its name in bold, then one line per dim (the first SHOWN_DIMS beyond that)."""
    lines = [f"<b>{name}</b>"]
    lines += [f"<span style='color:#888'>{i + 1}</span>  {num(x)}" for i, x in enumerate(v[:SHOWN_DIMS])]
    if len(v) > SHOWN_DIMS:
        lines.append(f"… {len(v)} dims in all")
    return "<br>".join(lines)


def _edge_point(c, d) -> tuple[float, float]:
    """Where the segment from box centre c towards d leaves c's box."""
    dx, dy = d[0] - c[0], d[1] - c[1]
    t = min(HALF_W / abs(dx) if dx else np.inf, HALF_H / abs(dy) if dy else np.inf)
    return c[0] + t * dx, c[1] + t * dy


def _image(fig: go.Figure, img: np.ndarray, centre, caption: str) -> None:
    uri = "data:image/png;base64," + base64.b64encode(png_bytes(img, 112)).decode()
    fig.add_layout_image(source=uri, x=centre[0], y=centre[1], sizex=2 * HALF_W, sizey=2 * HALF_H, xref="x",
                         yref="y", xanchor="center", yanchor="middle", sizing="contain", layer="above")
    fig.add_annotation(x=centre[0], y=centre[1] - HALF_H - 0.05, text=caption, showarrow=False, yanchor="top")


def graph(c: Computation, kind: str) -> go.Figure:
    """The chain as boxes and arrows; images at the ends. A point code (AE, PCA) has one box, z = μ."""
    fig = go.Figure()
    if c.stochastic:
        boxes = {"mu": ((2.0, 1.5), values_text("μ", c.mu)), "logvar": ((2.0, 0.5), values_text("log σ²", c.logvar)),
                 "sigma": ((3.3, 0.5), values_text("σ = exp(½ log σ²)", c.sigma)),
                 "eps": ((4.6, 0.5), values_text(f"ε ~ N(0, I), seed {c.seed}", c.eps)),
                 "z": ((4.6, 1.5), values_text("z = μ + σ ⊙ ε", c.z))}
        edges = [("x", "mu", "encoder"), ("x", "logvar", ""), ("logvar", "sigma", ""), ("mu", "z", ""),
                 ("sigma", "z", ""), ("eps", "z", ""), ("z", "x_hat", "decoder")]
    else:
        boxes = {"z": ((3.3, 1.0), values_text("z = μ", c.mu))}
        edges = [("x", "z", "encoder"), ("z", "x_hat", "decoder")]
    centres = {"x": (0.6, 1.0), "x_hat": (6.3, 1.0), **{k: v[0] for k, v in boxes.items()}}
    for key, (cxy, text) in boxes.items():
        fig.add_shape(type="rect", x0=cxy[0] - HALF_W, x1=cxy[0] + HALF_W, y0=cxy[1] - HALF_H, y1=cxy[1] + HALF_H,
                      line=dict(color=EDGE), fillcolor="rgba(240,242,246,0.9)", layer="below")
        fig.add_annotation(x=cxy[0], y=cxy[1], text=text, showarrow=False, align="left",
                           font=dict(size=13, color="#222"),
                           name=key)
    for a, b, label in edges:
        p, q = _edge_point(centres[a], centres[b]), _edge_point(centres[b], centres[a])
        fig.add_annotation(x=q[0], y=q[1], ax=p[0], ay=p[1], xref="x", yref="y", axref="x", ayref="y", text="",
                           showarrow=True, arrowhead=2, arrowwidth=1.5, arrowcolor=EDGE)
        if label:
            fig.add_annotation(x=(p[0] + q[0]) / 2, y=(p[1] + q[1]) / 2 + 0.08, text=f"<i>{label}</i>", showarrow=False)
    if not c.stochastic:
        fig.add_annotation(x=3.3, y=0.35, text=f"{kind} gives a point code: σ = 0 and there is no ε, so z = μ "
                           "(and no KL)", showarrow=False, font=dict(size=13))
    _image(fig, c.x, centres["x"], "x")
    _image(fig, c.x_hat, centres["x_hat"], "x̂ = decoder(z)")
    fig.update_layout(height=460, margin=dict(l=0, r=0, t=10, b=0), showlegend=False, dragmode=False,
                      xaxis=dict(range=[0, 7], visible=False, fixedrange=True),
                      yaxis=dict(range=[-0.05, 2.05], visible=False, fixedrange=True))
    return fig


def kl_rows(c: Computation) -> list[dict]:
    """One row per dim: μ, σ², log σ², the closed form with the numbers in, and its value in nats."""
    return [{"dim": f"z{i + 1}", "μ": float(c.mu[i]), "σ²": float(np.exp(c.logvar[i])), "log σ²": float(c.logvar[i]),
             "½(μ² + σ² − log σ² − 1)": kl_filled_in(c.mu[i], c.logvar[i]), "KL (nats)": float(c.kl_per_dim[i])}
            for i in range(len(c.mu))]


def loss_text(c: Computation, beta: float | None, likelihood: str, n_pixels: int) -> str:
    """Recon, KL, the training loss (when it is recon + β·KL: β is None otherwise) and the ELBO, with numbers."""
    recon = (f"recon = −log p(x | z) = **{num(c.recon)}** nats ({likelihood}, summed over {n_pixels} pixels, "
             "at this z)")
    if not c.stochastic:
        return recon + " · no KL: a point code is not a distribution"
    loss = ("" if beta is None else f"loss = recon + β·KL = {num(c.recon)} + {num(beta)} × {num(c.kl)} = "
            f"**{num(c.recon + beta * c.kl)}** nats · ")
    return (f"{recon} · KL = Σᵢ ½(μᵢ² + σᵢ² − log σᵢ² − 1) = **{num(c.kl)}** nats · {loss}"
            f"ELBO = −(recon + KL) = **{num(-(c.recon + c.kl))}** nats")


def _resample() -> None:
    st.session_state[K_SEED] = int(st.session_state.get(K_SEED, 0)) + 1


def chosen_input(ckpt, row: int | None, drawn: dict | None) -> tuple[np.ndarray, str] | None:
    """The clicked test row or the drawing (ui/map/canvas_map.py's {'pixels', 'source'}; a radio when there are both), as
    (x (C, H, W), what it is)."""
    shape = ckpt.model.config.input_shape
    options = ([("test", f"test #{row}")] if row is not None else [])
    if drawn and len(drawn.get("pixels", ())) == int(np.prod(shape)):
        options.append(("drawn", "your " + ("upload" if drawn.get("source") == "upload" else "drawing")))
    if not options:
        return None
    names = dict(options)
    pick = options[0][0]
    if len(options) > 1:
        pick = st.radio("Input", list(names), format_func=names.get, horizontal=True, key=K_INPUT)
    if pick == "test":
        return current_data(ckpt).test.x[row].numpy(), names[pick]
    return torch.tensor(drawn["pixels"], dtype=torch.float32).reshape(shape).numpy(), names[pick]


def browser_resampler(c: Computation, decoder: P.Part | None) -> None:
    """The in-page resampler, when the decoder runs in the browser and the component works here."""
    if decoder is None or not RS.available() or st.session_state.get(K_FAILED):
        return
    data = {"decoder": decoder, "mu": [float(v) for v in c.mu], "sigma": [float(v) for v in c.sigma], "seed": c.seed}
    RS.resampler(P.payload(data), key=K_BROWSER, on_failed=_failed, on_need_static=_need_static)


def _event(name: str) -> dict | None:
    ev = (st.session_state.get(K_BROWSER) or {}).get(name)
    return ev if isinstance(ev, dict) else None


def _failed() -> None:
    st.session_state[K_FAILED] = str((_event("failed") or {}).get("message", "unknown error"))[:300]


def _need_static() -> None:
    """The page lacks the decoder part (a lost message): send it again with the next rerun."""
    P.forget((_event("need_static") or {}).get("keys"))


def computation_ui(ckpt, row: int | None, drawn: dict | None, decoder: P.Part | None = None) -> None:
    """The toggle, then (when on) the graph and the loss terms of the clicked test row or the drawing; `decoder`
    (the map's browser decoder part, ui/map/canvas_map.py) adds the in-page resampler."""
    if not st.toggle("Computation view: x → μ, log σ² → σ → ε → z → x̂", key=K_SHOW,
                     help="How the model turns the clicked (or drawn) input into z and x̂, with its numbers."):
        return
    model = ckpt.model
    got = chosen_input(ckpt, row, drawn)
    if got is None:
        st.info("Click a test image on the map, or draw one, to follow it through the model.")
        return
    x, what = got
    c = compute(model, x, seed=int(st.session_state.get(K_SEED, 0)))
    if c.stochastic:
        st.button("Resample ε", key=K_RESAMPLE, on_click=_resample,
                  help="New noise ε ~ N(0, I), so a new z and x̂ (computed on the server: one round trip)")
    st.plotly_chart(graph(c, model.config.kind.upper()), key=K_GRAPH, config={"displayModeBar": False})
    if c.stochastic:
        browser_resampler(c, decoder)
    tc = ckpt.train_config
    plain_elbo = tc is None or (tc.objective == "elbo" and tc.capacity is None)  # else β does not weigh the KL alone
    beta = (tc.beta if tc else 1.0) if plain_elbo else None
    st.markdown(f"**{what}**: " + loss_text(c, beta, model.config.likelihood, int(np.prod(c.x.shape))))
    if c.stochastic:
        st.dataframe(kl_rows(c), hide_index=True, key=K_KL,
                     column_config={k: st.column_config.NumberColumn(format="%.4f")
                                    for k in ("μ", "σ²", "log σ²", "KL (nats)")})
