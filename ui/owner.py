"""Who may stop a run: this browser, across reloads, and no other.

Each browser gets one random secret, kept in a cookie (`vae_owner`, SameSite=Strict). The runs it starts record only
the secret's SHA-256 (vae.jobs.owner_hash), so the job files on disk never hold it. A reload sends the cookie again,
so the reloaded page may still stop its runs; another browser, or a copied link (links never carry cookies), may
not. Streamlit's `st.context.cookies` is read-only, so a tiny component sets the cookie from the page.
"""

from __future__ import annotations

import re
import secrets

import streamlit as st

from ui.components import register_hidden
from vae.jobs import owner_hash

COOKIE = "vae_owner"
MAX_AGE_S = 30 * 24 * 3600  # a month: a course's runs stay stoppable from the same laptop
_SECRET_KEY = "_owner_secret"  # non-widget key: the secret this session uses (from the cookie, or new)
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32); a cookie of any other shape is ignored

_SETTER = register_hidden("vae_owner_cookie", "owner_cookie.js")  # None: ownership lasts for the session only


def _cookie() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # no browser behind this run (AppTest, a bare script)
        return None
    return value if isinstance(value, str) and _SECRET.match(value) else None


def _secret() -> str:
    ss = st.session_state
    if ss.get(_SECRET_KEY) is None:
        ss[_SECRET_KEY] = _cookie() or secrets.token_urlsafe(32)
    return ss[_SECRET_KEY]


def owner_id() -> str:
    """This browser's owner id for the run store: the hash of its secret, never the secret."""
    return owner_hash(_secret())


def keep_in_browser() -> None:
    """Write the secret into the browser's cookie when the browser does not hold it yet (app.py, in the sidebar,
    so the main area's layout does not change with it)."""
    secret = _secret()
    if _SETTER is not None and _cookie() != secret:
        with st.sidebar:
            _SETTER(data={"name": COOKIE, "value": secret, "max_age": MAX_AGE_S}, key="owner_cookie")
