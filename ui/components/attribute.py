"""The attribute vector slider: a st.components.v2 component (attribute.js beside this file, with vae_ops.js) that
decodes z + k·v in the page as the slider moves, sending nothing back per move."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
NOTICE = ('<div class="vc-noscript" role="status">The in-browser slider has not started: its script did not run in '
          'this browser. The strip below is decoded on the server.</div>')
CSS = ".av-k { width: 260px; }"


def _register():
    try:
        js = "\n".join((HERE / n).read_text(encoding="utf-8") for n in ("vae_ops.js", "attribute.js"))
        return st.components.v2.component("vae_attribute", html=NOTICE, css=(HERE / "canvas.css").read_text() + CSS,
                                          js=js)
    except Exception:  # an older Streamlit without components.v2, or the files are missing: the server strip stays
        return None


_COMPONENT = _register()


def available() -> bool:
    return _COMPONENT is not None


def slider(data: dict | bytes, *, key: str, on_failed, on_need_static):
    return _COMPONENT(data=data, key=key, on_failed_change=on_failed, on_need_static_change=on_need_static)
