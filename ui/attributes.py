"""The Latent map's Attribute vectors tab: a direction v = mean μ(B) − mean μ(A) from two groups (by label, by a
generative factor's level, or by a box/lasso selection on the projection view), z + k·v decoded live in the page,
the analogy A − B + C from three pins, the test codes projected onto v, and named vectors kept in the URL (`vec`, ui/attribute_link.py).

The maths is vae/attributes.py. Session keys (all `map_`, so they reset when another checkpoint is opened):
  map_vectors        [{'name', 'v'}], the named vectors, mirrored into the URL
  map_pin_c          the analogy's third pin {'z', 'label'} (A and B are the map's interpolation pins)
  map_attr_rows_A/B  the test rows a selection gave group A / B
  map_attr_sel       the rows of the last box/lasso selection on the projection view
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import payload as P
from ui.attribute_link import K_VECTORS
from ui.colour import ColourBy, colour_by
from ui.common import current_data, encode_test, load_model, md, mtime, plain
from ui.components import attribute as AC
from ui.images import crisp
from ui.map.state import K_A, K_B, K_COLOUR, K_Z, PERSIST, Pin, scoped, scoped_key
from vae import explore, wire
from vae import attributes as V
from vae.export import ExportError, export_model

# Every key this tab makes, state and widgets, belongs to one checkpoint's view (registered below with
# ui.map.state.scoped, so opening another checkpoint drops them)
K_C, K_SEL, K_USE, K_ERR = "map_pin_c", "map_attr_sel", "map_attr_use", "map_attr_err"
K_NAME, K_SHOW, K_KEEP, K_DELETE, K_SET_C, K_TAKE_Z = ("map_attr_name", "map_attr_show_view", "map_attr_keep",
                                                       "map_attr_delete", "map_attr_set_c", "map_attr_take_z")
K_FAILED, SLIDER_KEY, VIEW_KEY = "map_attr_failed", "map_attr_slider", "map_attr_view"
K_ROWS, K_BY, K_TAKE, K_LABEL, K_FACTOR = ({g: f"map_attr_{what}_{g}" for g in "AB"}
                                           for what in ("rows", "by", "take", "label", "factor"))


def level_key(group: str, factor: int) -> str:
    return scoped_key(f"map_attr_level_{group}_{factor}")


KEYS = (K_C, K_SEL, K_USE, K_ERR, K_NAME, K_SHOW, K_KEEP, K_DELETE, K_SET_C, K_TAKE_Z, K_FAILED, SLIDER_KEY, VIEW_KEY,
        *(k[g] for k in (K_ROWS, K_BY, K_TAKE, K_LABEL, K_FACTOR) for g in "AB"))
scoped(*KEYS)
PAIR = "(this pair)"  # the vector choice meaning "the groups above", not a kept name
KMAX = 2.0  # the slider's k range: ±2 lengths of v
STRIP = (-2, -1, 0, 1, 2)
IMG = 96


@st.cache_resource(max_entries=8, show_spinner=False)
def _decoder_part(path: str, mt: float) -> P.Part | None:
    """The decoder as the browser runs it: the map canvas's part (same content, so the same key: sent once)."""
    try:
        return P.make_part(wire.quantise(export_model(load_model(path).model))["decoder"])
    except ExportError:
        return None


# --- the two groups --------------------------------------------------------------------------------------------


def _class_name(classes, lab: int) -> str:
    return classes[lab] if 0 <= lab < len(classes) else str(lab)


