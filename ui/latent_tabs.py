"""Latent map helpers for the tabs below the map: traversals, interpolation, prior samples, export."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui.common import encode_test, load_model, mtime, png_bytes
from ui.latent import MAX_SLIDERS, View, grid_images, latent_stats, sub
from vae import explore


@st.cache_data(max_entries=16, show_spinner=False)
def traversal_rows(path: str, mt: float, base: tuple[float, ...], steps: int) -> list[tuple[str, np.ndarray]]:
    """One mosaic row per dim, most informative first: (label with KL in nats, image (C, H, steps*W))."""
    stats, model = latent_stats(path, mt), load_model(path).model
    rows = []
    for i in stats["order"][:MAX_SLIDERS]:
        values = np.linspace(-3, 3, steps) if model.generative else np.linspace(stats["lo"][i], stats["hi"][i], steps)
        imgs = explore.traversal(model, base, int(i), values)  # (steps, C, H, W)
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
