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

_BEACON_JS = """
export default function (component) {
  const { data, parentElement } = component;
  const mark = parentElement.querySelector("span");  // parentElement may be a shadow root: mark its span
  if (mark) mark.dataset.vaeBeacon = data && data.token ? data.token : "";
  if (!data || !data.token) return;
  window.__vaeRerunToken = data.token;
  window.dispatchEvent(new CustomEvent("vae-page-rerun", { detail: data.token }));
}
"""

# The listener keeps the newest setTriggerValue on window: a page switch mounts a new instance, and the one event
# handler (added once per document) must call the instance that is on screen now. It fires only once the app is idle
# (the poller's own run has ended) and only if, meanwhile, no other whole-page run came and the user did not leave:
# a trigger sent while a sidebar click is on its way would carry the old page and take the user back to it, and any
# whole-page run (a page switch, a click) already redraws the page in its new state, so the trigger is then moot.
_LISTENER_JS = """
export default function (component) {
  const { data, setTriggerValue } = component;
  window.__vaeRerunTrigger = setTriggerValue;
  window.__vaeRerunDone = window.__vaeRerunDone || new Set();
  window.__vaePageRuns = (window.__vaePageRuns || 0) + 1;  // this function runs once per whole-page run
  const idle = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !app || app.getAttribute("data-test-script-state") === "notRunning";
  };
  const fire = (token) => {
    if (!token || window.__vaeRerunDone.has(token)) return;
    window.__vaeRerunDone.add(token);
    const path = window.location.pathname, runs = window.__vaePageRuns;
    const attempt = (n) => {
      if (window.location.pathname !== path || window.__vaePageRuns !== runs) return;
      if (idle() || n >= 300) window.__vaeRerunTrigger("rerun", token);
      else setTimeout(() => attempt(n + 1), 50);
    };
    attempt(0);
  };
  if (!window.__vaeRerunListening) {
    window.__vaeRerunListening = true;
    window.addEventListener("vae-page-rerun", (e) => fire(e.detail));
  }
  // a beacon that spoke before this page's listener was mounted is heard now
  if (data && data.pending && window.__vaeRerunToken === data.pending) fire(data.pending);
}
"""

_CSS = ":host { display: none; }"


def _register():
    try:
        return (st.components.v2.component("vae_rerun_beacon", html="<span></span>", css=_CSS, js=_BEACON_JS),
                st.components.v2.component("vae_rerun_listener", html="<span></span>", css=_CSS, js=_LISTENER_JS))
    except Exception:  # a Streamlit without components.v2: the page then refreshes on the user's next action
        return None, None


_BEACON, _LISTENER = _register()
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
