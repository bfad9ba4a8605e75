"""Small ONNX files that ask for a lot of memory, and the peak memory an import of one costs, measured in a child.

The peak is the child's `ru_maxrss` (resident set, so protobuf's C++ allocations count: tracemalloc misses them),
taken after the child has imported everything and loaded the digits, and again after the import was refused.
Shared by tests/test_onnx_import.py and bench/onnx_bombs.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
CONCAT_REPEATS = 200  # of one 1M-float initializer: 800 MB from a 4 MB file (the reviewer's case)
GATHER_INDEX = 200_000  # rows picked from a (1000, 1000) initializer: 800 MB from a 6 MB file
CONSTANT_INTS = 15_000_000  # value_ints of one unused Constant: a 30 MB file


def decoder(nodes=(), inits=()) -> bytes:
    """A decoder (B, 2) -> (B, 64) by one MatMul, with `nodes` beside it (their outputs unused)."""
    w = numpy_helper.from_array(np.ones((2, 64), np.float32), "mw")
    g = helper.make_graph([helper.make_node("MatMul", ["z", "mw"], ["y"], name="mm"), *nodes], "g",
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 64])], [w, *inits])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def encoder() -> bytes:
    """An encoder for the bombs: (B, 1, 8, 8) -> Flatten -> mu, logvar by one Gemm each, latent dim 2."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.1, (64, 2)).astype(np.float32), n) for n in ("wm", "wl")]
    g = helper.make_graph([helper.make_node("Flatten", ["x"], ["h"]), helper.make_node("Gemm", ["h", "wm"], ["mu"]),
                           helper.make_node("Gemm", ["h", "wl"], ["logvar"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 8, 8])],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 2]) for n in ("mu", "logvar")],
                          inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def big_constant(base: bytes, n: int = CONSTANT_INTS, name: str = "big_const", value: int = 300) -> bytes:
    """`base` with one more node, Constant(value_ints=[300] * n), written as protobuf bytes directly: built through
    onnx.helper it would cost this process the memory the test measures in the child. Serialized messages that are
    concatenated merge, so the node is appended to the graph's nodes (ModelProto.graph = 7, GraphProto.node = 1)."""
    ints = np.tile(np.frombuffer(_varint(value), np.uint8), n).tobytes()  # packed varints
    attr = _field(1, b"value_ints") + _varint(20 << 3) + _varint(7) + _field(8, ints)  # name, type INTS, ints
    node = _field(2, name.encode()) + _field(3, name.encode()) + _field(4, b"Constant") + _field(5, attr)
    return base + _field(7, _field(1, node))


def bomb(kind: str) -> bytes:
    """A decoder file that folds (or parses) into far more memory than it holds: concat | gather | mod | constant |
    ints-63mb."""
    if kind == "concat":
        w = numpy_helper.from_array(np.zeros(1_000_000, np.float32), "w")
        return decoder([helper.make_node("Concat", ["w"] * CONCAT_REPEATS, ["big"], name="concat_bomb", axis=0)], [w])
    if kind == "gather":
        w = numpy_helper.from_array(np.zeros((1000, 1000), np.float32), "w")
        idx = numpy_helper.from_array(np.zeros(GATHER_INDEX, np.int64), "idx")
        return decoder([helper.make_node("Gather", ["w", "idx"], ["big"], name="gather_bomb", axis=0)], [w, idx])
    if kind == "mod":  # (10000, 1) % (1, 10000) broadcasts to 100M numbers
        a = numpy_helper.from_array(np.ones((10_000, 1), np.float32), "a")
        b = numpy_helper.from_array(np.ones((1, 10_000), np.float32), "b")
        return decoder([helper.make_node("Mod", ["a", "b"], ["big"], name="mod_bomb", fmod=1)], [a, b])
    if kind == "constant":
        return big_constant(decoder([], []))
    if kind == "ints-63mb":  # 1-byte varints: the most ints a file within the 64 MB quota holds
        return big_constant(decoder([], []), n=63 * 1024**2, name="packed_ints", value=1)
    raise KeyError(kind)


CHILD = """
import json, resource, sys
from pathlib import Path
enc, dec, out = (Path(p) for p in sys.argv[1:4])
from vae.config import DataConfig
from vae.data import load
from vae.onnx_import import import_onnx
from vae.onnx_safe import OnnxError
import onnx.reference  # everything an import uses, loaded before the first reading
load(DataConfig())
blobs = enc.read_bytes(), dec.read_bytes()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    import_onnx(*blobs, data="digits", out=out)
    msg = None
except OnnxError as e:
    msg = str(e)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"error": msg, "peak_growth_mb": (after - before) / 1024}))
"""


def peak_import(encoder: bytes, decoder: bytes, folder: Path) -> dict:
    """{"error": the OnnxError's message or None, "peak_growth_mb": how far the import raised the child's peak RSS}."""
    (folder / "out").mkdir(parents=True, exist_ok=True)
    (folder / "enc.onnx").write_bytes(encoder)
    (folder / "dec.onnx").write_bytes(decoder)
    r = subprocess.run([sys.executable, "-c", CHILD, str(folder / "enc.onnx"), str(folder / "dec.onnx"),
                        str(folder / "out" / "m.safetensors")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])
