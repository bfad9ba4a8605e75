"""The view in the URL (st.query_params): a reload keeps your place, and a copied link opens the same view.

The URL holds only IDs and numbers, never a path: `ckpt` (a run-store ID such as demo/digits-3-vae) on every
page, and each page's own parameters, which the page's ui module reads and writes (ui/links.py registers them:
the Latent map's in ui/map/state.py). Everything read from a URL is checked against what exists here (IDs in the
store, rows in the test set, one number per latent dimension, finite and bounded); a value that fails is dropped
and the page says so, the rest of the link still applies.

`restore` runs at the top of every script run and applies the URL only when it differs from what this session
last wrote (a reload, a shared link, an edited address); `write` runs after the page (and after the map's
fragment) and mirrors the session's view into the URL. This module knows no page's parameters.
"""

from __future__ import annotations

import math
import re

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from ui.common import STATE_KEY, current_id, label, md, store
from vae.errors import VaeError
from vae.explore import Z_LIMIT

PAGE_KEY, LAST_KEY, NOTICE_KEY = "url_page", "url_last", "url_notices"
WRITTEN_KEY = "url_written"  # the URLs this session wrote on the page it is on, newest last
WRITTEN_KEPT = 8
MAP_PAGE = "latent_map"  # the default page's URL name
MAX_VALUE_CHARS = 4000  # z of a 512-D model at 7 characters a number fits; anything longer is refused unread


@dataclass(frozen=True)
class Link:
    """One page's parameters: `restore(url, notes)` applies them to the session (appending what it refused to
    `notes`), `params()` returns the session's view as parameters. Neither sees `ckpt`, which is this module's."""

    restore: Callable[[dict[str, str], list[str]], None]
    params: Callable[[], dict[str, str]]


_LINKS: dict[str, list[Link]] = {}  # page URL name -> its Links, in order; filled by ui/links.py before a restore


def register(page: str, link: Link) -> None:
    """Add a page's parameters; a page may have several Links (a tool on the page with parameters of its own),
    applied in the order registered. Registering the same Link again changes nothing."""
    links = _LINKS.setdefault(page, [])
    if link not in links:
        links.append(link)


def page_id(page) -> str:
    """The URL name of an st.navigation page ('' is the default page, the Latent map)."""
    return page.url_path or MAP_PAGE


# ---- parsing (pure; every function returns None for anything it does not accept) -------------------------------


def parse_id(text: str | None) -> str | None:
    return text if text and store().exists(text) else None  # the store checks the ID's form, then its folders


def parse_int(text: str | None, lo: int, hi: int) -> int | None:
    """An integer in [lo, hi)."""
    if not text or len(text) > 12 or not re.fullmatch(r"-?\d+", text):
        return None
    v = int(text)
    return v if lo <= v < hi else None


def parse_z(text: str | None, d: int) -> list[float] | None:
    """Exactly d comma-separated finite numbers, each within ±Z_LIMIT."""
    if not text or len(text) > MAX_VALUE_CHARS:
        return None
    parts = text.split(",")
    if len(parts) != d:
        return None
    try:
        z = [float(p) for p in parts]
    except ValueError:
        return None
    return z if all(math.isfinite(v) and abs(v) <= Z_LIMIT for v in z) else None


def format_z(z) -> str:
    return ",".join(f"{float(v):.4g}" for v in z)


# ---- restore ----------------------------------------------------------------------------------------------------


def _url() -> dict[str, str]:
    return {k: st.query_params.get(k) for k in st.query_params}


def restore(page: str) -> None:
    """Apply the URL to the session when it names a view this session has not written itself."""
    ss = st.session_state
    if ss.get(PAGE_KEY) != page:  # a page switch (a sidebar link or a link with a view): its URL is new intent
        ss[WRITTEN_KEY] = []
    ss[PAGE_KEY] = page
    url = _url()
    # Our own URL, or a bare one (e.g. after a sidebar page switch). A URL this session wrote a moment ago also
    # counts as ours: a click that leaves the browser before it has applied the latest write carries the one
    # before, and applying that would switch the Train page back to the previous run.
    if url == ss.get(LAST_KEY) or not url or url in ss.get(WRITTEN_KEY, []):
        return
    notes: list[str] = []
    if "ckpt" in url:
        cid = parse_id(url["ckpt"])
        if cid:
            ss[STATE_KEY] = cid
        else:
            notes.append(f"the link's checkpoint {url['ckpt'][:80]!r} is not here, so the page shows "
                         f"{label(current_id()) if current_id() else 'none'}")
    try:
        for link in _LINKS.get(page, ()):
            link.restore(url, notes)
    except (VaeError, ValueError, OSError):  # the page itself says why it cannot
        notes.append("the view in the link could not be restored: its checkpoint cannot be opened")  # open it
    ss[LAST_KEY] = url
    if notes:
        ss[NOTICE_KEY] = notes


def show_notices() -> None:
    """What a link asked for that could not be shown, once, escaped (the text quotes the URL)."""
    for note in st.session_state.pop(NOTICE_KEY, []):
        st.warning(f"From the link: {md(note)}.", icon="🔗")


# ---- write ------------------------------------------------------------------------------------------------------


def wanted() -> dict[str, str]:
    """The session's view as query parameters."""
    ss = st.session_state
    page = ss.get(PAGE_KEY)
    want: dict[str, str] = {}
    if cid := current_id():
        want["ckpt"] = cid
    for link in _LINKS.get(page, ()):
        want.update(link.params())
    return want


def write() -> None:
    """Mirror the view into the URL (only when it changed: each write is a message to the browser)."""
    want = wanted()
    if want != _url():
        st.query_params.from_dict(want)
    ss = st.session_state
    ss[LAST_KEY] = want
    written = [u for u in ss.get(WRITTEN_KEY, []) if u != want]
    ss[WRITTEN_KEY] = (written + [want])[-WRITTEN_KEPT:]
