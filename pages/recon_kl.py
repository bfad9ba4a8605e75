"""Reconstruction & KL: per-image terms, KL per latent dimension with active units, aggregate posterior vs prior."""

import numpy as np
import streamlit as st

from ui.common import current_checkpoint, current_data, encode_test, md, split_key
from ui.images import show_images
from ui.compare_ui import holes_figure, holes_for, kl_bars, marginal_histograms, pair_grid, recon_pairs
from ui.kl_split import kl_split_section
from ui.notes import teaching_notes
from vae.analysis import collapse_verdict, parse_indices, pick_indices
from vae.explore import decode
from vae.metrics import ACTIVE_UNIT_THRESHOLD, active_units, kl_per_dim

MAX_HIST_DIMS = 16


def inputs_ui(classes: list[str], n_test: int) -> dict:
    c1, c2, c3, c4 = st.columns([2, 1, 1, 2])
    mode = c1.radio("Choose inputs", ["random", "label", "index"], horizontal=True, key="recon_mode", persist_state="session",
                    format_func={"random": "at random", "label": "by label", "index": "by index"}.get)
    n = c2.number_input("How many", 1, 24, 8, key="recon_n", persist_state="session")
    seed = c3.number_input("Seed", 0, 10_000, 0, key="recon_seed", persist_state="session")
    label, text = None, ""
    if mode == "label" and classes:
        label = c4.selectbox("Label", range(len(classes)), format_func=lambda i: classes[i], key="recon_label", persist_state="session")
    elif mode == "index":
        text = c4.text_input(f"Test indices (0–{n_test - 1})", "0, 1, 2, 3", key="recon_indices", persist_state="session",
                             help="Comma-separated, ranges allowed: 0, 5, 10-14")
    return {"mode": "random" if mode == "label" and not classes else mode, "n": int(n), "seed": int(seed),
            "label": label, "text": text}


st.title("Reconstruction & KL")
ref, ckpt = current_checkpoint()
path = ref.path
split = current_data(ckpt)
model, cfg = ckpt.model, ckpt.model_config
teaching_notes("recon_kl", ckpt)

enc = encode_test(path)
mu, logvar = enc["mu"], enc["logvar"]  # (N, D) each; logvar None for AE/PCA
kl_dims = kl_per_dim(mu, logvar)  # (D,)
n_active, variances = active_units(mu)
verdict = collapse_verdict(kl_dims, n_active, model.generative)
if verdict:
    getattr(st, verdict[0])(verdict[1], icon="⚠️")

st.subheader("Inputs and their reconstructions")
choice = inputs_ui(split.test.classes, len(split.test))
idx = None
try:
    indices = parse_indices(choice["text"]) if choice["mode"] == "index" else None
    idx = pick_indices(enc["y"], choice["n"], mode=choice["mode"], seed=choice["seed"], label=choice["label"],
                       indices=indices)
except ValueError as e:  # the message quotes what was typed: escaped, so no markdown in it is interpreted
    st.error(f"Cannot pick those inputs: {md(str(e))}")
if idx is not None and len(idx) == 0:
    st.info("Enter at least one test index.")
elif idx is not None:
    terms = recon_pairs(path, split_key(ckpt.data), idx, choice["seed"])  # x, x_hat: (n, C, H, W)
    captions = [f"#{i} · recon {r:.1f}" + (f" · KL {k:.2f}" if model.generative else "")
                for i, r, k in zip(idx, terms["recon"], terms["kl"])]
    pair_grid(terms["x"], terms["x_hat"], captions)
    st.caption(f"Top: input; below: decoded posterior mean. recon = −log p(x|z) for one z ~ q(z|x) (seed "
               f"{choice['seed']}), KL = KL(q(z|x) ‖ N(0, I)), both in nats. Mean over these {len(idx)}: recon "
               f"{terms['recon'].mean():.2f}, KL {terms['kl'].mean():.2f}."
               + ("" if model.generative else " This model's codes are points: it has no KL term."))

st.subheader("KL per latent dimension (test set)" if model.generative else "Spread of the code per dimension (no KL)")
st.plotly_chart(kl_bars(kl_dims, variances, ACTIVE_UNIT_THRESHOLD, generative=model.generative),
                key="recon_kl_bars")
st.caption(f"{n_active} of {cfg.latent_dim} dimensions active (Var_x E[z_i|x] > {ACTIVE_UNIT_THRESHOLD}; Burda et al., "
           f"2016). " + (f"Total KL {kl_dims.sum():.2f} nats per image over {len(mu)} test images." if model.generative
                         else "This model's codes are points: no KL, and no prior to match."))

kl_split_section(path, ckpt)  # MI + TC + dimension-wise KL, for VAEs only

st.subheader("Aggregate posterior vs prior")
what = st.radio("Histogram of", ["mu", "z"], horizontal=True, key="recon_hist_of", persist_state="session",
                format_func={"mu": "posterior means μ(x)", "z": "one sample z ~ q(z|x) per image"}.get)
values = mu
if what == "z" and logvar is not None:
    eps = np.random.default_rng(choice["seed"]).standard_normal(mu.shape)
    values = mu + np.exp(0.5 * logvar) * eps  # reparameterised samples from q(z|x)
st.plotly_chart(marginal_histograms(values[:, :MAX_HIST_DIMS]), key="recon_hist")
st.caption("Red: the prior N(0, 1). "
           + ("The means alone are narrower than the prior when σ(x) is large; the samples include that noise and "
              "should match N(0, 1) in a well-fitted VAE." if model.generative else
              "Nothing pulls this model's codes towards N(0, 1), so they sit wherever the decoder found useful.")
           + (f" First {MAX_HIST_DIMS} dimensions shown." if cfg.latent_dim > MAX_HIST_DIMS else ""))

if cfg.latent_dim == 2:
    st.subheader("Holes: where the prior has mass but the data's codes do not")
    holes = holes_for(path, split_key(ckpt.data))
    left, right = st.columns([3, 2])
    left.plotly_chart(holes_figure(holes, mu), key="recon_holes")
    with right:
        st.metric("Prior mass in holes", f"{holes['hole_mass']:.0%}",
                  help=f"A hole is a cell where q(z) holds less than {holes['ratio']:.0%} of the prior's mass; "
                       f"the total-variation distance between p(z) and q(z) is {holes['tv']:.0%}.")
        zh = holes["z_holes"]
        if len(zh):
            show_images(decode(model, zh), [f"{i + 1}: ({a:.1f}, {b:.1f})" for i, (a, b) in enumerate(zh)], size=72,
                        columns=3)
            st.caption("Decoded at the centres of the heaviest holes: what the decoder draws where the data put "
                       f"less than {holes['ratio']:.0%} of the prior's mass.")
        elif verdict and verdict[0] == "error":  # q = p here only because every q(z|x) is the prior itself
            st.info("No holes, but only because the posterior has collapsed: every q(z|x) is the prior, so q(z) "
                    "matches p(z) while z says nothing about x.")
        else:
            st.success(f"No holes: q(z) holds at least {holes['ratio']:.0%} of the prior's mass in every cell.")
    st.caption(f"Red cells: holes, where q(z) = mean_x q(z|x){' (a KDE of the codes, since this model has no σ)' if logvar is None else ''} "
               f"has less than {holes['ratio']:.0%} of the prior's mass; both integrated exactly per cell, shaded by "
               "the prior's density. Outside the red the data cover the prior.")
