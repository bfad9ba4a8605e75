"""The training replay player: a st.components.v2 component (replay.js beside this file, with vae_ops.js for the
parts and float16 arrays) that moves the test subset's means between recorded epochs in the page, with an epoch
scrubber and a play button, sending nothing back per frame."""

from __future__ import annotations

from ui.components import register

NOTICE = ('<div class="vc-noscript" role="status">The replay player has not started: its script did not run in this '
          'browser. The replay GIF (Latent map, Export) shows the same animation.</div>')
CSS = """
.vr-stage { position: relative; width: 100%; max-width: 560px; border: 1px solid #ddd; border-radius: 6px; }
.vr-stage canvas { display: block; width: 100%; height: auto; }
.vr-epoch { position: absolute; left: 8px; top: 6px; font-weight: 600; background: rgba(255,255,255,0.8); padding: 0 4px; }
.vr-controls { display: flex; gap: 8px; align-items: center; margin: 6px 0; max-width: 560px; }
.vr-scrub { flex: 1 1 auto; }
"""


# the GIF stays where the component cannot start
_COMPONENT = register("vae_replay", html=NOTICE, script="replay.js", css=CSS)


def available() -> bool:
    return _COMPONENT is not None


def player(data: dict | bytes, *, key: str, on_failed, on_need_static):
    return _COMPONENT(data=data, key=key, on_failed_change=on_failed, on_need_static_change=on_need_static)
