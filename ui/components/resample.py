"""The computation view's in-browser resampler: a st.components.v2 component (resample.js beside this file, with
vae_ops.js) that draws ε, forms z = μ + σ ⊙ ε and decodes x̂ in the page, sending nothing back per draw."""

from __future__ import annotations

from ui.components import register

NOTICE = ('<div class="vc-noscript" role="status">The in-browser resampler has not started: its script did not run '
          'in this browser. “Resample ε” above still works, on the server.</div>')


# the server button stays where the component cannot start
_COMPONENT = register("vae_resample", html=NOTICE, script="resample.js")


def available() -> bool:
    return _COMPONENT is not None


def resampler(data: dict | bytes, *, key: str, on_failed, on_need_static):
    return _COMPONENT(data=data, key=key, on_failed_change=on_failed, on_need_static_change=on_need_static)
