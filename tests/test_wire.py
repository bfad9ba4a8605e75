"""vae.wire: the quantised weights (against numpy's own float16 and the int8 bound) and the binary container."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from vae import wire
from vae.config import ModelConfig
from vae.export import export_model, run_program, weight_bytes
from vae.model import build_model


def test_float16_and_int8_values_are_what_they_claim():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.1, (50, 40)).astype(np.float32)
    f16 = wire.tensor_values(wire.encode_tensor(a, "f16"))
    assert f16.dtype == np.float32 and np.array_equal(f16, a.astype(np.float16).astype(np.float32))
    t = wire.encode_tensor(a, "i8")
    q = np.frombuffer(t["data"], np.int8)
    assert len(t["data"]) == a.size and np.abs(q).max() == 127  # the peak uses the whole range
    assert t["scale"] == pytest.approx(np.abs(a).max() / 127, rel=1e-6)
    got = wire.tensor_values(t)
    assert np.abs(got - a).max() <= t["scale"] / 2 * (1 + 1e-5)  # round to nearest: half a step at most
    assert np.array_equal(got, q.reshape(a.shape).astype(np.float32) * np.float32(t["scale"]))
    zero = wire.tensor_values(wire.encode_tensor(np.zeros(5), "i8"))
    assert np.array_equal(zero, np.zeros(5))
    assert np.array_equal(wire.tensor_values(wire.encode_tensor(a, "f32")), a)
    with pytest.raises(ValueError, match="unknown weight dtype"):
        wire.encode_tensor(a, "f8")


def _mlp(hidden=(400,), scale=1.0, seed=0):
    torch.manual_seed(seed)
    model = build_model(ModelConfig(kind="vae", input_shape=(1, 28, 28), hidden=hidden)).eval()
    for p in model.parameters():
        p.data.mul_(scale)
    return model


def test_quantise_stays_within_tolerance_and_shrinks_the_weights():
    exported = export_model(_mlp(scale=1.5))
    q = wire.quantise(exported)
    back = wire.dequantise(q)
    rng = np.random.default_rng(5)  # other inputs than the quantiser checked
    for which, x, tol in (("decoder", rng.normal(0, 2, (16, 2)), wire.DECODE_TOL),
                          ("encoder", rng.uniform(0, 1, (16, 1, 28, 28)), wire.ENCODE_TOL)):
        ref = np.stack([run_program(exported[which], xi).ravel() for xi in x])
        got = np.stack([run_program(back[which], xi).ravel() for xi in x])
        assert 0 < np.abs(got - ref).max() <= tol, which
        assert q["quantised"][which]["max_error"] <= wire.MARGIN * tol
    sent = wire.program_bytes(q["encoder"]) + wire.program_bytes(q["decoder"])
    assert sent <= 0.5 * weight_bytes(exported)  # float16 at most, int8 where it fits


def test_int8_only_where_it_keeps_within_tolerance_and_float32_past_float16s_range():
    exported = export_model(_mlp())
    q = wire.quantise(exported)
    enc, dec = ([op["weight"] for op in q[w]["ops"] if "weight" in op][0 if w == "encoder" else -1]
                for w in ("encoder", "decoder"))
    assert enc["shape"] == [400, 784] and enc["dtype"] == "i8"  # the encoder's big matrix fits in int8
    assert dec["shape"] == [784, 400] and dec["dtype"] == "f16"  # the decoder's does not: the images would move
    forced = wire.dequantise(q)
    big = exported["decoder"]["ops"][-3]["weight"]
    forced["decoder"]["ops"][-3]["weight"] = wire.tensor_values(wire.encode_tensor(big, "i8"))
    z = np.random.default_rng(0).normal(0, 2, (8, 2))
    err = max(np.abs(run_program(forced["decoder"], zi) - run_program(exported["decoder"], zi)).max() for zi in z)
    assert err > wire.MARGIN * wire.DECODE_TOL  # why: int8 there is past the limit
    exported["encoder"]["ops"][-1]["bias"][0] = 1e5  # mu past float16's 65504 (inf): float32 keeps it
    with np.errstate(over="ignore"):
        q = wire.quantise(exported)
    assert {op["weight"]["dtype"] for op in q["encoder"]["ops"] if "weight" in op} == {"f32"}
    assert q["quantised"]["encoder"]["max_error"] == 0


def test_the_container_round_trips_and_aligns_its_blobs():
    payload = {"a": [1, "x", None, {"b": b"\x01\x02\x03"}], "w": np.arange(5, dtype=np.float32),
               "nested": {"c": bytearray(b"\xff" * 9)}, "text": "é"}
    data = wire.pack(payload)
    assert data[:4] == b"VAE1"
    (n,) = struct.unpack("<I", data[4:8])
    base = 8 + n + (-(8 + n) % 8)
    assert base % 8 == 0
    back = wire.unpack(data)
    assert back["a"][:3] == [1, "x", None] and back["a"][3]["b"] == b"\x01\x02\x03" and back["text"] == "é"
    assert np.array_equal(np.frombuffer(back["w"], "<f4"), np.arange(5)) and back["nested"]["c"] == b"\xff" * 9
    import json

    header = json.loads(data[8 : 8 + n])
    offsets = [header["a"][3]["b"]["$blob"][0], header["w"]["$blob"][0], header["nested"]["c"]["$blob"][0]]
    assert offsets == [0, 8, 32] and all(o % 8 == 0 for o in offsets)  # 3 -> 8, 20 -> 24 (+8), 9
    with pytest.raises(ValueError):
        wire.pack({"x": float("nan")})  # JSON.parse in the browser would refuse it


@pytest.mark.parametrize("bad", [b"", b"VAE1", b"XXXX\x00\x00\x00\x00", b"VAE1\xff\x00\x00\x00{}",
                                 wire.pack({"b": b"12345678"})[:-8]])
def test_unpack_refuses_what_pack_did_not_make(bad):
    with pytest.raises(ValueError):
        wire.unpack(bad)
