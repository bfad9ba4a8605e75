"""What the browser is sent: exported weights quantised, and one binary container for a payload that holds arrays.

Weights (`quantise`): every array of an exported program (vae/export.py) goes as float16, or as per-tensor int8
with a float32 scale (w = q * scale) where the program still computes what the model does: decoded images within
DECODE_TOL, encoder outputs [mu, logvar] within ENCODE_TOL. Each choice is checked with the float64 reference
interpreter on random inputs, so a quantised program is within tolerance by construction; one that float16 cannot
keep within it stays float32. `dequantise` gives back the float32 values the browser computes with: vae_ops.js
(`VaeOps.f32`) widens float16 exactly and rounds q * scale to float32 exactly as numpy does.

Container (`pack` / `unpack`, mirrored by `VaeOps.unpack`): b"VAE1", the header's length as u32 little-endian,
the header as UTF-8 JSON, zero padding to 8 bytes, then the blobs, each at an 8-byte-aligned offset. Every bytes
or ndarray value of the payload stands in the header as {"$blob": [offset, nbytes]}. Streamlit's components v2
sends top-level bytes as they are, so binary data skips base64's 4/3.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from vae.export import run_program

MAGIC = b"VAE1"
DECODE_TOL = 2e-3  # decoded mean images in [0, 1] (issue 15); float16 keeps MNIST MLPs near 4e-4, int8 near 3e-2
ENCODE_TOL = 5e-2  # latent units: under 3 px on the map's default +-4 over 460 px, 5 % of sigma; drawings' exact
#                    recon and KL are computed on the server
MARGIN = 0.5  # a choice is kept at half the tolerance on the check inputs, so that other inputs stay within it
INT8_MIN_SIZE = 4096  # smaller arrays stay float16: int8 would save little and their scale costs accuracy
CHECK_INPUTS = 8
DTYPES = {"f16": "<f2", "i8": "i1", "f32": "<f4"}


# --- one array ---------------------------------------------------------------------------------------------------


def encode_tensor(a: np.ndarray, dtype: str) -> dict:
    """{'dtype', 'shape', 'data': bytes} (+ 'scale' for int8) of a float array."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    t: dict = {"dtype": dtype, "shape": [int(s) for s in a.shape]}
    if dtype == "i8":
        peak = float(np.abs(a).max()) if a.size else 0.0
        scale = np.float32(peak / 127) if peak > 0 else np.float32(1)
        t["scale"] = float(scale)
        t["data"] = np.clip(np.rint(a / scale), -127, 127).astype(np.int8).tobytes()
    elif dtype in DTYPES:
        with np.errstate(over="ignore"):  # past float16's 65504: inf, which the caller's check refuses
            t["data"] = a.astype(DTYPES[dtype]).tobytes()
    else:
        raise ValueError(f"unknown weight dtype {dtype!r} (one of {', '.join(DTYPES)})")
    return t


def tensor_values(t: dict) -> np.ndarray:
    """The float32 values the browser computes with for an encoded array."""
    a = np.frombuffer(t["data"], DTYPES[t["dtype"]]).astype(np.float32)
    if t["dtype"] == "i8":
        a = a * np.float32(t["scale"])  # float32 product, correctly rounded: what a Float32Array store gives in JS
    return a.reshape(t["shape"])


# --- whole programs ----------------------------------------------------------------------------------------------


def _is_array(v) -> bool:
    return isinstance(v, np.ndarray) or (isinstance(v, dict) and "dtype" in v and "data" in v)


def _map_arrays(program: dict, fn) -> dict:
    """The program with fn(array, (op index, field)) in place of every array (ndarray or encoded tensor) of its
    ops, whatever the op and the field: new ops need nothing here."""
    ops = [{k: (fn(v, (i, k)) if _is_array(v) else v) for k, v in op.items()} for i, op in enumerate(program["ops"])]
    return {**program, "ops": ops}


