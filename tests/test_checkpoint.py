"""Checkpoints: exact round trips, refusal of pickles and malformed files, atomic writes, safe run names."""

from __future__ import annotations

import json
import os
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save

from vae.checkpoint import (FORMAT, CheckpointError, atomic_write_bytes, load_checkpoint,
                            read_metadata, run_path, sanitize_run_name, save_checkpoint, update_metadata)
from vae.config import ConfigError, ModelConfig, TrainConfig
from vae.model import build_model


def _model(kind="vae", arch="mlp", **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, arch=arch, latent_dim=3, hidden=(16,), channels=(4, 8), **kw)
    model = build_model(cfg)
    if kind == "pca":
        model.fit(torch.rand(40, *cfg.input_shape))
    return model.eval()


@pytest.mark.parametrize("kind", ["vae", "ae", "pca"])
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_round_trip_gives_identical_outputs(tmp_path, kind, arch):
    model = _model(kind, arch, likelihood="gaussian", learn_sigma=True)
    path = save_checkpoint(tmp_path / "m.safetensors", model, train=TrainConfig(epochs=3), data={"name": "digits"},
                           history=[{"epoch": 1, "recon": 1.0}], extra={"status": "done"})
    ckpt = load_checkpoint(path)
    assert ckpt.model_config == model.config and ckpt.train_config == TrainConfig(epochs=3)
    assert ckpt.history == [{"epoch": 1, "recon": 1.0}] and ckpt.data == {"name": "digits"} and ckpt.meta["status"] == "done"
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model.encode(x).mu, ckpt.model.encode(x).mu)
        z = torch.randn(4, 3)
        assert torch.equal(model.decoder_output(z), ckpt.model.decoder_output(z))
    assert not ckpt.model.training


def test_bundled_demos_load():
    demos = sorted(Path(__file__).resolve().parents[1].joinpath("checkpoints", "demos").glob("*.safetensors"))
    assert len(demos) >= 4
    for p in demos:
        assert load_checkpoint(p).history


