"""What the in-browser components are sent: heavy parts once per session, keyed by their content.

A part (a decoder, an encoder, a view's points, a thumbnail atlas, a colouring) is keyed by a hash of its content,
so two checkpoints on the same test split share one atlas and Compare reuses the map's decoders. A payload names
its parts as {"$part": key}; the parts this session's browser does not hold yet travel with it under "$parts", and
then the payload goes as vae.wire's binary container (no base64); without any it is plain JSON of a few hundred
bytes. The JS (`VaeOps.receive`, ui/components/vae_ops.js) keeps every part for the page's life, the last
MAX_PARTS, as this side assumes: a rerun, a remount after a page switch or another checkpoint and back cost the
small per-rerun part only. A browser that lacks a part after all (a reload is a new session, so only a lost
message) asks for it with a "need_static" trigger, and the next rerun sends it.

A `Lazy` part goes only once the browser has asked for it (the same trigger): until then the payload names it as
{"$lazy": key}. The map's encoder is one: only the draw pad needs it, and most visits never draw.

Session keys (not `map_`: they outlive a checkpoint): parts_sent, the keys this session's browser holds, oldest
first; parts_wanted, the keys it asked for.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import streamlit as st

from vae import wire

K_SENT, K_WANTED = "parts_sent", "parts_wanted"
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


@dataclass(frozen=True, eq=False)
class Lazy:
    """A part sent once the browser asks for it; until then only its key."""

    part: Part


def make_part(content: Any) -> Part:
    """A part named by the SHA-1 of its packed bytes ("p" + 16 hex digits: never an array index in JS)."""
    return Part("p" + hashlib.sha1(wire.pack(content)).hexdigest()[: KEY_CHARS - 1], content)


def _refs(v, found: dict[str, Part], wanted: set[str]):
    if isinstance(v, Lazy):
        if v.part.key not in wanted:
            return {"$lazy": v.part.key}
        v = v.part
    if isinstance(v, Part):
        found[v.key] = v
        return v.ref
    if isinstance(v, dict):
        return {k: _refs(x, found, wanted) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_refs(x, found, wanted) for x in v]
    return v


def _keys(name: str) -> list[str]:
    return [k for k in st.session_state.get(name) or [] if isinstance(k, str)]


def payload(data: dict) -> dict | bytes:
    """`data` with each Part in it replaced by its ref (a Lazy one by its key until asked for), and the parts this
    session has not sent yet: bytes when any go, JSON otherwise."""
    found: dict[str, Part] = {}
    data = _refs(data, found, set(_keys(K_WANTED)))
    sent = _keys(K_SENT)
    new = {k: p.content for k, p in found.items() if k not in sent}
    if not new:
        return {**data, "$keep": MAX_PARTS}
    st.session_state[K_SENT] = ([k for k in sent if k not in new] + list(new))[-MAX_PARTS:]
    return wire.pack({**data, "$keep": MAX_PARTS, "$parts": new})


def forget(keys) -> None:
    """The browser asks for these parts (it lost them, or wants a Lazy one): they go with the next payload.
    Anything else is ignored."""
    if not isinstance(keys, list):
        return
    asked = [k for k in keys[:MAX_PARTS] if isinstance(k, str) and len(k) == KEY_CHARS]
    st.session_state[K_SENT] = [k for k in _keys(K_SENT) if k not in asked]
    st.session_state[K_WANTED] = ([k for k in _keys(K_WANTED) if k not in asked] + asked)[-MAX_PARTS:]