def _inputs(exported: dict, which: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if which == "decoder":
        return rng.normal(0, 2, (n, exported["latent_dim"]))  # wider than the prior: the map's corners too
    return rng.uniform(0, 1, (n, *exported["input_shape"]))


def _worst(program: dict, dtypes: dict, x: np.ndarray, ref: np.ndarray) -> float:
    trial = _map_arrays(program, lambda a, at: tensor_values(encode_tensor(a, dtypes[at])))
    got = np.stack([run_program(trial, xi).ravel() for xi in x])
    return float(np.abs(got - ref).max())


def _choose(exported: dict, which: str, n: int, seed: int) -> tuple[dict, float]:
    """dtype per array of one program: float16 everywhere if that keeps within tolerance (else float32), then int8
    for the largest arrays one by one while it still does. Returns ({(op, field): dtype}, the worst error)."""
    program, limit = exported[which], MARGIN * (DECODE_TOL if which == "decoder" else ENCODE_TOL)
    x = _inputs(exported, which, n, seed)
    ref = np.stack([run_program(program, xi).ravel() for xi in x])
    arrays: dict = {}
    _map_arrays(program, lambda a, at: arrays.setdefault(at, a))
    dtypes = {at: "f16" for at in arrays}
    err = _worst(program, dtypes, x, ref)
    if not err <= limit:  # NaN too: float16 overflows past 65504
        return {at: "f32" for at in arrays}, _worst(program, {at: "f32" for at in arrays}, x, ref)
    for at in sorted((at for at, a in arrays.items() if a.size >= INT8_MIN_SIZE), key=lambda at: -arrays[at].size):
        trial = {**dtypes, at: "i8"}
        e = _worst(program, trial, x, ref)
        if e <= limit:
            dtypes, err = trial, e
    return dtypes, err


def quantise(exported: dict, n: int = CHECK_INPUTS, seed: int = 0) -> dict:
    """The export with every array of its programs as an encoded tensor (see encode_tensor), and per program its
    dtypes and the worst difference from the float32 program on the check inputs: {'quantised': {which: {...}}}."""
    out = {k: v for k, v in exported.items() if k not in ("encoder", "decoder")}
    out["quantised"] = {}
    for which in ("encoder", "decoder"):
        dtypes, err = _choose(exported, which, n, seed)
        out[which] = _map_arrays(exported[which], lambda a, at, dtypes=dtypes: encode_tensor(a, dtypes[at]))
        counts = {d: sum(1 for v in dtypes.values() if v == d) for d in sorted(set(dtypes.values()))}
        out["quantised"][which] = {"dtypes": counts, "max_error": err}
    return out


def dequantise(quantised: dict) -> dict:
    """A quantised export as an export again (float32 arrays): what the browser runs, for run_program and torch."""
    out = {k: v for k, v in quantised.items() if k != "quantised"}
    for which in ("encoder", "decoder"):
        out[which] = _map_arrays(quantised[which], lambda t, at: tensor_values(t))
    return out


def program_bytes(program: dict) -> int:
    """Bytes of a quantised program's arrays on the wire."""
    total = [0]
    _map_arrays(program, lambda t, at: total.__setitem__(0, total[0] + len(t["data"])))
    return total[0]


# --- the container -----------------------------------------------------------------------------------------------


def _pad(n: int) -> int:
    return -n % 8


def pack(payload) -> bytes:
    """A JSON-like payload whose bytes / ndarray values become blobs; see the module docstring."""
    blobs: list[bytes] = []
    at = [0]

    def walk(v):
        if isinstance(v, np.ndarray):
            v = np.ascontiguousarray(v).astype(v.dtype.newbyteorder("<"), copy=False).tobytes()
        if isinstance(v, (bytes, bytearray, memoryview)):
            b = bytes(v)
            ref = {"$blob": [at[0], len(b)]}
            blobs.append(b)
            at[0] += len(b) + _pad(len(b))
            return ref
        if isinstance(v, dict):
            return {str(k): walk(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        return v

    header = json.dumps(walk(payload), separators=(",", ":"), allow_nan=False).encode("utf-8")
    parts = [MAGIC, struct.pack("<I", len(header)), header, b"\0" * _pad(8 + len(header))]
    for b in blobs:
        parts += [b, b"\0" * _pad(len(b))]
    return b"".join(parts)


def unpack(data: bytes):
    """pack's inverse (blobs come back as bytes); ValueError for anything that is not such a container."""
    if len(data) < 8 or data[:4] != MAGIC:
        raise ValueError("not a VAE1 payload")
    (n,) = struct.unpack("<I", data[4:8])
    if 8 + n > len(data):
        raise ValueError(f"VAE1 header of {n} bytes runs past the payload's {len(data)}")
    base = 8 + n + _pad(8 + n)

    def walk(v):
        if isinstance(v, dict):
            if set(v) == {"$blob"}:
                off, size = v["$blob"]
                if not (off >= 0 and size >= 0 and base + off + size <= len(data)):
                    raise ValueError(f"blob [{off}, {size}] runs past the payload")
                return data[base + off : base + off + size]
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    return walk(json.loads(data[8 : 8 + n].decode("utf-8")))