def group_ui(col, name: str, y: np.ndarray, classes, test) -> tuple[np.ndarray, str]:
    """Group `name`'s rows and a description (plain text: escape before Markdown)."""
    options = ["label"] + (["factor"] if test.factor_names else []) + ["selection"]
    by = col.radio(f"Group {name} by", options, key=K_BY[name], persist_state=PERSIST, horizontal=True,
                   format_func={"label": "label", "factor": "factor level", "selection": "selection"}.get)
    if by == "label":
        labels = sorted(int(v) for v in set(y.tolist()))
        lab = col.selectbox(f"{name}: label", labels, index=min(0 if name == "A" else 1, len(labels) - 1),
                            key=K_LABEL[name], persist_state=PERSIST, format_func=lambda v: _class_name(classes, v))
        return V.rows_where(y, lab), f"label {_class_name(classes, lab)}"
    if by == "factor":
        f = col.selectbox(f"{name}: factor", test.factor_names, key=K_FACTOR[name], persist_state=PERSIST)
        k = test.factor_names.index(f)
        levels = test.factor_levels[k]
        lv = col.selectbox(f"{name}: level", range(len(levels)), index=0 if name == "A" else len(levels) - 1,
                           key=level_key(name, k), persist_state=PERSIST, format_func=lambda i: str(levels[i]))
        return V.rows_where(test.factors[:, k].numpy(), lv), f"{f} = {levels[lv]}"
    rows = np.asarray(st.session_state.get(K_ROWS[name]) or [], dtype=np.int64)
    col.caption(f"{len(rows)} test images chosen on the projection view below." if len(rows) else
                f"Turn on the projection view below, select points (box or lasso), then press “Selection → {name}”.")
    return rows, "a selection"


def _on_select() -> None:
    points = (st.session_state.get(VIEW_KEY) or {}).get("selection", {}).get("points", [])
    rows = []
    for p in points:
        c = p.get("customdata")
        c = c[0] if isinstance(c, (list, tuple)) else c
        if isinstance(c, (int, float)):
            rows.append(int(c))
    st.session_state[K_SEL] = sorted(set(rows))


def _take_selection(name: str) -> None:
    st.session_state[K_ROWS[name]] = list(st.session_state.get(K_SEL) or [])
    st.session_state[K_BY[name]] = "selection"


def _keep(v: np.ndarray) -> None:
    """Keep the pair's vector under the typed name (replacing one of that name)."""
    ss = st.session_state
    name = V.valid_name(ss.get(K_NAME))
    kept = [n for n in ss.get(K_VECTORS) or [] if n["name"] != name]
    if name is None:
        ss[K_ERR] = (f"A vector's name is 1 to {V.MAX_NAME} characters, without “{V.SEP_VECTORS}” or “{V.SEP_NAME}”.")
    elif len(kept) >= V.MAX_VECTORS:
        ss[K_ERR] = f"At most {V.MAX_VECTORS} named vectors are kept with a view: delete one first."
    elif not V.fits_url(kept_named(kept) + [V.Named(name, tuple(float(x) for x in v))]):
        ss[K_ERR] = (f"These vectors would not fit in a link ({V.MAX_PARAM_CHARS:,} characters): delete one, or use "
                     "a shorter name.")
    else:
        ss[K_VECTORS] = kept + [{"name": name, "v": [float(x) for x in v]}]
        ss[K_USE] = name


def kept_named(kept: list[dict]) -> list[V.Named]:
    return [V.Named(n["name"], tuple(n["v"])) for n in kept]


def _delete(name: str) -> None:
    st.session_state[K_VECTORS] = [n for n in st.session_state.get(K_VECTORS) or [] if n["name"] != name]
    st.session_state.pop(K_USE, None)


# --- the tab ---------------------------------------------------------------------------------------------------


