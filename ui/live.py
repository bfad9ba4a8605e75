"""Live areas that cannot corrupt the page: one poller fragment per page, and a full rerun started from the main script.

Streamlit's frontend blanks the page ("Bad delta path index", "Cannot set a node at a delta path") when a
`run_every` fragment's element tree changes shape between runs, when a fragment writes into a container made
outside it, or when a fragment calls `st.rerun()` while its own timer or another fragment's is in flight. So a page
that shows something live follows three rules, and this module is how:

1. **One poller per page**, `poller(...)`, polling only while something is live (`run_every=None` otherwise). The
   body draws the same number of elements in the same order on every run: a slot that has nothing to say says so
   with a caption, it is never left out.
2. **No `st.rerun()` inside the poller.** When the body sees a change that the rest of the page must follow (a run
   ended, a sweep's point finished), it calls `request_page_rerun(token)`. That mounts a tiny beacon *inside* the
   fragment (always, so the tree keeps its shape) which tells the page's listener, mounted by the main script
   outside every fragment; the listener's trigger is an ordinary main-script widget event, so Streamlit runs the
   whole page once, from the top. That run recomputes whether anything is live, which also stops the polling.
3. The listener fires once per token, so a poll that repeats the same token cannot loop.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from ui.components import register_hidden

# None without components.v2: the page then refreshes on the user's next action
_BEACON = register_hidden("vae_rerun_beacon", "rerun_beacon.js")
_LISTENER = register_hidden("vae_rerun_listener", "rerun_listener.js")
_TOKEN_KEY = "_live_rerun_token"  # non-widget key: the token the poller asked for this page run, if any


def poller(key: str, body: Callable[..., None], *args, every: float | None) -> None:
    """Run `body(*args)` as the page's one live fragment, every `every` seconds, or only once when None.

    Then mount the page's listener (main script, outside the fragment): a beacon in `body` reaches it.
    """
    st.session_state.pop(_TOKEN_KEY, None)
    st.fragment(run_every=every)(_framed)(key, body, *args)
    if _LISTENER is not None:
        _LISTENER(data={"pending": st.session_state.get(_TOKEN_KEY)}, key=f"{key}_listener",
                  on_rerun_change=lambda: None)


def _framed(key: str, body: Callable[..., None], *args) -> None:
    st.session_state[f"{key}_beacon_token"] = None
    body(*args)
    token = st.session_state.get(f"{key}_beacon_token")
    if _BEACON is not None:  # always mounted, with or without a token: the fragment's tree keeps its shape
        _BEACON(data={"token": token}, key=f"{key}_beacon")


def request_page_rerun(key: str, token: str) -> None:
    """From inside `poller`'s body: ask for one whole-page run, at most once per distinct `token`."""
    st.session_state[f"{key}_beacon_token"] = token
    st.session_state[_TOKEN_KEY] = token