class _Payload:
    """Unpickling this would create the marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt", ".safetensors", ".bin"])
def test_malicious_pickle_is_refused_without_running_code(tmp_path, suffix):
    marker = tmp_path / "PWNED"
    path = tmp_path / f"evil{suffix}"
    path.write_bytes(pickle.dumps({"state_dict": _Payload(marker)}))
    torch.save({"x": _Payload(marker)}, tmp_path / f"evil2{suffix}")  # a zip-format torch pickle too
    assert not marker.exists()
    for p in (path, tmp_path / f"evil2{suffix}"):
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(p)
        assert p.name in str(e.value)
        with pytest.raises(CheckpointError):
            read_metadata(p)
    assert not marker.exists()
    pickle.loads(path.read_bytes())["state_dict"].close()  # the payload is live: loading it the unsafe way would run it
    assert marker.exists()


def _valid(tmp_path) -> Path:
    return save_checkpoint(tmp_path / "ok.safetensors", _model(), history=[{"epoch": 1}])


def _raw(tmp_path, header: dict, data: bytes = b"", name="bad.safetensors") -> Path:
    blob = json.dumps(header).encode()
    path = tmp_path / name
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


def _with_meta(tmp_path, meta: dict, model=None) -> Path:
    model = model or _model()
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = tmp_path / "meta.safetensors"
    path.write_bytes(st_save(tensors, metadata={"format": FORMAT, "meta": json.dumps(meta)}))
    return path


def _good_meta(**changes):
    meta = {"format": FORMAT, "format_version": 1, "model": _model().config.to_dict(), "data": {}, "history": []}
    meta.update(changes)
    return meta


def test_malformed_files_give_clear_errors(tmp_path):
    good = _valid(tmp_path)
    blob = good.read_bytes()
    cases = {
        "empty": (b"", "empty"),
        "tiny": (b"abc", "truncated"),
        "truncated": (blob[: len(blob) // 2], "truncated"),
        "padded": (blob + b"\0" * 16, "padded"),
        "huge-header": (struct.pack("<Q", 2**40) + b"{}", "bad header length"),
        "not-json": (struct.pack("<Q", 6) + b"\xff\xfenot{", "not JSON"),
        "json-list": (struct.pack("<Q", 2) + b"[]", "not an object"),
    }
    for name, (data, words) in cases.items():
        p = tmp_path / f"{name}.safetensors"
        p.write_bytes(data)
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(p)
        assert words in str(e.value) and p.name in str(e.value), (name, str(e.value))
    with pytest.raises(CheckpointError, match="data_offsets"):
        load_checkpoint(_raw(tmp_path, {"w": {"dtype": "F32", "shape": [1], "data_offsets": 5}}))
    with pytest.raises(CheckpointError, match="__metadata__"):
        load_checkpoint(_raw(tmp_path, {"__metadata__": ["x"]}))
    with pytest.raises(CheckpointError, match="not a VAE Latent Explorer checkpoint"):
        load_checkpoint(_raw(tmp_path, {"__metadata__": {"format": "other"}}))
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "missing.safetensors")


@pytest.mark.parametrize(
    "meta, words",
    [
        (_good_meta(format_version=99), "format version"),
        (_good_meta(model={**ModelConfig(latent_dim=3, hidden=(16,)).to_dict(), "latent_dim": 10**9}), "latent_dim"),
        (_good_meta(model={**ModelConfig(latent_dim=3, hidden=(16,)).to_dict(), "hidden": [4096] * 8}), "architecture"),
        (_good_meta(model={**ModelConfig(latent_dim=3, hidden=(16,)).to_dict(), "evil": 1}), "model config is invalid"),
        (_good_meta(train={"epochs": -1}), "train config is invalid"),
        (_good_meta(data={"shape": 5}), "data.shape"),
        (_good_meta(data={"name": ["x"]}), "data.name"),
        (_good_meta(data={"classes": [1, 2]}), "data.classes"),
        (_good_meta(history=[{"epoch": 1, "test": "oops"}]), "history[0].test"),
        (_good_meta(history=[{"epoch": 1, "recon": "20"}]), "numbers only"),
        (_good_meta(model="vae"), "field model must be a JSON object"),
        (_good_meta(history="lots"), "field history must be a list"),
        (_good_meta(history=[1, 2]), "history[0] must be an object"),
    ],
)
def test_bad_metadata_is_refused(tmp_path, meta, words):
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(_with_meta(tmp_path, meta))
    assert words in str(e.value)


def test_weights_from_another_architecture(tmp_path):
    other = _model(arch="conv")
    meta = _good_meta()  # says mlp
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(_with_meta(tmp_path, meta, model=other))
    wider = build_model(ModelConfig(latent_dim=3, hidden=(17,)))
    with pytest.raises(CheckpointError, match=r"has shape .* expected"):
        load_checkpoint(_with_meta(tmp_path, meta, model=wider))


def test_non_finite_weights_are_refused(tmp_path):
    model = _model()
    with torch.no_grad():
        model.to_mu.weight[0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(save_checkpoint(tmp_path / "nan.safetensors", model))


def test_atomic_write_leaves_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "a.safetensors"
    for _ in range(3):
        save_checkpoint(path, _model())
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.safetensors"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_current_umask())


def test_failed_write_keeps_the_old_file_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"old")

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_update_metadata_keeps_tensors(tmp_path):
    path = _valid(tmp_path)
    before = load_checkpoint(path).model.state_dict()
    update_metadata(path, status="stopped", message="by request")
    after = load_checkpoint(path)
    assert after.meta["status"] == "stopped" and after.history == [{"epoch": 1}]
    assert all(torch.equal(v, after.model.state_dict()[k]) for k, v in before.items())


def test_save_refuses_other_suffixes(tmp_path):
    with pytest.raises(CheckpointError):
        save_checkpoint(tmp_path / "m.pt", _model())


@pytest.mark.parametrize(
    "name, expected",
    [
        ("my run", "my-run"),
        ("../../etc/passwd", "etc-passwd"),
        ("/abs/path/x", "abs-path-x"),
        ("..", None),
        ("", None),
        ("***", None),
        ("ok.safetensors", "ok"),
        ("β-vae (z=2)", "vae-z-2"),
        ("a" * 100, "a" * 64),
        ("..hidden", "hidden"),
        ("C:\\Users\\x", "C-Users-x"),
    ],
)
def test_sanitize_run_name(name, expected):
    if expected is None:
        with pytest.raises(ConfigError) as e:
            sanitize_run_name(name)
        assert e.value.field == "run_name"
    else:
        assert sanitize_run_name(name) == expected


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/../../b", "~/x", "nul\0byte"])
def test_run_path_stays_inside_root(tmp_path, name):
    p = run_path(tmp_path, name)
    assert p.parent == tmp_path.resolve() and p.suffix == ".safetensors"
