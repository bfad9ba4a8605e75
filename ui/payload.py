"""What the in-browser components are sent: heavy parts once per session, keyed by their content.

A part (a decoder, an encoder, a view's points, a thumbnail atlas, a colouring) is keyed by a hash of its content,
so two checkpoints on the same test split share one atlas and Compare reuses the map's decoders. A payload names
its parts as {"$part": key}; the parts this session's browser does not hold yet travel with it under "$parts", and
then the payload goes as vae.wire's binary container (no base64); without any it is plain JSON of a few hundred
bytes. The JS (`VaeOps.receive`, ui/components/vae_ops.js) keeps every part for the page's life, the last
MAX_PARTS, as this side assumes: a rerun, a remount after a page switch or another checkpoint and back cost the
small per-rerun part only. A browser that lacks a part after all (a reload is a new session, so only a lost
message) asks for it with a "need_static" trigger, and the next rerun sends it.

Session key: parts_sent, the keys this session's browser holds, oldest first (not `map_`: it outlives a checkpoint).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import streamlit as st

from vae import wire

K_SENT = "parts_sent"
MAX_PARTS = 16  # the JS keeps as many (sent as "$keep"): a model's two programs, a view, an atlas, a colouring...
KEY_CHARS = 17


@dataclass(frozen=True, eq=False)
class Part:
    """Content (JSON-like, with bytes for arrays) and the hash that names it."""

    key: str
    content: Any

    @property
    def ref(self) -> dict:
        return {"$part": self.key}

    @property
    def nbytes(self) -> int:
        """Bytes of this part on the wire, in the container."""
        return len(wire.pack(self.content))


def make_part(content: Any) -> Part:
    """A part named by the SHA-1 of its packed bytes ("p" + 16 hex digits: never an array index in JS)."""
    return Part("p" + hashlib.sha1(wire.pack(content)).hexdigest()[: KEY_CHARS - 1], content)


def _refs(v, found: dict[str, Part]):
    if isinstance(v, Part):
        found[v.key] = v
        return v.ref
    if isinstance(v, dict):
        return {k: _refs(x, found) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_refs(x, found) for x in v]
    return v


def payload(data: dict) -> dict | bytes:
    """`data` with each Part in it replaced by its ref, and the parts this session has not sent yet: bytes when
    any go, JSON otherwise."""
    found: dict[str, Part] = {}
    data = _refs(data, found)
    sent = [k for k in st.session_state.get(K_SENT) or [] if isinstance(k, str)]
    new = {k: p.content for k, p in found.items() if k not in sent}
    if not new:
        return {**data, "$keep": MAX_PARTS}
    st.session_state[K_SENT] = ([k for k in sent if k not in new] + list(new))[-MAX_PARTS:]
    return wire.pack({**data, "$keep": MAX_PARTS, "$parts": new})


def forget(keys) -> None:
    """The browser says it lacks these parts: they go again with the next payload. Anything else is ignored."""
    if not isinstance(keys, list):
        return
    lost = {k for k in keys[:MAX_PARTS] if isinstance(k, str) and len(k) == KEY_CHARS}
    st.session_state[K_SENT] = [k for k in st.session_state.get(K_SENT) or [] if k not in lost]