def attributes_tab(path: str, classes: tuple[str, ...]) -> None:
    ckpt = load_model(path)
    model, ss = ckpt.model, st.session_state
    enc, test = encode_test(path), current_data(ckpt).test
    mu, y = enc["mu"], enc["y"]
    st.caption("A direction in latent space from two groups of test images: v = mean μ(B) − mean μ(A). "
               "Adding k·v to a code moves it from A's average towards B's (e.g. thin → thick strokes).")
    ca, cb = st.columns(2)
    rows_a, desc_a = group_ui(ca, "A", y, classes, test)
    rows_b, desc_b = group_ui(cb, "B", y, classes, test)
    try:
        pair = V.attribute_vector(mu, rows_a, rows_b)
    except V.VectorError as e:
        pair = None
        st.info(md(e))
    if pair is not None:
        st.markdown(f"v = mean μ(B) − mean μ(A), from {md(desc_a)} ({len(rows_a)} images) to {md(desc_b)} "
                    f"({len(rows_b)} images): |v| = {np.linalg.norm(pair):.3g}")
        c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
        c1.text_input("Name this vector", key=K_NAME, persist_state=PERSIST, max_chars=V.MAX_NAME, placeholder="e.g. thickness")
        c2.button("Keep with the view", key=K_KEEP, on_click=_keep, args=(pair,),
                  help="Named vectors go into the page's URL: a copied link brings them along")
    if ss.get(K_ERR):
        st.warning(md(ss.pop(K_ERR)))
    kept = {n["name"]: np.asarray(n["v"], dtype=np.float64) for n in ss.get(K_VECTORS) or []}
    choices = ([PAIR] if pair is not None else []) + list(kept)
    if not choices:
        return
    if ss.get(K_USE) not in choices:
        ss[K_USE] = choices[0]
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    use = c1.selectbox("Vector", choices, key=K_USE, persist_state=PERSIST)  # a selectbox shows names as plain text
    if use != PAIR:
        c2.button("Delete", key=K_DELETE, on_click=_delete, args=(use,))
    v = pair if use == PAIR else kept[use]
    name = f"{desc_a} → {desc_b}" if use == PAIR else use
    slide_ui(path, model, np.asarray(ss[K_Z], dtype=np.float64), v, name)
    analogy_ui(model)
    projection_ui(path, mu, y, classes, v, name)


def slide_ui(path: str, model, z: np.ndarray, v: np.ndarray, name: str) -> None:
    """z + k·v decoded in the page as the slider moves; on the server as a strip when the page cannot."""
    c1, c2 = st.columns([3, 1], vertical_alignment="center")
    c1.markdown("**Slide along v** from the map's z = (" + ", ".join(f"{x:.2f}" for x in z[:4])
                + (", …)" if len(z) > 4 else ")"))
    c2.button("Take the map's z", key=K_TAKE_Z, help="The map updates on its own: this brings its latest z here")
    part = _decoder_part(path, mtime(path))
    if part is not None and AC.available() and not st.session_state.get(K_FAILED):
        data = {"decoder": part, "z": [float(x) for x in z], "v": [float(x) for x in v], "kmax": KMAX,
                "strip": list(STRIP), "name": name}
        AC.slider(P.payload(data), key=SLIDER_KEY, on_failed=_failed, on_need_static=_need_static)
        return
    why = st.session_state.get(K_FAILED) or (None if part is not None else "the decoder cannot run in a browser")
    st.caption(f"Decoded on the server, since the in-browser slider cannot run here ({md(why or 'no components v2')}).")
    imgs = explore.decode(model, V.along(z, v, STRIP))  # (K, C, H, W)
    crisp(explore.tile(imgs[None]), IMG * len(STRIP), caption="z + k·v for k = " + ", ".join(map(str, STRIP)))


def _failed() -> None:
    ev = (st.session_state.get(SLIDER_KEY) or {}).get("failed")
    st.session_state[K_FAILED] = str((ev or {}).get("message", "unknown error"))[:300]


def _need_static() -> None:
    ev = (st.session_state.get(SLIDER_KEY) or {}).get("need_static")
    P.forget((ev if isinstance(ev, dict) else {}).get("keys"))


def _set_c() -> None:
    st.session_state[K_C] = Pin(tuple(float(x) for x in st.session_state[K_Z]))


