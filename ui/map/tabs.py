"""The tabs below the Latent map: traversals, interpolation, prior samples, export, GIFs (their widgets' keys too)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import streamlit as st

from ui.common import encode_test, load_model, mtime
from ui.images import png_bytes
from ui.map.frame import MAX_SLIDERS, grid_images, latent_stats, sub
from ui.map.state import K_TAB, K_TAB_KEPT, PERSIST, TABS, View, scoped, scoped_key
from vae import explore
from vae import gif as G
from vae.codes import sweep_values
from vae.config import ConfigError


K_TRAV_STEPS, K_TRAV_FROM, K_INTERP_METHOD, K_INTERP_N, K_PRIOR_SEED = scoped(
    "map_trav_steps", "map_trav_from", "map_interp_method", "map_interp_n", "map_prior_seed")
K_DL_PNG, K_DL_CSV = scoped("map_dl_png", "map_dl_csv")
K_GIF_GRID, K_GIF_TRAV, K_GIF_INTERP, K_GIF_REPLAY = scoped("map_gif_grid", "map_gif_trav", "map_gif_interp",
                                                            "map_gif_replay")


def open_tabs() -> list:
    """The tabs below the map. Only the open tab's body runs (`tab.open`): a tab click is a rerun of about 0.1 s,
    and a page switch no longer draws seven tabs' images, GIF buttons and charts. The choice survives a page
    switch (which drops widget keys) through K_TAB_KEPT, and goes into the link (`tab=`)."""
    ss = st.session_state
    if K_TAB not in ss and ss.get(K_TAB_KEPT) in TABS.values():
        ss[K_TAB] = ss[K_TAB_KEPT]
    tabs = st.tabs(list(TABS.values()), key=K_TAB, on_change="rerun")
    ss[K_TAB_KEPT] = ss[K_TAB]
    return tabs


@st.cache_data(max_entries=16, show_spinner=False)
def traversal_rows(path: str, mt: float, base: tuple[float, ...], steps: int) -> list[tuple[str, np.ndarray]]:
    """One mosaic row per dim, most informative first: (label with KL in nats, image (C, H, steps*W))."""
    stats, model = latent_stats(path, mt), load_model(path).model
    rows = []
    for i in stats["order"][:MAX_SLIDERS]:
        imgs = explore.traversal(model, base, int(i), sweep_values(stats, int(i), steps, model.generative))  # (steps, C, H, W)
        label = (f"z{sub(i)} · KL {stats['kl'][i]:.2f} nats" if model.generative
                 else f"z{sub(i)} · Var(μ) {stats['var'][i]:.2f}")
        rows.append((label, explore.tile(imgs[None])))
    return rows


def strip(path: str, a, b, n: int, method: str) -> np.ndarray:
    z = explore.interpolate(a, b, n, method)  # (n, D)
    return explore.tile(explore.decode(load_model(path).model, z)[None])


@st.cache_data(max_entries=16, show_spinner=False)
def prior_grid(path: str, mt: float, seed: int, rows: int, cols: int) -> np.ndarray:
    imgs, _ = explore.prior_samples(load_model(path).model, rows * cols, seed=seed)
    return explore.tile(imgs.reshape(rows, cols, *imgs.shape[1:]))


def grid_png(path: str, view: View) -> bytes:
    grid = grid_images(path, mtime(path), view.grid_n, view.spacing, view.dims)
    mosaic = explore.tile(grid["images"])
    return png_bytes(mosaic, max(mosaic.shape[1:]) * max(1, 256 // grid["images"].shape[-1]))


def latents_csv(path: str) -> bytes:
    """index, label, mu_1..mu_D, logvar_1..logvar_D (no logvar columns for point codes)."""
    enc = encode_test(path)
    mu, logvar, y = enc["mu"], enc["logvar"], enc["y"]
    d = mu.shape[1]
    cols = [np.arange(len(y)), y, mu] + ([logvar] if logvar is not None else [])
    head = ["index", "label"] + [f"mu_{i + 1}" for i in range(d)]
    head += [f"logvar_{i + 1}" for i in range(d)] if logvar is not None else []
    table = np.column_stack([np.asarray(c, dtype=np.float64).reshape(len(y), -1) for c in cols])
    lines = [",".join(head)] + [",".join([str(int(r[0])), str(int(r[1]))] + [f"{v:.6g}" for v in r[2:]]) for r in table]
    return ("\n".join(lines) + "\n").encode()


# --- GIF export (vae/gif.py): built when the button is pressed, not on every rerun ---------------------------

GIF_FRAMES = (10, 20, 30, 60)


def traversal_gif(path: str, base: tuple[float, ...], frames: int) -> bytes:
    stats, model = latent_stats(path, mtime(path)), load_model(path).model
    z, cols = G.traversal(model, stats, base, [int(i) for i in stats["order"][: min(8, MAX_SLIDERS)]], frames)
    return G.make_gif(model, z, cols)


def interpolation_gif(path: str, a, b, method: str, frames: int) -> bytes:
    model = load_model(path).model
    return G.make_gif(model, *G.interpolation(model, a, b, frames, method))


def grid_gif(path: str, dims: tuple[int, int], spacing: str, frames: int) -> bytes:
    stats, model = latent_stats(path, mtime(path)), load_model(path).model
    sweep = next(int(i) for i in stats["order"] if int(i) not in dims)  # the most used dim not on the grid
    z, cols = G.grid_sweep(model, stats, dims, sweep, frames, n=10, spacing=spacing)
    return G.make_gif(model, z, cols)


def replay_of(path: str):
    """The checkpoint's training replay (vae/replay.py), or None (older runs, or a damaged one: nothing to offer)."""
    from vae.replay import ReplayError, read

    try:
        rep = read(load_model(path).replay, len(encode_test(path)["y"]))
    except ReplayError:
        return None
    return rep if rep is not None and len(rep.epochs) >= 2 else None


def replay_gif(path: str, frames: int) -> bytes:
    return G.replay_gif(replay_of(path), encode_test(path)["y"], frames)


def gif_export(path: str, kind: str, make, *args, key: str, note: str = "") -> None:
    """A frames choice and a download button for one GIF; `make(path, *args, frames)` builds its bytes."""
    c1, c2, c3 = st.columns([1, 1, 2], vertical_alignment="bottom")
    frames = c1.select_slider("GIF frames", GIF_FRAMES, value=30, key=scoped_key(f"{key}_frames"),
                                persist_state=PERSIST)
    try:
        G.check_frames(frames)
    except ConfigError as e:  # the operator set VAE_MAX_GIF_FRAMES below this choice
        c2.caption(e.message)
        return
    c2.download_button("Export GIF", partial(make, path, *args, frames), file_name=f"{Path(path).stem}-{kind}.gif",
                       mime="image/gif", on_click="ignore", key=key, icon=":material/download:")
    c3.caption(f"An endlessly looping GIF, 10 frames a second{note}.")
