"""What the latent canvas is sent and what it sends back (no browser): payload contents, callbacks fed hostile
values, the upload conversion, and the page's canvas path and fallback in AppTest."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _payload(path, method="dims", dims=(0, 1)):
    from ui.map.canvas_map import static_payload
    from ui.common import mtime
    from ui.map.state import View

    return static_payload(str(path), mtime(path), View(method=method, dims=dims))


def _content(part):
    return part.content if part is not None else None


def test_static_payload_holds_points_thumbnails_and_model_but_no_path(tiny_ckpts):
    from PIL import Image

    from ui.map.canvas_map import colour_payload, default_colour
    from ui.common import encode_test, load_model, load_split
    from ui.map.state import View
    from vae import wire

    path = tiny_ckpts["vae"]
    p = _payload(path)
    parts = [p["view"], p["atlas"], p["model"]["decoder"], p["model"]["encoder"]]
    raw = b"".join(wire.pack(q.content) for q in parts) + json.dumps(p["static_key"]).encode()
    assert str(path).encode() not in raw and str(Path(path).parent).encode() not in raw  # hashes stand in for it
    view = p["view"].content
    xy = np.frombuffer(view["xy"], "<f4").reshape(-1, 2)
    mu = encode_test(path)["mu"]
    assert view["rows"] is None  # every test row, in order: 0..N-1 goes as nothing
    rows = np.arange(view["n"])
    assert len(rows) == 359 and np.allclose(xy, mu[rows], atol=1e-6)  # 2-D: the map is μ itself
    colour = colour_payload(str(path), View(), default_colour(str(path), ()))
    codes = np.frombuffer(colour.content["codes"], "u1")
    y = encode_test(path)["y"][rows]
    assert [colour.content["names"][c] for c in codes] == [str(v) for v in y]  # aligned with the points
    assert colour.content["title"] == "label" and colour.key not in {q.key for q in parts}
    png = p["atlas"].content["png"]
    assert png[24] == 4 and Image.open(io.BytesIO(png)).mode == "P"  # IHDR bit depth: a 4-bit palette PNG
    atlas = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    x = load_split(load_model(path)).test.x.numpy()
    cols = p["atlas"].content["cols"]
    for k in (0, 17, 358):
        r, c = divmod(k, cols)
        thumb = atlas[r * 8 : (r + 1) * 8, c * 8 : (c + 1) * 8]
        assert np.array_equal(thumb, np.rint(x[rows[k], 0] * 15) * 17)  # 16 levels: the nearest of 0, 17, .., 255
    assert p["model"]["posterior"] == "gaussian" and view["plane"]["method"] == "dims"
    assert {d: q["dtypes"] for d, q in p["model"]["quantised"].items()}["decoder"].keys() <= {"f16", "i8"}


def test_pca_view_of_an_8d_model_sends_its_plane_and_tsne_sends_none(tiny_ckpts):
    from vae.explore import latent_plane

    from ui.common import encode_test

    path = tiny_ckpts["vae8"]
    plane = _payload(path, "pca")["view"].content["plane"]
    origin, basis = latent_plane(encode_test(path)["mu"], "pca")
    assert np.allclose(plane["origin"], origin) and np.allclose(plane["basis"], basis)
    tsne = _payload(path, "tsne")
    assert tsne["view"].content["plane"] is None
    # the thumbnails depend on the rows drawn only (t-SNE keeps all 359 here): one atlas for every projection
    assert len({_payload(path, m, dims)["atlas"].key for m, dims in (("pca", (0, 1)), ("dims", (2, 5)), ("tsne", (0, 1)))}) == 1
    assert _payload(path, "dims", (2, 5))["view"].key != _payload(path, "pca")["view"].key


def _canvas_data(at) -> tuple[dict, int, bool]:
    """What the canvas component was sent on the last run: (the payload, its bytes, whether binary)."""
    from vae import wire

    protos = [e.proto for e in at.get("bidi_component") if e.proto.component_name == "vae_latent_canvas"]
    assert len(protos) == 1
    p = protos[0]
    if p.WhichOneof("data") == "bytes":
        return wire.unpack(p.bytes), len(p.bytes), True
    return json.loads(p.json), len(p.json), False


def _refs(v, kind="$part") -> set[str]:
    if isinstance(v, dict):
        return {v[kind]} if kind in v else set().union(*[_refs(x, kind) for k, x in v.items() if k != "$parts"])
    return set().union(*[_refs(x, kind) for x in v]) if isinstance(v, list) else set()


def _blob_bytes(v) -> int:
    if isinstance(v, bytes):
        return len(v)
    return sum(map(_blob_bytes, v.values() if isinstance(v, dict) else v)) if isinstance(v, (dict, list)) else 0


def test_heavy_parts_go_once_per_session_then_keys_only(tiny_ckpts, runs_dir):
    """First mount: every part but the encoder, binary, nothing base64; a rerun, a page switch and back, another
    checkpoint and back: keys only, except the other checkpoint's own parts (its test split's thumbnails are already
    there). The encoder goes once the pad asks for it, then stays."""
    from conftest import as_run
    from ui.payload import K_SENT, K_WANTED

    at = _page(tiny_ckpts["vae"])
    first, n_first, binary = _canvas_data(at)
    parts = first["$parts"]
    assert binary and set(parts) == _refs(first) and len(parts) == 4  # decoder, view, atlas, colour
    (encoder,) = _refs(first, "$lazy")
    assert first["model"]["encoder"] == {"$lazy": encoder} and encoder not in parts  # only when the pad is used
    blobs = _blob_bytes(parts)
    assert blobs > 10_000 and n_first <= blobs + 4_000  # the arrays as they are (no base64), a small JSON header
    assert set(at.session_state[K_SENT]) == set(parts)
    at.run()
    again, n, binary = _canvas_data(at)
    assert not binary and "$parts" not in again and _refs(again) == set(parts) and n < 2_000
    at.switch_page("pages/recon_kl.py").run()
    at.switch_page("pages/latent_map.py").run()
    back, n, binary = _canvas_data(at)
    assert not at.exception and not binary and _refs(back) == set(parts) and n < 2_000  # the remount: keys only
    at.session_state["ckpt_id"] = as_run(tiny_ckpts["ae"])
    at.run()
    other, _, binary = _canvas_data(at)
    atlas = first["atlas"]["$part"]
    assert binary and atlas in _refs(other) and atlas not in other["$parts"]  # the same test images: not again
    assert len(other["$parts"]) == 2  # the AE's decoder and view (its colouring is the same labels)
    at.session_state["ckpt_id"] = as_run(tiny_ckpts["vae"])
    at.run()
    home, n, binary = _canvas_data(at)
    assert not binary and _refs(home) == set(parts) and n < 2_000  # held since the first mount: nothing heavy
    at.session_state[K_WANTED] = [encoder]  # what the pad's ask leaves (on_need_static: the test below)
    at.run()
    drawn, _, binary = _canvas_data(at)
    assert binary and list(drawn["$parts"]) == [encoder] and drawn["model"]["encoder"] == {"$part": encoder}
    at.run()
    later, _, binary = _canvas_data(at)
    assert not binary and _refs(later) == set(parts) | {encoder}  # then by key, like the rest


def test_a_part_the_browser_lost_goes_again(tiny_ckpts, runs_dir):
    from streamlit.testing.v1 import AppTest

    from ui.payload import K_SENT, K_WANTED

    at = _page(tiny_ckpts["vae"])
    first, _, _ = _canvas_data(at)
    lost = first["view"]["$part"]
    at2 = AppTest.from_function(_callback_script, default_timeout=60)
    at2.session_state[K_SENT] = list(first["$parts"])
    for junk in ({"keys": "all"}, {"keys": [1, None, "x" * 10_000]}, "junk"):
        at2.session_state["test_ctx"] = {"path": str(tiny_ckpts["vae"]), "fn": "on_need_static", "args": [],
                                         "events": {"need_static": junk}}
        at2.run()
        assert set(at2.session_state[K_SENT]) == set(first["$parts"])  # ignored
    at2.session_state["test_ctx"]["events"] = {"need_static": {"keys": [lost], "nonce": 1}}
    at2.run()
    assert set(at2.session_state[K_SENT]) == set(first["$parts"]) - {lost}
    assert at2.session_state[K_WANTED] == [lost]  # an ask also fetches a part that is sent only when asked for
    at.session_state[K_SENT] = at2.session_state[K_SENT]
    at.run()
    again, _, binary = _canvas_data(at)
    assert binary and list(again["$parts"]) == [lost]


def test_colour_by_is_generic_and_checked():
    from ui.colour import CATEGORICAL, NO_VALUE, ColourBy

    c = ColourBy("shape", np.array([0, 2, 1]), ("square", "ellipse", "heart"))
    assert c.names == ("square", "ellipse", "heart") and c.palette == CATEGORICAL[:3] and not c.ordered
    for bad in (np.array([0, 3]), np.array([-1, 0]), np.array([0.5, 1.0]), np.zeros((2, 2), int)):
        with pytest.raises(ValueError):
            ColourBy("x", bad, ("a", "b"))
    with pytest.raises(ValueError):
        ColourBy("x", np.array([0]), ("a",), palette=("red",))  # only #rrggbb reaches the canvas's fillStyle
    lab = ColourBy.labels(np.array([-1, 4, 4]), ("<b>zero</b>",) * 5)
    assert lab.names == ("unlabeled", "<b>zero</b>") and lab.codes.tolist() == [0, 1, 1]  # names kept raw: data
    assert lab.palette == (NO_VALUE, CATEGORICAL[4])  # label 4 keeps its colour whatever else is present
    scale = ColourBy("scale", np.array([0, 2, 1, 0]), ("0.5", "0.75", "1"), ordered=True)
    assert scale.palette[0] == "#440154" and scale.palette[-1] == "#fde725"  # viridis ends: low dark, high light
    many = ColourBy("x", np.arange(40) % 32, tuple(str(i) for i in range(32)))
    assert len(set(many.palette)) == 32
    with pytest.raises(ValueError):
        ColourBy("x", np.arange(300), tuple(str(i) for i in range(300)))  # bin first
    assert scale.key != ColourBy("scale", np.array([0, 2, 1, 1]), ("0.5", "0.75", "1"), ordered=True).key
    with pytest.raises(ValueError):
        scale.for_rows(np.array([4]))


def test_canvas_and_plotly_map_colour_by_a_factor(tiny_ckpts):
    """A factor colouring reaches both renderers: the canvas's colour part and the server-drawn map's traces."""
    from ui.map.canvas_map import colour_payload
    from ui.colour import ColourBy
    from ui.common import encode_test, mtime
    from ui.map.frame import view_data
    from ui.map.plotly_map import base_figure
    from ui.map.state import View

    path = str(tiny_ckpts["vae8"])
    n = len(encode_test(path)["y"])
    shape = ColourBy("shape", np.arange(n) % 3, ("square", "ellipse", "heart"))
    for view in (View(), View(method="tsne")):
        rows = view_data(path, mtime(path), view.method, view.dims)["idx"]
        part = colour_payload(path, view, shape).content
        assert part["title"] == "shape" and np.frombuffer(part["codes"], "u1").tolist() == (rows % 3).tolist()
    import plotly.graph_objects as go

    fig = go.Figure(base_figure(path, mtime(path), View(), (), shape))
    traces = [t for t in fig.data if t.name != "grid"]
    assert [t.name for t in traces] == ["square", "ellipse", "heart"]
    def rows(a):  # plotly packs arrays as {'dtype', 'bdata'}
        return np.frombuffer(base64.b64decode(a["bdata"]), a["dtype"]) if isinstance(a, dict) else np.asarray(a)

    assert all(len(rows(t.customdata)) and np.all(rows(t.customdata) % 3 == k) for k, t in enumerate(traces))
    assert fig.layout.legend.title.text == "shape"


Z0 = [0.375, -1.25]  # the z before every event in _callback_script: not the centre, exact in float32


def _callback_script():
    import streamlit as st

    from ui.map import canvas_map as CV
    from ui.map import state as L

    ctx = st.session_state["test_ctx"]
    L.sync_state(ctx["path"], 2)
    if "z0" in ctx:
        L.set_z(ctx["z0"])  # not the centre: an event that resets z instead of leaving it is seen
    st.session_state[CV.CANVAS_KEY] = ctx["events"]
    getattr(CV, ctx["fn"])(*ctx.get("args", [ctx["path"]]))
    st.session_state["out"] = {k: st.session_state.get(k) for k in ("map_point", "map_z", "map_drawn", "map_canvas_failed")}


@pytest.mark.parametrize("fn,events,expect", [
    ("on_select", {"select": {"row": 5, "nonce": 1}}, {"map_point": 5}),
    ("on_select", {"select": {"z": [0.5, -1.0], "nonce": 2}}, {"map_z": [0.5, -1.0]}),
    ("on_select", {"select": {"row": 10**9}}, {"map_point": None, "map_z": "unchanged"}),
    ("on_select", {"select": {"row": "../../etc/passwd"}}, {"map_point": None, "map_z": "unchanged"}),
    ("on_select", {"select": {"z": [1.0]}}, {"map_z": "unchanged"}),
    ("on_select", {"select": {"z": ["nan", 1]}}, {"map_z": "unchanged"}),
    ("on_select", {"select": {"z": [1e308 * 10, 1.0]}}, {"map_z": "unchanged"}),
    ("on_select", {"select": {"z": "0.5,1"}}, {"map_z": "unchanged"}),
    ("on_select", {"select": "junk"}, {"map_point": None, "map_z": "unchanged"}),
    ("on_drawn", {"drawn": {"pixels": [2.0] + [0.5] * 63, "nonce": 3}}, {"map_drawn": "clipped"}),
    ("on_drawn", {"drawn": {"pixels": [0.5] * 10}}, {"map_drawn": None}),
    ("on_drawn", {"drawn": {"pixels": ["x"] * 64}}, {"map_drawn": None}),
    ("on_drawn", {"drawn": {"pixels": [[0.5]] * 64}}, {"map_drawn": None}),
    ("on_drawn", {"drawn": {"pixels": [None] * 64}}, {"map_drawn": None}),
    ("on_failed", {"failed": {"message": "x" * 1000}}, {"map_canvas_failed": "x" * 300}),
])
def test_callbacks_take_only_well_formed_events(tiny_ckpts, fn, events, expect):
    from streamlit.testing.v1 import AppTest

    from ui.common import encode_test

    path = str(tiny_ckpts["vae"])
    at = AppTest.from_function(_callback_script, default_timeout=60)
    at.session_state["test_ctx"] = {"path": path, "events": events, "fn": fn, "z0": Z0,
                                    "args": [] if fn == "on_failed" else [path]}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    out = at.session_state["out"]
    for k, v in expect.items():
        if k == "map_point" and v is not None:
            assert out[k] == v and out["map_z"] == pytest.approx(encode_test(path)["mu"][v].tolist())
        elif v == "clipped":
            assert out[k]["pixels"][0] == 1.0 and len(out[k]["pixels"]) == 64
        elif v == "unchanged":
            assert out[k] == Z0  # exactly the z set before the event: ignored, not reset to the centre
        else:
            assert out[k] == v


# --- uploads -----------------------------------------------------------------------------------------------


def _png(a: np.ndarray, fmt="PNG", mode=None) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(a, mode).save(buf, format=fmt)
    return buf.getvalue()


def test_upload_is_fitted_to_the_dataset_and_inverted_when_dark_on_light():
    from vae.images import image_to_input

    ink = np.full((56, 56), 255, np.uint8)
    ink[10:46, 25:31] = 0  # a dark vertical bar on white paper
    x = image_to_input(_png(ink), (1, 28, 28))
    assert x.shape == (1, 28, 28) and x.dtype == np.float32
    assert x[0, 14, 14] > 0.9 and x[0, 2, 2] < 0.05  # light stroke on black, as MNIST
    rgb = image_to_input(_png(np.stack([ink] * 3, -1)), (3, 8, 8))
    assert rgb.shape == (3, 8, 8)
    jpg = image_to_input(_png(ink, "JPEG"), (1, 8, 8))
    assert jpg.shape == (1, 8, 8)


@pytest.mark.parametrize("data,match", [
    (b"", "empty"),
    (b"not an image at all", "not a readable"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "not a readable"),
    (b"x" * (6 * 1024**2), "MB"),
])
def test_hostile_uploads_get_a_clear_error(data, match):
    from vae.images import ImageError, image_to_input

    with pytest.raises(ImageError, match=match):
        image_to_input(data, (1, 8, 8))


def test_wrong_format_and_decompression_bomb_are_refused():
    from PIL import Image

    from vae.images import ImageError, image_to_input

    with pytest.raises(ImageError, match="GIF"):
        image_to_input(_png(np.zeros((8, 8), np.uint8), "GIF"), (1, 8, 8))
    # a 1-bit PNG that declares 20000 x 20000 pixels compresses to a few kB
    buf = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buf, format="PNG")
    assert len(buf.getvalue()) < 1024**2
    with pytest.raises(ImageError, match="pixels"):
        image_to_input(buf.getvalue(), (1, 8, 8))


# --- the page ----------------------------------------------------------------------------------------------


def _page(path, **state):
    from streamlit.testing.v1 import AppTest

    from conftest import as_run

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["ckpt_id"] = as_run(path)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_page_opens_on_the_canvas_not_plotly(tiny_ckpts, runs_dir):
    at = _page(tiny_ckpts["vae"])
    assert not at.get("plotly_chart")
    assert not any("server-drawn map because" in c.value for c in at.caption)
    assert any("decoder runs in your browser" in c.value for c in at.caption)


def test_a_refused_export_falls_back_to_plotly_and_says_why(tiny_ckpts, runs_dir, monkeypatch):
    from vae import export

    def refuse(model, check=True):
        raise export.ExportError("decoder.net.1: layer Softplus has no browser op")

    monkeypatch.setattr("ui.map.canvas_map.export_model", refuse)
    at = _page(tiny_ckpts["ae"])
    assert len(at.get("plotly_chart")) == 1
    assert any("cannot run in the browser: decoder.net.1: layer Softplus" in c.value for c in at.caption)


def test_a_canvas_that_failed_in_the_browser_falls_back_to_plotly(tiny_ckpts, runs_dir):
    at = _page(tiny_ckpts["vae"])
    at.session_state["map_canvas_failed"] = "WebGL is off"
    at.run()
    assert len(at.get("plotly_chart")) == 1
    assert any("the canvas failed in this browser (WebGL is off)" in c.value for c in at.caption)


def test_compare_says_why_one_z_cannot_drive_models_of_different_latent_dims(tiny_ckpts, runs_dir):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    from conftest import as_run

    at.session_state["compare_ids"] = [as_run(tiny_ckpts["vae"]), as_run(tiny_ckpts["vae8"])]
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    assert any("needs the same latent dim" in i.value and "tiny-vae8: 8" in i.value for i in at.info)


# --- colour datasets: the draw pad and uploads keep their channels ------------------------------------------


@pytest.fixture(scope="module")
def colour_ckpt(tmp_path_factory):
    import canvas_helpers

    return canvas_helpers.colour_checkpoint(tmp_path_factory.mktemp("colour"))


def test_an_upload_keeps_its_colours_for_a_colour_dataset():
    from ui.map.canvas_map import drawing_from_upload

    red = np.zeros((16, 16, 3), np.uint8)
    red[4:12, 4:12] = (255, 0, 0)
    d = drawing_from_upload(_png(red), (3, 8, 8), nonce=7)
    x = np.asarray(d["pixels"]).reshape(3, 8, 8)
    assert d["source"] == "upload" and d["nonce"] == 7
    assert x[0, 2:6, 2:6].min() == 1.0 and x[1:].max() == 0.0  # red stays red: not averaged to grey
    grey = np.asarray(drawing_from_upload(_png(red), (1, 8, 8), nonce=8)["pixels"])
    assert grey.shape == (64,)


def test_a_colour_drawing_gets_its_exact_terms(colour_ckpt, runs_dir):
    """The pad sends (C, H, W) pixels for colour data; the server takes them and shows the drawing's recon and KL."""
    from streamlit.testing.v1 import AppTest

    from ui.common import load_model
    from vae.metrics import per_image_terms
    import torch

    x = np.zeros((3, 8, 8))
    x[2, 2:6, 2:6] = 1.0  # a blue square
    path = str(colour_ckpt)
    at = AppTest.from_function(_callback_script, default_timeout=60)
    at.session_state["test_ctx"] = {"path": path, "fn": "on_drawn",
                                    "events": {"drawn": {"pixels": x.ravel().tolist(), "nonce": 1}}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["out"]["map_drawn"]["pixels"] == x.ravel().tolist()
    at2 = _page(colour_ckpt)
    at2.session_state["map_drawn"] = {"pixels": x.ravel().tolist(), "source": "pad", "nonce": 1}
    at2.run()
    assert not at2.exception, [e.value for e in at2.exception]
    text = " ".join(m.value for m in at2.markdown)
    want = per_image_terms(load_model(path).model, torch.tensor(x, dtype=torch.float32)[None], seed=0)
    assert f"Drawing: recon **{want['recon'][0]:.2f}** nats · KL **{want['kl'][0]:.2f}** nats" in text, text[-500:]


def test_the_neighbour_strip_is_the_nearest_codes_in_all_dims(tiny_ckpts):
    """Checked against scikit-learn's exact nearest neighbours on the 8-D codes (the strip is not a 2-D view's)."""
    from sklearn.neighbors import NearestNeighbors

    from ui.map.canvas_map import NEIGHBOURS, nearest_rows
    from ui.common import encode_test

    mu = encode_test(str(tiny_ckpts["vae8"]))["mu"]
    nn_ = NearestNeighbors(n_neighbors=NEIGHBOURS + 1).fit(mu)
    for row in (0, 17, len(mu) - 1):
        dist, idx = nn_.kneighbors(mu[row : row + 1])
        want = [i for i in idx[0] if i != row][:NEIGHBOURS]
        got = nearest_rows(mu, row, NEIGHBOURS)
        assert row not in got and np.allclose(np.linalg.norm(mu[got] - mu[row], axis=1),
                                              np.linalg.norm(mu[want] - mu[row], axis=1))
    assert len(nearest_rows(mu[:3], 0, NEIGHBOURS)) == 2  # fewer images than the strip holds


def test_an_atlas_over_its_byte_budget_is_made_again_with_fewer_grey_levels():
    from PIL import Image

    from ui.components.latent_canvas import atlas_png, atlas_png_at

    rng = np.random.default_rng(0)
    x = rng.random((400, 1, 12, 12)).astype(np.float32)  # noise: compresses badly, so the budget bites
    full = atlas_png_at(x, 16)
    assert atlas_png(x, budget=len(full["png"]))["levels"] == 16  # within the budget: as it was
    small = atlas_png(x, budget=len(full["png"]) - 1)
    assert small["levels"] == 4 and len(small["png"]) < len(full["png"])
    grey = np.asarray(Image.open(io.BytesIO(small["png"])).convert("L"), dtype=np.float64)
    cols = small["cols"]
    for k in (0, 123, 399):
        r, c = divmod(k, cols)
        assert np.array_equal(grey[r * 12 : (r + 1) * 12, c * 12 : (c + 1) * 12], np.rint(x[k, 0] * 3) * 85)
    assert atlas_png(x, budget=1)["levels"] == 2  # nothing fits: the smallest there is


def _protocol() -> tuple[set[str], set[str], set[str]]:
    """(what Python sends, the triggers the JS sends back, the view part's fields), as latent_canvas.js's PROTOCOL
    block names them: the one place the wire between ui/map/canvas_map.py and the JS is written down."""
    import re

    js = (ROOT / "ui" / "components" / "latent_canvas.js").read_text()
    start = js.index("// PROTOCOL")
    block = js[start : js.index("\n\n", start)]
    sent, back = block.split("// JS -> Python")
    view = re.search(r"^//   view: part \{([^}]*)\}", block, flags=re.M).group(1)
    return (set(re.findall(r"^//   (\w+):", sent, flags=re.M)), set(re.findall(r"^//   (\w+):", back, flags=re.M)),
            {f.strip() for f in view.split(",")})


def test_both_sides_of_the_canvas_follow_its_written_protocol(tiny_ckpts, runs_dir):
    """A field sent, a view field or a trigger that the PROTOCOL block does not name (or names but nobody sends)
    fails here: the description cannot drift from the code on either side."""
    import inspect
    import re

    from ui.components import latent_canvas as C

    sent, back, view_fields = _protocol()
    first, _, _ = _canvas_data(_page(tiny_ckpts["vae"]))  # a first mount: every part travels with it
    assert {k for k in first if not k.startswith("$")} == sent
    assert set(first["$parts"][first["view"]["$part"]]) == view_fields
    assert {p.removeprefix("on_") for p in inspect.signature(C.latent_canvas).parameters if p.startswith("on_")} == back
    # the canvas's own script and the shared one it is built with (dom.js's mountOnce sends "failed")
    js = "\n".join((ROOT / "ui" / "components" / n).read_text() for n in ("latent_canvas.js", "dom.js"))
    assert set(re.findall(r"""(?:send|setTrigger|setTriggerValue)\("(\w+)\"""", js)) == back
