"""Two st.components.v2 components that decode in the browser: the latent canvas (map + hover + draw pad) and the
z plane (one z through several decoders, for Compare). Their JS and CSS are files beside this one, read at import;
the HTML is only a notice that the CSS reveals after a few seconds and the JS removes as it starts, so a browser
where the script never runs says so instead of showing an empty box. Everything a user can name travels in `data`
and is written with textContent; paths never do.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import streamlit as st

HERE = Path(__file__).resolve().parent
MAX_ATLAS_SIDE = 8192  # px: browsers refuse bigger canvases; beyond it the thumbnails are left out


def _read(*names: str) -> str:
    return "\n".join((HERE / n).read_text(encoding="utf-8") for n in names)


def _register():
    """(latent canvas, z plane) mount functions, or None and why: the pages then draw the Plotly map."""
    try:
        css = _read("canvas.css")
        return (st.components.v2.component("vae_latent_canvas", html=_read("latent_canvas.html"), css=css,
                                           js=_read("vae_ops.js", "latent_canvas.js")),
                st.components.v2.component("vae_z_plane", html=_read("z_plane.html"), css=css,
                                           js=_read("vae_ops.js", "z_plane.js"))), None
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
