"""Showing images: upscaled without smoothing (8×8 digits stay crisp) and sent as PNG, never st.image's JPEG."""

from __future__ import annotations

import io

import numpy as np
import streamlit as st
from PIL import Image


def to_uint8(img: np.ndarray) -> np.ndarray:
    """(C, H, W) or (H, W) float in [0, 1] -> (H, W) or (H, W, 3) uint8 for display."""
    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 3:
        a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)[..., :3]
    return (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)


def upscale(img: np.ndarray, size: int = 112) -> np.ndarray:
    """Nearest-neighbour upscale to about `size` pixels so 8×8 digits stay crisp instead of blurred."""
    a = to_uint8(img)
    k = max(1, size // max(a.shape[:2]))
    return np.repeat(np.repeat(a, k, axis=0), k, axis=1)


def png_bytes(img: np.ndarray, size: int | None = None) -> bytes:
    a = upscale(img, size) if size else to_uint8(img)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def show_images(images, captions=None, *, size: int = 96, columns: int | None = None) -> None:
    """A row (or wrapped rows) of crisp images with optional captions."""
    images = list(images)
    if not images:
        return
    columns = columns or len(images)
    for start in range(0, len(images), columns):
        cols = st.columns(columns)
        for j, img in enumerate(images[start : start + columns]):
            cap = captions[start + j] if captions else None
            cols[j].image(display_png(np.asarray(img, dtype=np.float32), size) if size else to_uint8(img), caption=cap,
                          width=size if size else "content")


@st.cache_data(max_entries=256, show_spinner=False)
def display_png(img: np.ndarray, size: int) -> bytes:
    """PNG bytes of an image upscaled for display, cached by content: a rerun re-sends, but does not re-encode."""
    return png_bytes(img, size)


def crisp(img: np.ndarray, size: int, where=st, **kw) -> None:
    """Nearest-neighbour upscaled and sent as PNG: st.image's default JPEG smears the pixel edges."""
    where.image(display_png(np.asarray(img, dtype=np.float32), size), **kw)
