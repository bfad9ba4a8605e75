"""Factors: which latent dim follows which generative factor (MI heatmap, MIG; Chen et al., 2018) and traversals."""

import pandas as pd
import streamlit as st

from ui.common import current_checkpoint, current_data, encode_test, md, upscale
from ui.factors import explain, gap_table, mi_heatmap, scores_for, traversals

st.title("Factors: is the code disentangled?")
st.caption("A β-VAE is meant to give each generative factor (shape, size, rotation, position) a latent dimension "
           "of its own (Higgins et al., 2017). With a dataset whose factors are known, we can measure it.")
path, ckpt = current_checkpoint()
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

cols = st.columns(2 + len(s["names"]))
cols[0].metric("MIG", f"{s['mig']:.3f}", help="Mutual Information Gap, 0 (entangled) to 1 (each factor in one dim)")
cols[1].metric("MIG, active dims", "–" if s["mig_active"] is None else f"{s['mig_active']:.3f}",
               help="The same, over the dims whose μ varies (Var_x μ above the active-unit threshold) only")
for col, name, gap in zip(cols[2:], s["names"], s["gaps"]):
    col.metric(f"gap · {name}", f"{gap:.2f}")
st.caption(explain(s))

left, right = st.columns([3, 2])
left.plotly_chart(mi_heatmap(s), key="factors_heatmap")
with right:
    st.markdown("**Per factor: the two dims that know most about it**")
    st.dataframe(pd.DataFrame(gap_table(s)).set_index("factor"))
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
