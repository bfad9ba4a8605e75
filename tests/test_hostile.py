"""Hostile checkpoint metadata (findings 1, 6, 9, 10): refused with a reason on every load, never a crash.

Each case is a member of a class of input, not one example: wrong types, sizes, depth, integer range, non-finite
numbers, inconsistent data descriptions and exotic tensor dtypes. The files are written straight into the runs
folder, as an older version of the app (or a hand copy) could have left them, and then also uploaded.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save
from streamlit.testing.v1 import AppTest

from conftest import read_as_shown

from vae import schema
from vae.checkpoint import FORMAT, CheckpointError, load_checkpoint, read_metadata, save_checkpoint
from vae.config import ModelConfig, TrainConfig
from vae.model import build_model

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "pages/checkpoints.py"


def _good(tiny: Path) -> tuple[dict, dict]:
    """(tensors, meta) of a real checkpoint, to be spoiled one field at a time."""
    from safetensors.torch import load_file

    return load_file(str(tiny)), read_metadata(tiny)


def _write(path: Path, tensors: dict, meta_text: str) -> Path:
    path.write_bytes(st_save(tensors, metadata={"format": FORMAT, "meta": meta_text}))
    return path


def _nest(depth: int) -> str:
    return "[" * depth + "]" * depth


def _cases(meta: dict) -> dict[str, str]:
    """name -> metadata JSON text; every one must be refused."""
    def with_(**changes) -> str:
        return json.dumps({**meta, **changes})

    def data(**changes) -> str:
        return with_(data={**meta["data"], **changes})

    def history(entry: dict) -> str:
        return with_(history=[*meta["history"], entry])

    text = json.dumps(meta)
    return {
        "number-for-string": data(name=12345),
        "list-for-string": data(fingerprint=["a", "b"]),
        "dict-for-classes": data(classes={"0": "zero"}),
        "string-for-number": history({"epoch": 3, "recon": "12.5"}),
        "int-too-big-for-float": text[:-1] + ', "status_code": ' + "9" * 400 + "}",
        "int-5000-digits": text.replace('"epoch": 1,', '"epoch": ' + "1" * 5000 + ",", 1),
        "int-out-of-range": data(split_seed=2**70),
        "deep-nesting": text[:-1] + ', "x": ' + _nest(100_000) + "}",
        "moderate-nesting": text[:-1] + ', "x": ' + _nest(schema.MAX_DEPTH + 2) + "}",
        "nan-literal": text.replace('"epoch": 1,', '"epoch": NaN,', 1),
        "infinity-literal": text[:-1] + ', "x": -Infinity}',
        "float-overflow": text[:-1] + ', "x": 1e999}',
        "long-string": data(name="a" * 100_000),
        "long-class-name": data(classes=["x" * 10_000]),
        "nul-in-dataset-name": data(name="a\x00b.npz"),  # every path call on it raised ValueError
        "many-classes": data(classes=[str(i) for i in range(schema.MAX_CLASSES + 1)]),
        "long-history": with_(history=[{"epoch": i, "recon": 1.0} for i in range(schema.MAX_HISTORY + 1)]),
        "huge-header": with_(message="m" * (schema.MAX_HEADER_BYTES + 10)),
        "test-fraction-above-1": data(test_fraction=1.5),
        "test-fraction-zero": data(test_fraction=0),
        "bool-for-number": data(n_test=True),
        "shape-not-model": data(shape=[1, 28, 28]),
        "shape-too-big": data(shape=[1, 100000, 100000]),
        "split-unknown": data(split="sideways"),
        "empty-dataset-name": data(name="  "),
        "status-unknown": with_(status=["done"]),
        "kl-per-dim-too-long": history({"epoch": 3, "kl_per_dim": [0.0] * 10_000}),
        "too-many-keys": with_(extra={f"k{i}": i for i in range(schema.MAX_KEYS + 1)}),
        "not-an-object": json.dumps([meta]),
    }


# the reason each class must be refused with: a wrong reason (or a catch-all) is a message that misleads
REASONS = {
    "number-for-string": "field data.name must be a string",
    "list-for-string": "field data.fingerprint must be a string",
    "dict-for-classes": "field data.classes must list at most",
    "string-for-number": "history[2].recon must hold numbers only",
    "int-too-big-for-float": "an integer has 400 digits",
    "int-5000-digits": "an integer has 5000 digits",
    "int-out-of-range": "an integer has 22 digits",
    "deep-nesting": "nested 100001 levels deep",
    "moderate-nesting": f"nested {schema.MAX_DEPTH + 3} levels deep",
    "nan-literal": "NaN is not allowed",
    "infinity-literal": "-Infinity is not allowed",
    "float-overflow": "1e999 is too large",
    "long-string": "data.name is a string of 100000 characters",
    "long-class-name": "data.classes[0] is a string of 10000 characters",
    "nul-in-dataset-name": "field data.name holds a control character",
    "many-classes": f"field data.classes must list at most {schema.MAX_CLASSES} strings",
    "long-history": f"history lists {schema.MAX_HISTORY + 1} items",
    "huge-header": "header is larger than",
    "test-fraction-above-1": "field data.test_fraction must be a number in (0, 1)",
    "test-fraction-zero": "field data.test_fraction must be a number in (0, 1)",
    "bool-for-number": "field data.n_test must be an integer",
    "shape-not-model": "data.shape [1, 28, 28] does not match the model's input shape [1, 8, 8]",
    "shape-too-big": "field data.shape must be [C, H, W]",
    "split-unknown": "field data.split must be one of random, tail",
    "empty-dataset-name": "field data.name must not be empty",
    "status-unknown": "field status must be one of",
    "kl-per-dim-too-long": "history[2].kl_per_dim must list at most",
    "too-many-keys": f"metadata.extra has {schema.MAX_KEYS + 1} fields",
    "not-an-object": "metadata is not a JSON object",
}


def test_every_hostile_metadata_class_is_refused_with_its_reason(tiny_ckpts, tmp_path):
    tensors, meta = _good(tiny_ckpts["vae"])
    cases = _cases(meta)
    assert set(cases) == set(REASONS)
    for name, text in cases.items():
        path = _write(tmp_path / f"{name}.safetensors", tensors, text)
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(path)
        msg = str(e.value)
        assert msg.startswith(path.name + ": ") and len(msg) < 400, (name, msg[:500])
        assert REASONS[name] in msg, (name, msg)


def test_float8_and_other_exotic_dtypes_are_refused(tmp_path):
    """Weights must be F32/F16/BF16/F64; float8 (and ints, bools) give a message, never a traceback."""
    model = build_model(ModelConfig(latent_dim=2, hidden=(8,)))
    path = save_checkpoint(tmp_path / "ok.safetensors", model, train=TrainConfig(epochs=1))
    meta = read_metadata(path)
    for dtype in (torch.float8_e4m3fn, torch.float8_e5m2, torch.int32, torch.bool):
        tensors = {k: v.to(dtype) for k, v in model.state_dict().items()}
        bad = _write(tmp_path / f"{str(dtype).split('.')[-1]}.safetensors", tensors, json.dumps(meta))
        with pytest.raises(CheckpointError, match="dtype"):
            load_checkpoint(bad)


def test_a_half_precision_checkpoint_still_loads(tmp_path):
    model = build_model(ModelConfig(latent_dim=2, hidden=(8,)))
    path = save_checkpoint(tmp_path / "ok.safetensors", model, train=TrainConfig(epochs=1))
    half = _write(tmp_path / "half.safetensors", {k: v.half() for k, v in model.state_dict().items()},
                  json.dumps(read_metadata(path)))
    assert load_checkpoint(half).model_config.latent_dim == 2


def test_a_bad_header_length_or_deep_header_is_refused(tmp_path):
    deep = _nest(50_000).encode()
    p = tmp_path / "deep.safetensors"
    p.write_bytes(struct.pack("<Q", len(deep)) + deep)
    with pytest.raises(CheckpointError, match="nested"):
        load_checkpoint(p)


def test_long_runs_always_write_files_the_reader_accepts(tmp_path):
    """The writer thins a 10,000-epoch, 512-dim history to the header budget instead of writing a file we refuse."""
    model = build_model(ModelConfig(latent_dim=512, hidden=(8,)))
    hist = [{"epoch": i + 1, "recon": 1.0 + i, "kl": 0.5, "kl_per_dim": [0.001] * 512, "test": {"recon": 2.0}}
            for i in range(10_000)]
    path = save_checkpoint(tmp_path / "long.safetensors", model, train=TrainConfig(epochs=10_000), history=hist)
    h = load_checkpoint(path).history
    assert h[0]["epoch"] == 1 and h[-1] == hist[-1]  # first and last epoch kept whole
    assert [e["epoch"] for e in h] == sorted({e["epoch"] for e in h})  # in order, no repeats
    assert "kl_per_dim" in h[-1] and "kl_per_dim" not in h[0]


def test_json_depth_skips_strings():
    assert schema.json_depth(b'{"a": "[[[[[[[[[[", "b": [1, [2]]}') == 3
    assert schema.json_depth(b'{"a": "\\"[[[[[[[[[[\\""}') == 1


# ---- through the real page ----------------------------------------------------------------------------
def test_checkpoints_page_lists_hostile_files_as_invalid_and_deletes_them(tiny_ckpts, runs_dir):
    tensors, meta = _good(tiny_ckpts["vae"])
    cases = _cases(meta)
    picked = ["number-for-string", "int-too-big-for-float", "deep-nesting", "long-history", "huge-header",
              "shape-not-model", "nan-literal"]
    for name in picked:
        _write(runs_dir / f"{name}.safetensors", tensors, cases[name])
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    for name in picked:
        row = table[table["name"] == name].iloc[0]
        assert row["problem"].startswith("invalid: "), (name, row["problem"])
    # every invalid file can be picked, shows its reason, and can be deleted from the page
    for name in picked:
        at.selectbox(key="ckpts_pick").set_value(f"run/{name}").run()
        assert not at.exception
        assert at.error[0].value.startswith("invalid: ")
        at.checkbox(key="ckpts_confirm").check().run()
        at.button(key="ckpts_delete").click().run()
        assert not at.exception and not (runs_dir / f"{name}.safetensors").exists()
    assert list(runs_dir.glob("*.safetensors")) == []


def test_other_pages_survive_a_hostile_current_checkpoint(tiny_ckpts, runs_dir):
    """Opening an invalid file by ID (e.g. an old session) shows a message on every page, never a traceback."""
    tensors, meta = _good(tiny_ckpts["vae"])
    _write(runs_dir / "bad.safetensors", tensors, _cases(meta)["number-for-string"])
    for page in ("pages/latent_map.py", "pages/recon_kl.py", "pages/checkpoints.py", "pages/factors.py"):
        at = AppTest.from_file(APP, default_timeout=60)
        at.session_state["ckpt_id"] = "run/bad"
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        shown = [read_as_shown(e.value) for e in at.error]  # the message names the file and its reason
        assert any("bad.safetensors: " in m and REASONS["number-for-string"] in m for m in shown), (page, shown)


@pytest.mark.parametrize("name", ["number-for-string", "deep-nesting", "int-5000-digits", "shape-not-model",
                                  "test-fraction-above-1", "huge-header", "nul-in-dataset-name"])
def test_hostile_uploads_are_refused_with_the_reason(tiny_ckpts, runs_dir, name):
    tensors, meta = _good(tiny_ckpts["vae"])
    blob = st_save(tensors, metadata={"format": FORMAT, "meta": _cases(meta)[name]})
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(PAGE).run()
    at.file_uploader(key="ckpts_upload").set_value((f"{name}.safetensors", blob, "application/octet-stream")).run()
    assert not at.exception, at.exception
    assert at.error and at.error[0].value.startswith("Upload refused: ")
    assert list(runs_dir.glob("*.safetensors")) == []
