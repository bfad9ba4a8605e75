"""The map's frame, shared by both renderers: cached arrays, bounds with their padding, axis titles, tolerances.

The tolerances are stated once, in CSS px of the map (MAP_PX high on both renderers): the canvas reads them from
its payload, the Plotly map turns them into fractions of the axis span with `span_fraction`.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui.common import encode_test, load_model
from vae import explore
from vae.codes import code_stats

MAP_PX = 460  # the plot area's height in CSS px, canvas and Plotly alike
SNAP_PX = 6  # a click or hover this close to a dot picks the dot
ELLIPSE_MIN_PX = 14  # a μ ± σ ellipse with a smaller radius (MNIST: σ ≈ 0.05 on a ±4 map, ~3 px) gets an enlarged copy
MAX_POINTS = 20_000  # Scattergl and the canvas stay smooth well past this; beyond it we draw a seeded subsample
TSNE_POINTS = 2_000
PAD = 0.05  # of the codes' range on each side, so the outermost dots are not cut by the frame
MAX_SLIDERS = 16


def span_fraction(px: float) -> float:
    """A tolerance in px as a fraction of the unzoomed axis span, for the Plotly map (which reports data units)."""
    return px / MAP_PX


def sub(i: int) -> str:
    """Dimension i as a subscript, 1-based: z₁ is dimension 0."""
    return str(i + 1).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


# --- cached arrays ---------------------------------------------------------------------------------


@st.cache_data(max_entries=16, show_spinner=False)
def latent_stats(path: str, mt: float) -> dict:
    """Slider ranges, the decoding centre and KL per dimension; mt keys the cache on the file's mtime."""
    enc = encode_test(path)
    return code_stats(enc["mu"], enc["logvar"], load_model(path).model.generative)


@st.cache_data(max_entries=16, show_spinner=False)  # panel.prepare shows the one wait worth a spinner (t-SNE)
def view_data(path: str, mt: float, method: str, dims: tuple[int, int]) -> dict:
    """Map coordinates xy (M, 2) of test rows idx (M,), labels y, and the plane (None for t-SNE).
    What colours the points is not here: ui/colour.py (View.colour names it)."""
    enc = encode_test(path)
    mu, y = enc["mu"], enc["y"]
    idx = np.arange(mu.shape[0])
    if mu.shape[0] > MAX_POINTS:
        idx = np.sort(np.random.default_rng(0).choice(mu.shape[0], MAX_POINTS, replace=False))
    origin = basis = None
    if method == "tsne" and mu.shape[1] > 2:
        xy, sub_idx = explore.project(mu[idx], "tsne", max_points=TSNE_POINTS, seed=0)
        idx = idx[sub_idx]
    else:
        origin, basis = explore.latent_plane(mu, "pca" if method == "pca" else "dims", dims=dims)
        xy = explore.to_plane(mu[idx], origin, basis)
        if xy.shape[1] == 1:  # 1-D latent: spread the labels vertically so the classes are readable
            xy = np.column_stack([xy[:, 0], y[idx] + np.random.default_rng(0).uniform(-0.3, 0.3, len(idx))])
    return {"xy": xy.astype(np.float32), "idx": idx, "y": y[idx], "origin": origin, "basis": basis}


@st.cache_data(max_entries=16, show_spinner="Decoding the manifold grid…")
def grid_images(path: str, mt: float, n: int, spacing: str, dims: tuple[int, int]) -> dict:
    """The manifold grid: images (n, n, C, H, W), coordinates xs, ys (ys descending, row 0 at the top)."""
    stats = latent_stats(path, mt)
    if spacing == "cdf":
        xs = ys = explore.grid_values(n, spacing="cdf")
    else:  # linear over the range the data cover, which for AE/PCA codes is far from N(0, 1)
        xs, ys = (np.linspace(stats["lo"][d], stats["hi"][d], n) for d in dims)
    images, _ = explore.decode_grid(load_model(path).model, xs, ys, dims=dims, base=stats["centre"])
    return {"images": images, "xs": np.asarray(xs), "ys": np.sort(ys)[::-1]}


# --- geometry ------------------------------------------------------------------------------------------------


def bounds(xy: np.ndarray) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1): the codes' range padded by PAD on each side (and a little, so one point has a frame)."""
    pad = PAD * (xy.max(0) - xy.min(0)) + 1e-3
    lo, hi = xy.min(0) - pad, xy.max(0) + pad
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def axes(method: str, dims: tuple[int, int], basis: np.ndarray | None) -> tuple[str, str]:
    """Axis titles of a view: z₁ and z₂ for chosen dims, PC1/PC2, t-SNE 1/2; a 1-D latent's y is its jittered label."""
    if method == "dims":
        x, y = f"z{sub(dims[0])}", f"z{sub(dims[1])}"
    else:
        x, y = ("PC1", "PC2") if method == "pca" else ("t-SNE 1", "t-SNE 2")
    if basis is not None and basis.shape[0] == 1:
        y = "label (jittered)"
    return x, y


def equal_axes(basis: np.ndarray | None) -> bool:
    """One unit is as long on both axes on a plane of the latent space; t-SNE's axes and a label axis have no unit."""
    return basis is not None and basis.shape[0] == 2


def plane_xy(z, origin: np.ndarray, basis: np.ndarray, y_range) -> tuple[float, float]:
    """Where z lies on the view plane; on a 1-D latent's map, at the middle of the label axis."""
    xy = explore.to_plane(z, origin, basis)[0]
    return float(xy[0]), float(xy[1]) if basis.shape[0] == 2 else float(np.mean(y_range))