def analogy_row(model, pins: list[Pin]) -> tuple[np.ndarray, np.ndarray]:
    """A − B + C from three pins, and the decodes of A, B, C and A − B + C: (D,), (4, C, H, W)."""
    z = V.analogy(*(p.z for p in pins))
    return z, explore.decode(model, np.stack([np.asarray(p.z, dtype=np.float64) for p in pins] + [z]))


def analogy_ui(model) -> None:
    """A − B + C from the map's pins A and B and this tab's pin C, decoded on the server."""
    ss = st.session_state
    st.markdown("**Analogy: A − B + C**: C changed the way A differs from B (pins A and B are set beside the map)")
    c1, c2 = st.columns([1, 3], vertical_alignment="center")
    c1.button("Set the map's z as C", key=K_SET_C, on_click=_set_c)
    pins = [ss.get(K_A), ss.get(K_B), ss.get(K_C)]
    if not all(pins):
        missing = [n for n, p in zip("ABC", pins) if not p]
        c2.caption(f"Pin {' and '.join(missing)} first: A and B beside the map (“Set z as A / B”), C with this button.")
        return
    z, imgs = analogy_row(model, pins)
    cols = st.columns(4)
    for col, img, cap in zip(cols, imgs, [f"A: {pins[0].label}", f"B: {pins[1].label}", f"C: {pins[2].label}",
                                          "A − B + C"]):
        crisp(img, IMG, col, caption=cap)
    st.caption("A − B + C = (" + ", ".join(f"{x:.3f}" for x in z[:8]) + (", …)" if len(z) > 8 else ")"))


def projection_ui(path: str, mu: np.ndarray, y: np.ndarray, classes, v: np.ndarray, name: str) -> None:
    """The test codes seen along v (x: the projection on v/|v|; y: their main direction orthogonal to v), as the
    Embedding Projector's custom projection; a box or lasso selection here can become group A or B. Behind a toggle:
    the tab is built on every run of the page, and the figure is the costly part."""
    if not st.toggle("Projection view: the codes along v (box or lasso to choose a group)", key=K_SHOW, persist_state=PERSIST):
        return
    try:
        origin, basis = V.projection_basis(mu, v)
    except V.VectorError as e:
        st.info(md(e))
        return
    xy = explore.to_plane(mu, origin, basis)
    if xy.shape[1] == 1:
        xy = np.column_stack([xy[:, 0], y + np.random.default_rng(0).uniform(-0.3, 0.3, len(y))])
    try:  # coloured as the map is ("Colour by": the label, or a factor such as scale)
        colour = colour_by(path, str(st.session_state.get(K_COLOUR) or "label"), classes)
    except ValueError:
        colour = ColourBy.labels(y, classes)
    fig = go.Figure()
    for c in np.unique(colour.codes):
        m = colour.codes == c
        fig.add_trace(go.Scattergl(x=xy[m, 0], y=xy[m, 1], mode="markers", name=plain(colour.names[c]),
                                   customdata=np.nonzero(m)[0], marker=dict(size=5, color=colour.palette[c], opacity=0.8),
                                   hovertemplate="test image #%{customdata}<extra></extra>"))
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=10), dragmode="lasso", hovermode="closest",
                      title=dict(text=f"The test codes along {plain(name)}", font=dict(size=13)),
                      xaxis_title="projection on v / |v|", yaxis_title="main direction orthogonal to v"
                      if basis.shape[0] == 2 else "label (jittered)")
    st.plotly_chart(fig, key=VIEW_KEY, on_select=_on_select, selection_mode=("box", "lasso"))
    sel = st.session_state.get(K_SEL) or []
    c1, c2, c3 = st.columns([1, 1, 2], vertical_alignment="center")
    for col, g in ((c1, "A"), (c2, "B")):
        col.button(f"Selection → {g}", key=K_TAKE[g], on_click=_take_selection, args=(g,), disabled=not sel)
    c3.caption(f"{len(sel)} points selected" if sel else "Drag a lasso (or pick the box tool) to select points.")
