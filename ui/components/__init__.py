"""In-browser components (st.components.v2). Each one's script is the shared files (the op interpreter and the DOM
helpers with `mountOnce`) followed by its own .js, all beside this file and read at import: no build step."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
SHARED_JS = ("vae_ops.js", "dom.js")


def read(*names: str) -> str:
    return "\n".join((HERE / n).read_text(encoding="utf-8") for n in names)


def register(name: str, *, html: str, script: str, css: str = ""):
    """The mount function of a component whose JS is SHARED_JS then `script` and whose CSS is canvas.css then `css`;
    None where Streamlit has no components.v2 or a file is missing (the caller keeps its server-side fallback)."""
    try:
        return st.components.v2.component(name, html=html, css=read("canvas.css") + css, js=read(*SHARED_JS, script))
    except Exception:
        return None


def register_hidden(name: str, script: str):
    """A component with nothing to show (it sets a cookie, or signals the page): `script` alone, the element hidden.
    None where Streamlit has no components.v2 or the file is missing (the caller then does without it)."""
    try:
        return st.components.v2.component(name, html="<span></span>", css=":host { display: none; }", js=read(script))
    except Exception:
        return None
