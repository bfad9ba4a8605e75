"""Factors: which latent dim follows which generative factor (MI heatmap, MIG; Chen et al., 2018) and traversals."""

import pandas as pd
import streamlit as st

from ui.common import current_checkpoint, current_data, encode_test, md
from ui.images import upscale
from ui.factors import (active_dims_line, estimators_note, explain, explain_sampled, gap_table, mi_heatmap,
                        sampled_scores_for, scores_for, traversals)
from vae.metrics import MIG_BINS

st.title("Factors: is the code disentangled?")
st.caption("A β-VAE is meant to give each generative factor (shape, size, rotation, position) a latent dimension "
           "of its own (Higgins et al., 2017). With a dataset whose factors are known, we can measure it.")
ref, ckpt = current_checkpoint()
path = ref.path
split = current_data(ckpt)
if split.test.factors is None:
    st.info(f"This checkpoint's dataset ({md(ckpt.data.get('name', '?'))}) has no known generative factors, so there "
            "is nothing to measure here. Pick a checkpoint trained on **shapes** in the sidebar (the bundled "
            "`shapes-…` demos), or train one on the **Train** page with the dataset set to shapes.")
    st.stop()
s = scores_for(path)
if s is None:
    st.info("MIG needs a code with at least 2 dimensions.")
    st.stop()

sampled = sampled_scores_for(path)
fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
cols = st.columns(5)
cols[0].metric("MIG · binned μ", fmt(s["mig"]), help="disentanglement_lib's estimator: posterior means of the test "
               f"images in {MIG_BINS} bins. 0 (entangled) to 1 (each factor in one dim)")
cols[1].metric("MIG · sampled z", fmt(sampled and sampled["mig"]), help="Chen et al.'s estimator: samples of q(z|x) "
               "over the whole dataset, mixture densities by log-sum-exp (a VAE only)")
cols[2].metric("binned, no shape", fmt(s["mig_no_shape"]))
cols[3].metric("sampled, no shape", fmt(sampled and sampled["mig_no_shape"]))
cols[4].metric("MIG, active dims", fmt(s["mig_active"]),
               help="Binned, over the dims whose μ varies (Var_x μ above the active-unit threshold) only")
st.caption(estimators_note(s, sampled))
st.markdown(active_dims_line(s))
est = st.radio("MI matrix and gaps from", ["binned", "sampled"], horizontal=True, key="factors_estimator",
               persist_state="session", disabled=sampled is None,
               format_func={"binned": "binned means (disentanglement_lib)", "sampled": "samples of q(z|x) (Chen et al.)"}.get)
shown = sampled if est == "sampled" and sampled is not None else s
for col, name, gap in zip(st.columns(len(s["names"])), shown["names"], shown["gaps"]):
    col.metric(f"gap · {name}", f"{gap:.2f}")
st.caption(explain(s) if shown is s else explain_sampled(sampled))

left, right = st.columns([3, 2])
left.plotly_chart(mi_heatmap(shown), key="factors_heatmap")
with right:
    st.markdown("**Per factor: the two dims that know most about it**")
    st.dataframe(pd.DataFrame(gap_table(shown)).set_index("factor"))
    st.caption("share = I(z; factor) / H(factor). gap = best share − runner-up share; MIG is the mean gap.")

st.subheader("Traversals, labelled with the factor each dim captures")
c1, c2, c3 = st.columns([1, 1, 2])
start = c1.radio("Start from", ["image", "zero"], horizontal=True, key="factors_base", persist_state="session",
                 format_func={"image": "a test image's μ(x)", "zero": "z = 0"}.get)
index = c2.number_input(f"Test image (0–{len(split.test) - 1})", 0, len(split.test) - 1, 0, key="factors_index",
                        persist_state="session", disabled=start == "zero")
steps = c3.slider("Steps", 5, 15, 9, step=2, key="factors_steps", persist_state="session")
mu = encode_test(path)["mu"]
base = mu[int(index)] if start == "image" else mu[0] * 0
if start == "image":
    c1.image(upscale(split.test.x[int(index)].numpy(), 96), width=96, caption=f"test #{int(index)}")
for label, img in traversals(path, base, int(steps)):
    a, b = st.columns([1, 4], vertical_alignment="center")
    a.markdown(f"**{label}**")
    b.image(upscale(img, 48 * int(steps)), width="stretch")
st.caption("Each row moves one dim from −2.5 to +2.5 with the others held at the start point; dims are sorted by "
           "KL, so dims the model does not use (KL ≈ 0) come last and change nothing. A disentangled dim changes "
           "one thing only, and its label names it.")
