"""The Latent map's named attribute vectors in the URL (`vec=name~v1,v2,...;name~...`, parsed as hostile input by
vae/attributes.py): a Link that ui/links.py registers for the map page, after the map's own."""

from __future__ import annotations

import streamlit as st

from ui.common import current_path, load_model
from ui.map.state import scoped, sync_state
from vae import attributes as V

(K_VECTORS,) = scoped("map_vectors")  # [{'name', 'v'}]: the named vectors of this checkpoint's view
URL_PARAM = "vec"


def from_url(url: dict[str, str], notes: list[str]) -> None:
    """The link's named vectors, when every one of them is valid for this checkpoint; else none, and a note."""
    path = current_path()
    if URL_PARAM not in url or path is None:
        return
    d = load_model(path).model.config.latent_dim
    sync_state(str(path), d)  # a new checkpoint starts clean before the link's values go in
    got = V.parse_vectors(url[URL_PARAM], d)
    if got is None:
        notes.append(f"ignored the link's {URL_PARAM}: not valid for this {d}-D checkpoint (named vectors of {d} "
                     f"finite numbers each, at most {V.MAX_VECTORS})")
        return
    st.session_state[K_VECTORS] = [{"name": n.name, "v": list(n.v)} for n in got]


def to_url() -> dict[str, str]:
    kept = st.session_state.get(K_VECTORS) or []
    return {URL_PARAM: V.format_vectors([V.Named(n["name"], tuple(n["v"])) for n in kept])} if kept else {}
