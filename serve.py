"""Start the app with `streamlit run serve.py`: the app of app.py, with torch imported while the browser loads.

`streamlit run app.py` runs the same app. It imports torch (about 1 s of a 3 s cold start on a 2-core laptop) only
when the first visitor's script run needs it, after the browser has loaded Streamlit's page. Run this way, the server
imports it in a background thread from the moment it starts (an `st.App` lifespan hook, Streamlit's documented way
to run code at server start), so the first visitor waits for what is left of it. Nothing else differs: same script,
same pages, same `.streamlit/config.toml` and command-line flags.
"""

from __future__ import annotations

import contextlib
import logging
import threading

import streamlit as st

WARM_MODULES = ("torch",)  # the one import that costs: everything of ours that needs torch imports it first


def _warm() -> None:
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # the script's own import reports the problem to the visitor; a warm-up never does
            logging.getLogger(__name__).debug("warm-up import of %s failed", name, exc_info=True)


@contextlib.asynccontextmanager
async def _lifespan(_app):
    _routed_from_the_start()
    threading.Thread(target=_warm, name="vae-warm-up", daemon=True).start()
    yield


def _routed_from_the_start() -> None:
    """app.py routes with st.navigation; tell Streamlit before the first visitor. Until some run has called
    st.navigation, it treats a `pages/` folder the old (v1) way, and the first visitor's run must be rerun through
    the router (ui/common.py `_leave_pages_v1_mode`): a wasted run on the cold start's path."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - a Streamlit without the v1 compatibility layer
        return
    PagesManager.uses_pages_directory = False


app = st.App("app.py", lifespan=_lifespan)
