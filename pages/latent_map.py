"""Latent map: the test set's posterior means; click a point or move z to see what the decoder makes of it."""

from functools import partial

import streamlit as st

from ui.common import current_checkpoint, encode_test, md
from ui.images import crisp
from ui.map import frame as F
from ui.map import panel
from ui.map import tabs as T
from ui.map.state import pins
from ui.attributes import attributes_tab
from ui.notes import teaching_notes
from ui.replay import map_tab
from vae.analysis import collapse_verdict
from vae.explore import tile
from vae.metrics import active_units

st.title("Latent map")
ref, ckpt = current_checkpoint()
path, model = str(ref.path), ckpt.model
d, kind = model.config.latent_dim, model.config.kind.upper()
classes = tuple(ckpt.data.get("classes") or ())
caption = st.empty()  # filled once the view (and what colours the dots) is known

teaching_notes("latent_map", ckpt)
stats = F.latent_stats(path, ref.mtime)
verdict = collapse_verdict(stats["kl"], active_units(encode_test(path)["mu"])[0], model.generative)
if verdict and verdict[0] == "error":  # full collapse only; a few idle dims are normal
    st.warning(f"The posterior has collapsed (KL {stats['kl'].sum():.3g} nats): every code sits at the prior's centre, "
               "so the map is zoomed into noise and every z decodes to the same average image. "
               "See **Reconstruction & KL**.", icon="⚠️")

top = st.container()  # the map goes above the tabs, though the grid settings in a tab are read first
t_grid, t_trav, t_interp, t_prior, t_attr, t_replay, t_export = T.open_tabs()  # only the open one runs
with top:
    view = panel.view_ui(path, model, t_grid)
    caption.caption(f"{md(ref.path.stem)}: {kind}, {d}-D latent. Each dot is one test image at its posterior mean μ, "
                    f"coloured by {md(view.colour)}. Click a dot, click empty space, or move the sliders to decode a z.")
    panel.prepare(path, view)
    panel.map_panel(path, view, classes)

with t_grid:
    if t_grid.open:
        if d < 2:
            st.info("A manifold grid needs at least two latent dims.")
        else:
            grid = F.grid_images(path, ref.mtime, view.grid_n, view.spacing, view.dims)
            crisp(tile(grid["images"]), 480,
                  caption=f"Decoded grid over z{F.sub(view.dims[0])} (→) and z{F.sub(view.dims[1])} (↑), "
                    + ("at quantiles of N(0, 1) as in Kingma & Welling's Fig. 4" if view.spacing == "cdf"
                       else "evenly over the range the test codes cover") + ("; other dims at the centre." if d > 2 else "."))
            if d > 2:
                T.gif_export(path, "grid-sweep", T.grid_gif, view.dims, view.spacing, key=T.K_GIF_GRID,
                             note=": the grid while the most used other dim sweeps")

with t_trav:
    if t_trav.open:
        c1, c2 = st.columns([1, 2])
        steps = c1.select_slider("Steps", [5, 7, 9, 11, 13], value=9, key=T.K_TRAV_STEPS, persist_state=T.PERSIST)
        start = c2.radio("Start from", ["centre", "A"], horizontal=True, key=T.K_TRAV_FROM, persist_state=T.PERSIST,
                         format_func={"centre": "the centre (prior mean / mean code)", "A": "pin A"}.get)
        a, b = pins(path)
        base = a.z if start == "A" else tuple(stats["centre"].tolist())
        st.caption("Each row sweeps one dim " + ("from −3 to 3" if model.generative else "across the codes' range")
                   + ", the others held at the start; rows sorted by how much the dim is used.")
        for label, row in T.traversal_rows(path, ref.mtime, base, steps):
            left, right = st.columns([1, 4], vertical_alignment="center")
            left.markdown(f"**{label}**")
            crisp(row, 64 * steps, right)
        T.gif_export(path, "traversal", T.traversal_gif, base, key=T.K_GIF_TRAV, note=": the 8 most used dims at once")

with t_interp:
    if t_interp.open:
        a, b = pins(path)
        c1, c2 = st.columns([1, 2])
        method = c1.radio("Path", ["linear", "slerp"], horizontal=True, key=T.K_INTERP_METHOD, persist_state=T.PERSIST,
                          help="slerp follows a great circle, keeping the norm typical of z ~ N(0, I).")
        n = c2.select_slider("Steps", [5, 8, 10, 12, 16], value=10, key=T.K_INTERP_N, persist_state=T.PERSIST)
        crisp(T.strip(path, a.z, b.z, n, method), 64 * n,
              caption=f"A = {a.label} → B = {b.label}. Pick ends with “Set z as A” and “Set z as B” beside the map.")
        T.gif_export(path, f"{method}-interpolation", T.interpolation_gif, a.z, b.z, method, key=T.K_GIF_INTERP)

with t_prior:
    if t_prior.open:
        c1, _ = st.columns([1, 3])
        seed = int(c1.number_input("Seed", 0, 10_000, 0, key=T.K_PRIOR_SEED, persist_state=T.PERSIST))
        if not model.generative:
            st.warning(f"{kind} is not a generative model: nothing made its codes follow N(0, I), so these "
                       "decodes of z ~ N(0, I) show the decoder off its data, not samples of digits.")
        crisp(T.prior_grid(path, ref.mtime, seed, 4, 8), 640,
              caption=f"32 decodes of z ~ N(0, I), seed {seed}.")

with t_attr:
    if t_attr.open:
        attributes_tab(path, classes)

with t_replay:
    if t_replay.open:
        map_tab(path, view)

with t_export:
    if t_export.open:
        c1, c2 = st.columns(2)
        if d >= 2:
            c1.download_button("Manifold grid (PNG)", partial(T.grid_png, path, view), file_name=f"{ref.path.stem}-grid.png",
                               mime="image/png", on_click="ignore", key=T.K_DL_PNG)
        c2.download_button("Latents (CSV)", partial(T.latents_csv, path), file_name=f"{ref.path.stem}-latents.csv",
                           mime="text/csv", on_click="ignore", key=T.K_DL_CSV)
        st.caption("CSV columns: index (test row), label, mu_1..mu_D" + (", logvar_1..logvar_D." if model.generative else "."))
        if T.replay_of(path) is not None:
            T.gif_export(path, "replay", T.replay_gif, key=T.K_GIF_REPLAY,
                         note=": this run's training replay, the test subset's μ after each epoch")

