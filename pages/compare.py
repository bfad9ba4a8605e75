"""Compare: 2–4 checkpoints side by side on the same test inputs, the same seed and the same prior samples."""

import numpy as np
import streamlit as st
import torch

from ui.common import current_data, load_model, md, open_id, split_key
from ui.latent_figures import latent_scatter
from ui.images import upscale
from ui.compare_table import evaluate_all, fill_iwae, kept_iwae, metrics_table, table_caption
from ui.compare_select import selection_ui
from ui.compare_ui import encode_on, kl_bars, shared_z_ui
from ui.notes import teaching_notes
from vae.analysis import dataset_mismatch, pick_indices
from vae.errors import VaeError
from vae.explore import prior_samples, project, reconstruct, tile
from vae.metrics import ACTIVE_UNIT_THRESHOLD
from vae.runs import RunStore

def controls_ui() -> tuple[int, int]:
    c1, c2, _ = st.columns([1, 1, 3])
    seed = c1.number_input("Seed (inputs, samples, metrics)", 0, 10_000, 0, key="compare_seed", persist_state="session")
    n = c2.number_input("Images", 4, 16, 8, key="compare_n", persist_state="session")
    return int(seed), int(n)


def mosaic(rows: list[np.ndarray], per_row: int = 4, width: int = 240) -> np.ndarray:
    """Images (n, C, H, W) from each of `rows`, interleaved `per_row` at a time, as one crisp upscaled picture."""
    n = rows[0].shape[0]
    pad = (-n) % per_row  # fill the last line with blanks
    blocks = [np.concatenate([r, np.ones((pad, *r.shape[1:]), r.dtype)]) if pad else r for r in rows]
    lines = [b[i : i + per_row] for i in range(0, n + pad, per_row) for b in blocks]
    return upscale(tile(np.stack(lines)), width)


st.title("Compare checkpoints")
paths = selection_ui()
if len(paths) < 2:
    teaching_notes("compare")
    st.info("Pick 2 to 4 checkpoints above, or click the ladder preset.")
    st.stop()
try:
    refs = {p: open_id(p) for p in paths}
    ckpts = {p: load_model(ref.path) for p, ref in refs.items()}
except VaeError as e:
    st.error(f"Cannot open a checkpoint: {md(e)}")
    st.stop()
teaching_notes("compare", ckpts[paths[0]])
mismatch = dataset_mismatch({RunStore.stem(p): c.data for p, c in ckpts.items()})
if mismatch:
    st.error(mismatch)
    st.stop()
first = ckpts[paths[0]]
split = split_key(first.data)
if any(split_key(c.data) != split for c in ckpts.values()):
    st.warning(f"These checkpoints split the data differently; all are evaluated on {md(RunStore.stem(paths[0]))}'s test set.")
seed, n = controls_ui()
test = current_data(first).test
idx = pick_indices(test.y.numpy(), n, seed=seed)
x = test.x[torch.as_tensor(idx)]  # (n, C, H, W): the same inputs for every column

files = {p: str(ref.path) for p, ref in refs.items()}
table_slot, progress_slot = st.empty(), st.empty()  # the table, then a progress bar under it
evals = evaluate_all(files, split, seed, progress_slot)
iwae = kept_iwae(files, split, seed)  # figures computed before; the rest are filled in at the end of the page
table_slot.dataframe(metrics_table(evals, iwae))
st.caption(table_caption(evals, seed))

st.markdown("**One z, every decoder**")
shared_z_ui([files[p] for p in paths], [RunStore.stem(p) for p in paths], split)
cols = st.columns(len(paths))
for col, p in zip(cols, paths):
    ckpt, e = ckpts[p], evals[p]
    model, cfg = ckpt.model, ckpt.model_config
    beta = ckpt.train_config.beta if ckpt.train_config and cfg.kind == "vae" else None
    with col:
        st.markdown(f"**{md(RunStore.stem(p))}**  \n{cfg.kind.upper()} · z={cfg.latent_dim}" + (f" · β={beta:g}" if beta else ""))
        mu, _ = encode_on(files[p], split)
        xy, rows = project(mu, "dims" if cfg.latent_dim == 2 else "pca")
        st.plotly_chart(latent_scatter(xy, test.y.numpy()[rows], height=260, legend=p == paths[-1]),
                        key=f"compare_map_{p}")
        st.caption("Test means μ(x), coloured by label" + ("" if cfg.latent_dim == 2 else
                                                          f"; PCA of the {cfg.latent_dim}-D code"))
        st.image(mosaic([x.numpy(), reconstruct(model, x)]), width="stretch",
                 caption="inputs; the row below: their reconstructions")
        samples, _ = prior_samples(model, n, seed=seed)
        st.image(mosaic([samples]), width="stretch", caption="decoded z ~ N(0, I)" + (
            "" if model.generative else " — not generative: no prior was fitted, so nothing makes these digits"))
        st.plotly_chart(kl_bars(np.asarray(e["kl_per_dim"]), mu.var(0), ACTIVE_UNIT_THRESHOLD,
                                generative=model.generative, height=200),
                        key=f"compare_kl_{p}")

fill_iwae(table_slot, progress_slot, files, evals, iwae, split, seed)  # last: the slow figure, once per checkpoint
