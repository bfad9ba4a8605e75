"""A look at an ONNX file's protobuf bytes before protobuf parses them: attribute lists (a Constant's value_ints)
longer than settings.ONNX_FOLDED are refused here, because parsing alone inflates them: a packed int takes one byte
of file and eight of memory, and the parser's array grows by doubling, so a 63 MB file cost 1 GB before any check.

Only the path ModelProto.graph -> GraphProto.node -> NodeProto.attribute is walked (field numbers of onnx.proto);
every other field is skipped by its length. Bytes that do not follow the wire format end the look quietly: the parse
that follows names them. Plain strings come back, not OnnxError, so this module needs nothing of vae/onnx_safe.py.
"""

from __future__ import annotations

import numpy as np

from vae import settings
from vae.errors import VaeError

MODEL_GRAPH, GRAPH_NODE, NODE_NAME, NODE_OP, NODE_ATTRIBUTE = 7, 1, 3, 4, 5
ATTR_NAME, ATTR_FLOATS, ATTR_INTS, ATTR_STRINGS = 1, 7, 8, 9
VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
CHUNK = 1 << 16  # bytes of packed ints counted at a time: the count stops as soon as it passes the limit


class _Malformed(VaeError):
    """Bytes off the wire format: caught in this module, where it ends the look (the parse that follows names them)."""


def _varint(buf: memoryview, i: int, end: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if i >= end or shift > 63:
            raise _Malformed
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return n, i
        shift += 7


def _fields(buf: memoryview, start: int, end: int):
    """(field number, wire type, payload start, payload end) of one message's fields."""
    i = start
    while i < end:
        key, i = _varint(buf, i, end)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            _, j = _varint(buf, i, end)
        elif wire == LEN:
            n, i = _varint(buf, i, end)
            j = i + n
        elif wire in (FIXED64, FIXED32):
            j = i + (8 if wire == FIXED64 else 4)
        else:
            raise _Malformed
        if j > end:
            raise _Malformed
        yield number, wire, i, j
        i = j


def _list_length(buf: memoryview, start: int, end: int, limit: int) -> tuple[str, int]:
    """An AttributeProto's name and how many values its lists hold (counting stops just past `limit`)."""
    name, n = "", 0
    for number, wire, a, b in _fields(buf, start, end):
        if number == ATTR_NAME and wire == LEN:
            name = bytes(buf[a:b]).decode(errors="replace")
        elif number == ATTR_INTS and wire == LEN:  # packed varints: one ends at each byte below 0x80
            for c in range(a, b, CHUNK):
                n += int(np.count_nonzero(np.frombuffer(buf[c:min(b, c + CHUNK)], np.uint8) < 0x80))
                if n > limit:
                    break
        elif number == ATTR_FLOATS and wire == LEN:  # packed float32
            n += (b - a) // 4
        elif number in (ATTR_INTS, ATTR_FLOATS, ATTR_STRINGS):  # one value per field
            n += 1
        if n > limit:
            break
    return name, n


def list_problem(blob: bytes, what: str) -> str | None:
    """Why the file is refused (naming the node, its op and the attribute whose list is longer than
    settings.ONNX_FOLDED, or all lists together above settings.ONNX_WEIGHTS values), or None; onnx_safe raises it."""
    buf, limit, weights, total = memoryview(blob), settings.ONNX_FOLDED.value(), settings.ONNX_WEIGHTS.value(), 0
    try:
        for number, wire, g0, g1 in _fields(buf, 0, len(buf)):
            if number != MODEL_GRAPH or wire != LEN:
                continue
            for number, wire, n0, n1 in _fields(buf, g0, g1):
                if number != GRAPH_NODE or wire != LEN:
                    continue
                name = op = ""
                for number, wire, a, b in _fields(buf, n0, n1):
                    if number in (NODE_NAME, NODE_OP) and wire == LEN:
                        text = bytes(buf[a:b][:60]).decode(errors="replace")
                        name, op = (text, op) if number == NODE_NAME else (name, text)
                    elif number == NODE_ATTRIBUTE and wire == LEN:
                        attr, n = _list_length(buf, a, b, limit)
                        if n > limit:
                            return (f"{what}: node {(name or '?')!r} (op {op or '?'}) attribute {attr[:40]!r} lists "
                                    f"more than {limit:,} values, above the {settings.ONNX_FOLDED.shown()} limit on an "
                                    f"attribute's list (set {settings.ONNX_FOLDED.env} to change it)")
                        total += n
                        if total > weights:  # many lists each below the limit: they count as declared numbers
                            return (f"{what}: its attributes list more than {weights:,} values, above the "
                                    f"{settings.ONNX_WEIGHTS.shown()} limit (set {settings.ONNX_WEIGHTS.env} to change it)")
    except _Malformed:
        pass
    return None
