"""The KL split into index-code MI, total correlation and dimension-wise KL (Chen et al., 2018) for the Recon & KL page."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from ui.common import LABEL_COLORS, load_model, load_split, mtime
from vae.tc import TERMS, dataset_kl_decomposition, negative_tc_note

HELP = {"mi": "I(x; z): how much the code says about which image it came from",
        "tc": "KL(q(z) ‖ ∏ q(z_d)): how far the dims of the aggregate posterior are from independent; "
              "β-TCVAE puts β on this term only",
        "dwkl": "Σ_d KL(q(z_d) ‖ N(0, 1)): how far each dim's aggregate posterior is from the prior"}


@st.cache_data(max_entries=16, show_spinner="Splitting the KL on the test set…")
def _split(path: str, mt: float) -> dict | None:
    ckpt = load_model(path)
    return dataset_kl_decomposition(ckpt.model, load_split(ckpt).test.x, seed=0)


def history_figure(history: list[dict], batch_size: int | None = None) -> go.Figure:
    """The three terms per epoch of a β-TCVAE run (minibatch estimates on the training batches)."""
    fig = go.Figure()
    ep = [h["epoch"] for h in history]
    for i, (key, label) in enumerate(TERMS.items()):
        fig.add_scatter(x=ep, y=[h.get(key) for h in history], name=label, mode="lines+markers",
                        line=dict(color=LABEL_COLORS[2 + i]))
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=40, b=10), title="During training (per epoch)",
                      xaxis_title="epoch", yaxis_title="nats per image", legend=dict(orientation="h", y=-0.35))
    fig.update_xaxes(tickformat="d")
    if note := negative_tc_note(history, batch_size):
        fig.update_layout(title=dict(text="During training (per epoch)<br><sup>" + note.replace("\n", "<br>")
                                     + "</sup>"), margin=dict(t=90), height=300)
    return fig


def kl_split_section(path, ckpt) -> None:
    """Three metrics on the test set, and for a β-TCVAE run the same terms per epoch; nothing for AE and PCA."""
    s = _split(str(path), mtime(path))
    if s is None:
        return
    train = ckpt.train_config
    tcvae = train is not None and train.objective == "beta-tcvae"
    st.subheader("The KL split three ways (Chen et al., 2018)")
    cols = st.columns(4)
    for col, (key, label) in zip(cols, TERMS.items()):
        col.metric(label, f"{s[key]:.2f}", help=HELP[key])
    cols[3].metric("sum (KL, one z per image)", f"{s['kl_mc']:.2f}", help=f"the analytic KL is {s['kl']:.2f}")
    exact = s["n"] == s["dataset_size"]
    st.caption(
        f"Test set, nats per image, one z ~ q(z|x) per image: KL = index-code MI + total correlation + dimension-wise "
        f"KL. q(z) is the mixture of {'all' if exact else 'a seeded'} {s['n']} of the {s['dataset_size']} test "
        f"images' posteriors ({'exact' if exact else 'minibatch-stratified estimate'}; vae/tc.py), so the sum is "
        f"a one-sample estimate of the KL ({s['kl']:.2f}). "
        + (f"This model was trained as a β-TCVAE with β = {train.beta:g} on the total correlation only."
           if tcvae else "This model was trained on the ELBO, which weights all three alike; a β-TCVAE (Train page, "
                         "Objective) weights only the total correlation by β."))
    if tcvae and any("tc" in h for h in ckpt.history):
        st.plotly_chart(history_figure(ckpt.history, train.batch_size), key="recon_kl_split_history")
