"""The Latent map's named attribute vectors in the URL (`vec=name~v1,v2,...;name~...`, parsed as hostile input by
vae/attributes.py). Kept apart from ui/attributes.py so that the URL layer does not import the map's modules."""

from __future__ import annotations

import streamlit as st

from vae import attributes as V

K_VECTORS = "map_vectors"  # [{'name', 'v'}]: the named vectors of this checkpoint's view
URL_PARAM = "vec"


def restore_url(url: dict[str, str], d: int, bad: list[str]) -> None:
    """The link's named vectors, when every one of them is valid for this d-D checkpoint; else none, noted in bad."""
    if URL_PARAM not in url:
        return
    got = V.parse_vectors(url[URL_PARAM], d)
    if got is None:
        bad.append(URL_PARAM)
        return
    st.session_state[K_VECTORS] = [{"name": n.name, "v": list(n.v)} for n in got]


def url_params() -> dict[str, str]:
    kept = st.session_state.get(K_VECTORS) or []
    return {URL_PARAM: V.format_vectors([V.Named(n["name"], tuple(n["v"])) for n in kept])} if kept else {}
