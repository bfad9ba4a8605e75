"""Two st.components.v2 components that decode in the browser: the latent canvas (map + hover + draw pad) and the
z plane (one z through several decoders, for Compare). Their JS and CSS are files beside this one, read at import;
the HTML is empty (the JS builds its nodes). Everything a user can name travels in `data` and is written with
textContent; paths never do.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import streamlit as st

HERE = Path(__file__).resolve().parent
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
UNLABELED = "#9e9e9e"
MAX_ATLAS_SIDE = 8192  # px: browsers refuse bigger canvases; beyond it the thumbnails are left out


def _read(*names: str) -> str:
    return "\n".join((HERE / n).read_text(encoding="utf-8") for n in names)


def _register():
    """(latent canvas, z plane) mount functions, or None and why: the pages then draw the Plotly map."""
    try:
        css = _read("canvas.css")
        return (st.components.v2.component("vae_latent_canvas", css=css, js=_read("vae_ops.js", "latent_canvas.js")),
                st.components.v2.component("vae_z_plane", css=css, js=_read("vae_ops.js", "z_plane.js"))), None
    except Exception as e:  # an older Streamlit without components.v2, or the files are missing
        return None, f"the in-browser canvas is unavailable ({type(e).__name__}: {e})"


_COMPONENTS, UNAVAILABLE = _register()


def available() -> str | None:
    """None when the components are registered, else the reason they are not."""
    return UNAVAILABLE


def latent_canvas(data: dict, *, key: str, on_select, on_drawn, on_failed, on_need_static):
    return _COMPONENTS[0](data=data, key=key, on_select_change=on_select, on_drawn_change=on_drawn,
                          on_failed_change=on_failed, on_need_static_change=on_need_static)


def z_plane(data: dict, *, key: str, on_failed):
    return _COMPONENTS[1](data=data, key=key, on_failed_change=on_failed)


# --- packing helpers -------------------------------------------------------------------------------------------


def b64_f32(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def colour_input(codes: np.ndarray, names: list[str], palette: list[str] | None = None) -> dict:
    """A generic colouring: an integer code per point (0..len(names)-1), each code's name and colour.

    Labels are one use; any discrete factor of a dataset plugs in the same way.
    """
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size and (codes.min() < 0 or codes.max() >= len(names)):
        raise ValueError("colour codes must index the list of names")
    pal = list(palette or [PALETTE[i % len(PALETTE)] for i in range(len(names))])
    return {"codes": codes.tolist(), "names": [str(n) for n in names], "palette": pal}


def label_colours(y: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Colour by class label; -1 (unlabeled) gets its own grey code."""
    y = np.asarray(y, dtype=np.int64)
    labels = sorted(set(y.tolist()))
    index = {lab: i for i, lab in enumerate(labels)}
    names = [("unlabeled" if lab < 0 else classes[lab] if lab < len(classes) else str(lab)) for lab in labels]
    palette = [UNLABELED if lab < 0 else PALETTE[lab % len(PALETTE)] for lab in labels]
    return colour_input(np.array([index[v] for v in y.tolist()]), names, palette)


def atlas_png(images: np.ndarray) -> dict | None:
    """Thumbnails (N, C, H, W) in [0, 1] as one uint8 PNG mosaic, row-major with `cols` per row; None if too big."""
    from PIL import Image

    n, c, h, w = images.shape
    cols = max(1, int(np.ceil(np.sqrt(n * h / w))))
    rows = -(-n // cols)
    if cols * w > MAX_ATLAS_SIDE or rows * h > MAX_ATLAS_SIDE:
        return None
    a = (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8)
    a = a[:, :1] if c < 3 else a[:, :3]
    grid = np.zeros((rows * cols, a.shape[1], h, w), np.uint8)
    grid[:n] = a
    mosaic = grid.reshape(rows, cols, a.shape[1], h, w).transpose(0, 3, 1, 4, 2).reshape(rows * h, cols * w, a.shape[1])
    buf = io.BytesIO()
    Image.fromarray(mosaic[..., 0] if a.shape[1] == 1 else mosaic).save(buf, format="PNG", optimize=False)
    return {"png": base64.b64encode(buf.getvalue()).decode("ascii"), "cols": cols, "rows": rows}
