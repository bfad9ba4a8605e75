"""The computation view's in-browser resampler: a st.components.v2 component (resample.js beside this file, with
vae_ops.js) that draws ε, forms z = μ + σ ⊙ ε and decodes x̂ in the page, sending nothing back per draw."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
NOTICE = ('<div class="vc-noscript" role="status">The in-browser resampler has not started: its script did not run '
          'in this browser. “Resample ε” above still works, on the server.</div>')


def _register():
    try:
        js = "\n".join((HERE / n).read_text(encoding="utf-8") for n in ("vae_ops.js", "resample.js"))
        return st.components.v2.component("vae_resample", html=NOTICE, css=(HERE / "canvas.css").read_text(), js=js)
    except Exception:  # an older Streamlit without components.v2, or the files are missing: the server button stays
        return None


_COMPONENT = _register()


def available() -> bool:
    return _COMPONENT is not None


def resampler(data: dict | bytes, *, key: str, on_failed, on_need_static):
    return _COMPONENT(data=data, key=key, on_failed_change=on_failed, on_need_static_change=on_need_static)
