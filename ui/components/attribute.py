"""The attribute vector slider: a st.components.v2 component (attribute.js beside this file, with vae_ops.js) that
decodes z + k·v in the page as the slider moves, sending nothing back per move."""

from __future__ import annotations

from ui.components import register

NOTICE = ('<div class="vc-noscript" role="status">The in-browser slider has not started: its script did not run in '
          'this browser. The strip below is decoded on the server.</div>')
CSS = ".av-k { width: 260px; }"


# the server strip stays where the component cannot start
_COMPONENT = register("vae_attribute", html=NOTICE, script="attribute.js", css=CSS)


def available() -> bool:
    return _COMPONENT is not None


def slider(data: dict | bytes, *, key: str, on_failed, on_need_static):
    return _COMPONENT(data=data, key=key, on_failed_change=on_failed, on_need_static_change=on_need_static)
