"""Two st.components.v2 components that decode in the browser: the latent canvas (map + hover + draw pad) and the
z plane (one z through several decoders, for Compare). Their JS and CSS are files beside this one, read at import;
the HTML is only a notice that the CSS reveals after a few seconds and the JS removes as it starts, so a browser
where the script never runs says so instead of showing an empty box. Everything a user can name travels in `data`
and is written with textContent; paths never do.
"""

from __future__ import annotations

import io

import numpy as np
import streamlit as st

from ui.components import read

MAX_ATLAS_SIDE = 8192  # px: browsers refuse bigger canvases; beyond it the thumbnails are left out


def _register():
    """(latent canvas, z plane) mount functions, or None and why: the pages then draw the Plotly map."""
    try:
        css = read("canvas.css")
        return (st.components.v2.component("vae_latent_canvas", html=read("latent_canvas.html"), css=css,
                                           js=read("vae_ops.js", "dom.js", "map_geometry.js", "map_paint.js",
                                                    "latent_canvas.js")),
                st.components.v2.component("vae_z_plane", html=read("z_plane.html"), css=css,
                                           js=read("vae_ops.js", "dom.js", "map_geometry.js", "map_paint.js",
                                                    "z_plane.js"))), None
    except Exception as e:  # an older Streamlit without components.v2, or the files are missing
        return None, f"the in-browser canvas is unavailable ({type(e).__name__}: {e})"


_COMPONENTS, UNAVAILABLE = _register()


def available() -> str | None:
    """None when the components are registered, else the reason they are not."""
    return UNAVAILABLE


def latent_canvas(data: dict | bytes, *, key: str, on_select, on_drawn, on_failed, on_need_static):
    return _COMPONENTS[0](data=data, key=key, on_select_change=on_select, on_drawn_change=on_drawn,
                          on_failed_change=on_failed, on_need_static_change=on_need_static)


def z_plane(data: dict | bytes, *, key: str, on_failed, on_need_static):
    return _COMPONENTS[1](data=data, key=key, on_failed_change=on_failed, on_need_static_change=on_need_static)


# --- packing helpers -------------------------------------------------------------------------------------------


THUMB_LEVELS = 16  # grey levels per channel of the thumbnails: at most 1/30 off, unseen in a 168 px hover preview
#                    (a click shows the exact image); 10,000 MNIST thumbnails: 1.0 MB instead of 1.7 MB lossless
ATLAS_BUDGET = 700_000  # bytes: an atlas over this is made again with 4 grey levels (then 2), which fits 10,000
#                         MNIST thumbnails into 0.6 MB, so a 784-400-2 MLP's first mount stays under 1.5 MB
FEWER_LEVELS = (4, 2)  # 8 levels would need the same 4-bit palette as 16 and save nothing


def atlas_png(images: np.ndarray, levels: int = THUMB_LEVELS, budget: int = ATLAS_BUDGET) -> dict | None:
    """atlas_png_at `levels`, or at the first of FEWER_LEVELS whose PNG fits `budget` bytes (else the last one)."""
    atlas = atlas_png_at(images, levels)
    for fewer in FEWER_LEVELS:
        if atlas is None or len(atlas["png"]) <= budget or fewer >= levels:
            break
        atlas = atlas_png_at(images, fewer)
    return atlas


def atlas_png_at(images: np.ndarray, levels: int = THUMB_LEVELS) -> dict | None:
    """Thumbnails (N, C, H, W) in [0, 1] as one PNG mosaic, row-major with `cols` per row, each channel rounded to
    `levels` evenly spaced values (256: lossless uint8); None if too big. {'png': bytes, 'cols', 'rows', 'levels'}.
    Grey with at most 16 levels is a 4-bit palette PNG: half the pixels' bytes before deflate even starts."""
    from PIL import Image

    if not 2 <= levels <= 256:
        raise ValueError(f"levels must be 2..256, not {levels}")
    n, c, h, w = images.shape
    cols = max(1, int(np.ceil(np.sqrt(n * h / w))))
    rows = -(-n // cols)
    if cols * w > MAX_ATLAS_SIDE or rows * h > MAX_ATLAS_SIDE:
        return None
    code = np.rint(np.clip(images, 0, 1) * (levels - 1)).astype(np.uint8)  # 0 .. levels-1
    code = code[:, :1] if c < 3 else code[:, :3]
    grid = np.zeros((rows * cols, code.shape[1], h, w), np.uint8)
    grid[:n] = code
    mosaic = grid.reshape(rows, cols, code.shape[1], h, w).transpose(0, 3, 1, 4, 2).reshape(rows * h, cols * w, -1)
    value = np.rint(np.arange(levels) * (255 / (levels - 1))).astype(np.uint8)  # code -> 0..255
    buf = io.BytesIO()
    if mosaic.shape[2] == 1 and levels <= 16:
        img = Image.fromarray(mosaic[..., 0], "P")
        img.putpalette(np.repeat(value, 3).tolist())
        img.save(buf, format="PNG", bits=1 if levels <= 2 else 2 if levels <= 4 else 4)
    else:
        px = value[mosaic]
        Image.fromarray(px[..., 0] if px.shape[2] == 1 else px).save(buf, format="PNG")
    return {"png": buf.getvalue(), "cols": cols, "rows": rows, "levels": levels}
