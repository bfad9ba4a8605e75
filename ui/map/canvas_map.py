"""The Latent map's in-browser canvas: what it is sent (cached per checkpoint and view), what a click or a drawing
sends back, and the server-side details that follow (recon and KL in nats, neighbours, the drawing's exact terms).

The wire protocol (what `canvas_map` sends, what each trigger carries back) is written down once, at the top of
ui/components/latent_canvas.js; a change to either side starts there.

Session keys of one checkpoint (ui/map/state.py drops them when another opens; map_z, map_point, map_a, map_b are
state.py's):
  map_drawn          {'pixels': [...C*H*W], 'source': 'pad' | 'upload', 'nonce': int} of the last drawing, or absent
  map_canvas_failed  the browser's reason when the component could not start (the page then uses Plotly)
What the browser already holds is ui/payload.py's (parts_sent): the model, points, thumbnails and colouring go once.
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st
import torch

from ui import payload as P
from ui.colour import ColourBy
from ui.common import current_data, encode_test, load_model, md, mtime
from ui.images import upscale
from ui.components import latent_canvas as C
from ui.map import frame as F
from ui.map.state import K_A, K_B, K_CLASSIC, K_POINT, K_Z, View, pick_row, scoped, set_z
from vae import explore, wire
from vae.export import ExportError, export_model, weight_bytes
from vae.images import ImageError, image_to_input
from vae.metrics import per_image_terms

CANVAS_KEY, K_DRAWN, K_FAILED = scoped("map_canvas", "map_drawn", "map_canvas_failed")
K_UPLOAD, K_UPLOAD_DONE = scoped("map_upload", "map_upload_done")
NEIGHBOURS = 8
MAX_THUMBS = 20_000  # every point on the map has its thumbnail up to here (MNIST: 10,000 in a ~2 MB PNG)


@st.cache_resource(max_entries=8, show_spinner=False)
def _export(path: str, mt: float) -> tuple[dict | None, str | None, int]:
    """The model for the browser, its programs quantised (vae.wire) as parts, or None and the exporter's reason;
    float32 weight bytes (what they were before quantising)."""
    try:
        exported = export_model(load_model(path).model)
    except ExportError as e:
        return None, str(e), 0
    q = wire.quantise(exported)
    model = {k: q[k] for k in ("posterior", "latent_dim", "input_shape", "quantised")}
    return model | {"decoder": P.make_part(q["decoder"]), "encoder": P.make_part(q["encoder"])}, None, weight_bytes(exported)


def exported_parts(path: str) -> tuple[dict | None, str | None, int]:
    """(the model's programs as parts or None, why not, float32 weight bytes); cached by path and mtime."""
    return _export(str(path), mtime(path))


def export_reason(path: str) -> str | None:
    return exported_parts(path)[1]


def static_payload(path: str, mt: float, view: View) -> dict:
    """What changes only with the checkpoint or the view's plane, as parts: model, view (points, plane, bounds,
    axes) and thumbnails; and a static_key naming them together (the JS keys zoom and pan by it).

    Cached as a resource (not copied per rerun): nobody mutates it. Only the projection keys it: another colouring
    or grid setting reuses it.
    """
    return _static_payload(path, mt, View(method=view.method, dims=view.dims))


@st.cache_resource(max_entries=8, show_spinner="Preparing the canvas…")
def _static_payload(path: str, mt: float, view: View) -> dict:
    model = _export(path, mt)[0]
    ckpt = load_model(path)
    data = F.view_data(path, mt, view.method, view.dims)
    xy, idx = data["xy"], data["idx"]
    test = current_data(ckpt).test
    atlas = C.atlas_png(test.x[torch.as_tensor(idx[:MAX_THUMBS])].numpy()) if len(idx) <= MAX_THUMBS else None
    basis = data["basis"]
    d = ckpt.model.config.latent_dim
    points = P.make_part({
        "n": len(idx), "xy": np.ascontiguousarray(xy, "<f4").tobytes(),  # (N, 2) row-major
        "rows": None if np.array_equal(idx, np.arange(len(idx))) else idx.astype("<i4").tobytes(),  # None: 0..N-1
        "plane": None if basis is None else {"method": view.method, "origin": data["origin"].tolist(),
                                             "basis": basis.tolist()},
        "bounds": list(F.bounds(xy)), "equal_axes": F.equal_axes(basis),
        "axes": list(F.axes(view.method, view.dims, basis)),
        "px": {"map": F.MAP_PX, "snap": F.SNAP_PX, "ellipse_min": F.ELLIPSE_MIN_PX}})  # the frame's tolerances
    parts = {"model": model, "view": points, "atlas": P.make_part(atlas) if atlas else None}
    keys = [p.key for p in (points, parts["atlas"], model and model["decoder"], model and model["encoder"]) if p]
    return parts | {"static_key": hashlib.sha1("|".join(keys).encode()).hexdigest()[:16],  # the parts' hashes:
                    "latent_dim": d, "input_shape": list(ckpt.model.config.input_shape)}  # never a path


def colour_payload(path: str, view: View, colour: ColourBy) -> P.Part:
    """The colouring of the points this view draws, a part of its own: a new "colour by" sends only this."""
    rows = F.view_data(path, mtime(path), view.method, view.dims)["idx"]
    wide = len(colour.names) > 256
    return P.make_part({"title": colour.title, "codes": colour.for_rows(rows).astype("<u2" if wide else "u1").tobytes(),
                        "code_bytes": 2 if wide else 1, "names": list(colour.names), "palette": list(colour.palette),
                        "ordered": colour.ordered})


def default_colour(path: str, classes: tuple[str, ...]) -> ColourBy:
    """Colour by label, the map's default."""
    return ColourBy.labels(encode_test(path)["y"], classes)


def part_bytes(static: dict, colour: P.Part) -> dict[str, int]:
    """Bytes on the wire per part of what the browser receives once, for bench/ and tests."""
    model = static["model"] or {}
    named = {"decoder": model.get("decoder"), "encoder": model.get("encoder"), "view": static["view"],
             "atlas": static["atlas"], "colour": colour}
    return {k: p.nbytes for k, p in named.items() if p is not None}


def dynamic_payload(path: str, view: View) -> dict:
    """Per-rerun state: the current z, the clicked point with its μ ± σ ellipse, pins, an uploaded drawing."""
    mt = mtime(path)
    data, enc = F.view_data(path, mt, view.method, view.dims), encode_test(path)
    origin, basis = data["origin"], data["basis"]
    out: dict = {"z": [float(v) for v in st.session_state[K_Z]], "clicked": None,
                 "pins": [{"name": n, "z": list(st.session_state[k].z)} for n, k in (("A", K_A), ("B", K_B))
                          if st.session_state.get(k)],
                 "drawing": st.session_state.get(K_DRAWN)}
    row = st.session_state.get(K_POINT)
    if row is not None:
        hit = np.nonzero(data["idx"] == row)[0]
        clicked: dict = {"row": int(row), "xy": data["xy"][hit[0]].tolist() if len(hit) else None, "ellipse": None}
        if F.equal_axes(basis) and enc["logvar"] is not None:
            centre, cov = explore.project_gaussian(enc["mu"][row], enc["logvar"][row], origin, basis)
            clicked["ellipse"] = explore.ellipse(centre, cov).tolist()
        out["clicked"] = clicked
    return out


# --- what the browser sends back ------------------------------------------------------------------------------


def _event(name: str):
    value = (st.session_state.get(CANVAS_KEY) or {}).get(name)
    return value if isinstance(value, dict) else None


def on_select(path: str) -> None:
    """A click: {'row': test row} picks that image, {'z': [...]} decodes that z. Anything else is ignored."""
    ev = _event("select")
    if not ev:
        return
    mu = encode_test(path)["mu"]
    if "row" in ev:
        try:
            row = int(ev["row"])
        except (TypeError, ValueError):
            return
        if 0 <= row < mu.shape[0]:
            pick_row(path, row)
    elif "z" in ev:
        z = np.asarray(ev["z"], dtype=np.float64) if isinstance(ev["z"], list) else None
        if z is not None and z.shape == (mu.shape[1],) and np.isfinite(z).all():
            set_z(np.clip(z, -explore.Z_LIMIT, explore.Z_LIMIT))  # the bound a link is read back with


def on_drawn(path: str) -> None:
    """The pad's pixels, (C, H, W) flattened, as the encoder takes them; anything else is ignored."""
    ev = _event("drawn")
    c, h, w = load_model(path).model.config.input_shape
    px = ev.get("pixels") if ev else None
    if not isinstance(px, list) or len(px) != c * h * w or not all(isinstance(v, (int, float)) for v in px):
        return
    a = np.clip(np.nan_to_num(np.asarray(px, dtype=np.float64)), 0, 1)
    st.session_state[K_DRAWN] = {"pixels": a.round(3).tolist(), "source": "pad", "nonce": int(ev.get("nonce") or 0)}


def on_failed() -> None:
    ev = _event("failed")
    st.session_state[K_FAILED] = str((ev or {}).get("message", "unknown error"))[:300]


def upload_ui(path: str, shape: tuple[int, int, int]) -> None:
    """PNG/JPEG -> the dataset's size and channels, on the server; then the same as a drawing."""
    f = st.file_uploader("…or upload a PNG/JPEG", type=["png", "jpg", "jpeg"], key=K_UPLOAD,
                         help="Scaled to the dataset's size; a dark-on-light image is inverted to match the data.")
    if f is None or st.session_state.get(K_UPLOAD_DONE) == f.file_id:
        return
    nonce = int((st.session_state.get(K_DRAWN) or {}).get("nonce", 0)) + 1_000_000
    try:
        drawing = drawing_from_upload(f.getvalue(), shape, nonce)
    except ImageError as e:
        st.error(md(f"{f.name}: {e}"))  # the uploaded file's name is user-derived
        return
    st.session_state[K_UPLOAD_DONE] = f.file_id
    st.session_state[K_DRAWN] = drawing


def drawing_from_upload(data: bytes, shape: tuple[int, int, int], nonce: int) -> dict:
    """An uploaded file as a drawing: (C, H, W) pixels of the dataset's size and channels (colour kept)."""
    x = image_to_input(data, shape)  # (C, H, W), or ImageError
    return {"pixels": x.ravel().round(3).tolist(), "source": "upload", "nonce": int(nonce)}


def drawn_ui(path: str, ckpt) -> None:
    """The drawing's (or upload's) exact recon and KL in nats, computed here by the real model."""
    drawn = st.session_state.get(K_DRAWN)
    model = ckpt.model
    c, h, w = model.config.input_shape
    if not drawn or len(drawn["pixels"]) != c * h * w:
        return
    x = torch.tensor(drawn["pixels"], dtype=torch.float32).reshape(1, c, h, w)
    terms = per_image_terms(model, x, seed=0)
    # one st.image with two pictures: they wrap in the narrow column beside the canvas instead of overlapping
    st.image([upscale(x[0].numpy(), 96), upscale(explore.reconstruct(model, x)[0], 96)], output_format="PNG",
             caption=["your " + ("upload" if drawn["source"] == "upload" else "drawing"), "x̂: decoded from its μ"],
             width=96)
    kl = f" · KL **{terms['kl'][0]:.2f}** nats" if model.generative else ""
    st.markdown(f"Drawing: recon **{terms['recon'][0]:.2f}** nats{kl}")


def nearest_rows(mu: np.ndarray, row: int, k: int) -> np.ndarray:
    """The k rows of mu (N, D) nearest to mu[row] in Euclidean distance over all D dims, nearest first, not itself."""
    dist = np.linalg.norm(mu - mu[row], axis=1)  # (N,)
    dist[row] = np.inf
    return np.argsort(dist, kind="stable")[: min(k, len(mu) - 1)]


def neighbours_ui(path: str, ckpt, row: int) -> None:
    """The clicked image's nearest test images in latent space (Euclidean on μ, all D dims), as a strip."""
    mu = encode_test(path)["mu"]
    near = nearest_rows(mu, row, NEIGHBOURS)
    x = current_data(ckpt).test.x[torch.as_tensor(near)].numpy()
    st.image([upscale(img, 48) for img in x], caption=[f"#{int(i)}" for i in near], width=48)
    st.caption(f"Nearest {NEIGHBOURS} test images to #{row} in the {mu.shape[1]}-D latent space (distance on μ).")


def canvas_reason(path: str) -> str | None:
    """None when the map can be the in-browser canvas, else why the Plotly map is shown."""
    if st.session_state.get(K_CLASSIC):
        return "chosen"
    if C.available():
        return C.available()
    if export_reason(path):
        return f"this model cannot run in the browser: {export_reason(path)}"
    if st.session_state.get(K_FAILED):
        return f"the canvas failed in this browser ({st.session_state[K_FAILED]})"
    return None


def on_need_static() -> None:
    """The browser lacks parts we thought it held (a lost message): send them in full on this rerun."""
    ev = _event("need_static")
    P.forget(ev.get("keys") if ev else None)


def canvas_data(path: str, view: View, classes: tuple[str, ...], colour: ColourBy | None = None) -> dict:
    """What the canvas is sent on this rerun (the PROTOCOL block of latent_canvas.js), its parts not yet packed."""
    static = static_payload(path, mtime(path), view)
    colours = colour_payload(path, view, colour or default_colour(path, classes))
    model = static["model"] and {"posterior": static["model"]["posterior"], "decoder": static["model"]["decoder"],
                                 "encoder": P.Lazy(static["model"]["encoder"])}  # the pad asks for it when used
    return {"static_key": static["static_key"], "latent_dim": static["latent_dim"],
            "input_shape": static["input_shape"], "model": model, "view": static["view"], "atlas": static["atlas"],
            "colour_key": colours.key, "colour": colours, **dynamic_payload(path, view)}


def canvas_map(path: str, view: View, classes: tuple[str, ...], colour: ColourBy | None = None) -> None:
    """Mount the canvas, coloured by `colour` (default: the label). Decoder, points, thumbnails and colouring go
    once per session (ui/payload.py; megabytes for MNIST), the encoder once the draw pad is first used; reruns and
    remounts send their keys and the small per-rerun part only."""
    C.latent_canvas(P.payload(canvas_data(path, view, classes, colour)), key=CANVAS_KEY,
                    on_select=lambda: on_select(path), on_drawn=lambda: on_drawn(path), on_failed=on_failed,
                    on_need_static=on_need_static)
