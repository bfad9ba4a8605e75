"""One schema for checkpoint metadata, checked on every load: types, ranges, sizes, nesting depth and consistency.

Every reader (pages, listings, the CLI) gets metadata only through `parse_json` + `check_metadata`, so page code
may index fields without defensive checks: a file that does not fit is refused once, with a reason, here.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from vae.config import (MAX_CHANNELS, MAX_LATENT_DIM, MAX_SIDE, SPLITS, ConfigError, DataConfig, ModelConfig,
                        TrainConfig)
from vae.errors import VaeError

MAX_HEADER_BYTES = 4 * 1024**2  # the whole safetensors JSON header, metadata included
MAX_DEPTH = 8  # the deepest real metadata is 4 (meta -> history -> entry -> test)
MAX_HISTORY = 10_000  # epochs; TrainConfig allows at most 10,000
MAX_STR = 1024  # any string not bounded more tightly below
MAX_KEY = 64
MAX_KEYS = 64  # keys per object
MAX_ITEMS = 2_000_000  # values in the whole document
MAX_INT_DIGITS = 20  # |int| < 2**63 needs 19 digits; longer ones are refused before int() parses them
INT_BOUND = 2**63
MAX_DATA_NAME = 512
MAX_CLASSES = 1000
MAX_CLASS_NAME = 255  # a folder name: the image-folder loader uses sub-folder names as classes
MAX_COUNT = 10**9  # images in a split
STATUSES = ("running", "done", "stopped", "diverged", "failed")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


class SchemaError(VaeError, ValueError):
    """Metadata that does not fit the schema; the message names the field."""


def parse_json(raw: bytes | str, what: str = "metadata") -> Any:
    """json.loads with bounds: nesting depth, integer size and finite numbers are checked before or while parsing.

    Plain json.loads raises RecursionError on deep nesting and ValueError on 5,000-digit integers, and reads
    NaN and Infinity: here each is a SchemaError with a reason.
    """
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    depth = json_depth(data)
    if depth > MAX_DEPTH:
        raise SchemaError(f"{what} is nested {depth} levels deep; at most {MAX_DEPTH} are allowed")
    try:
        return json.loads(data, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant)
    except SchemaError:
        raise
    except (ValueError, RecursionError) as e:
        raise SchemaError(f"{what} is not JSON ({str(e)[:120]})") from e


def json_depth(data: bytes) -> int:
    """The deepest nesting of objects and arrays in a JSON text (strings skipped), without parsing it."""
    skeleton = np.frombuffer(_STRING.sub(b"", data), dtype=np.uint8)
    step = np.isin(skeleton, (ord("{"), ord("["))).astype(np.int32) - np.isin(skeleton, (ord("}"), ord("]")))
    return int(np.cumsum(step).max(initial=0))


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise SchemaError(f"an integer has {len(text)} digits; at most {MAX_INT_DIGITS} are allowed")
    v = int(text)
    if not -INT_BOUND < v < INT_BOUND:
        raise SchemaError(f"integer {text} is out of range (|n| < 2**63)")
    return v


def _parse_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise SchemaError(f"number {text[:30]} is too large")
    return v


def _refuse_constant(name: str) -> None:
    raise SchemaError(f"{name} is not allowed (numbers must be finite)")


# ---- the whole document ------------------------------------------------------------------------------
def check_bounds(value: Any, where: str = "metadata") -> None:
    """Generic bounds for any JSON value: string lengths, keys per object, list lengths, total size."""
    count = 0
    stack = [(value, where)]
    while stack:
        v, at = stack.pop()
        count += 1
        if count > MAX_ITEMS:
            raise SchemaError(f"{where} holds more than {MAX_ITEMS} values")
        if isinstance(v, str):
            if len(v) > MAX_STR:
                raise SchemaError(f"{at} is a string of {len(v)} characters; at most {MAX_STR} are allowed")
        elif isinstance(v, dict):
            if len(v) > MAX_KEYS:
                raise SchemaError(f"{at} has {len(v)} fields; at most {MAX_KEYS} are allowed")
            for k, x in v.items():
                if len(k) > MAX_KEY:
                    raise SchemaError(f"{at} has a field name of {len(k)} characters; at most {MAX_KEY} are allowed")
                stack.append((x, f"{at}.{k}"))
        elif isinstance(v, list):
            if len(v) > MAX_HISTORY:
                raise SchemaError(f"{at} lists {len(v)} items; at most {MAX_HISTORY} are allowed")
            stack.extend((x, f"{at}[{i}]") for i, x in enumerate(v))
        elif isinstance(v, float) and not math.isfinite(v):
            raise SchemaError(f"{at} must be a finite number")
        elif isinstance(v, int) and not isinstance(v, bool) and not -INT_BOUND < v < INT_BOUND:
            raise SchemaError(f"{at} is out of range (|n| < 2**63)")


def check_metadata(meta: Any) -> dict:
    """Raise SchemaError unless `meta` is checkpoint metadata every page can read as is; returns it."""
    if not isinstance(meta, dict):
        raise SchemaError("metadata is not a JSON object")
    check_bounds(meta)
    _text(meta, "created", 40)
    _text(meta, "message", MAX_STR)
    if meta.get("status") is not None and meta["status"] not in STATUSES:
        raise SchemaError(f"field status must be one of {', '.join(STATUSES)}")
    model = _config(meta, "model", ModelConfig, required=True)
    _config(meta, "train", TrainConfig, required=False)
    _check_data(meta.get("data", {}), model)
    _check_history(meta.get("history", []))
    _check_program(meta, model)
    return meta


def _check_program(meta: dict, model: ModelConfig) -> None:
    """An imported model's op program (vae/program.py): required for arch 'imported', refused for any other."""
    from vae.program import ProgramError, check_program

    if model.arch != "imported":
        if "program" in meta:
            raise SchemaError(f"field program is only for imported models, not arch {model.arch!r}")
        return
    try:
        check_program(meta.get("program"), model)
    except ProgramError as e:
        raise SchemaError(f"field {e}" if str(e).startswith("program") else f"field program: {e}") from e
    source = meta["program"].get("source", {})
    if not (isinstance(source, dict) and all(isinstance(v, dict) for v in source.values())):
        raise SchemaError("field program.source must map each part to an object")
    for part, info in source.items():  # where each part came from: file name, hash, size, producer, opset
        for key, v in info.items():
            if isinstance(v, bool) or not isinstance(v, (str, int)):
                raise SchemaError(f"field program.source.{part}.{key} must be a string or an integer")
            if isinstance(v, str):
                _text(info, key, MAX_STR, f"program.source.{part}.")


def _text(d: dict, key: str, limit: int, where: str = "") -> None:
    v = d.get(key)
    if v is not None and not (isinstance(v, str) and len(v) <= limit):
        raise SchemaError(f"field {where}{key} must be a string of at most {limit} characters")
    if isinstance(v, str) and _CONTROL.search(v):  # a NUL makes every path call raise
        raise SchemaError(f"field {where}{key} holds a control character")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab and line breaks may stay (messages)


def _int(d: dict, key: str, lo: int, hi: int, where: str) -> None:
    v = d.get(key)
    if key in d and not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
        raise SchemaError(f"field {where}{key} must be an integer in {lo}..{hi}")


def _config(meta: dict, key: str, cls, *, required: bool):
    v = meta.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, dict):
        raise SchemaError(f"field {key} must be a JSON object")
    try:
        return cls.from_dict(v)
    except (ConfigError, TypeError, ValueError) as e:
        raise SchemaError(f"says the {key} config is invalid ({str(e)[:200]})") from e


def _check_data(data: Any, model: ModelConfig) -> None:
    """The dataset id: each field typed and bounded, and consistent with the model and with itself."""
    if not isinstance(data, dict):
        raise SchemaError("field data must be a JSON object")
    _text(data, "name", MAX_DATA_NAME, "data.")
    _text(data, "fingerprint", 128, "data.")
    if "name" in data and not data["name"].strip():
        raise SchemaError("field data.name must not be empty")
    if "split" in data and data["split"] not in SPLITS:
        raise SchemaError(f"field data.split must be one of {', '.join(SPLITS)}")
    tf = data.get("test_fraction", 0.2)
    if not (isinstance(tf, (int, float)) and not isinstance(tf, bool) and 0 < tf < 1):
        raise SchemaError("field data.test_fraction must be a number in (0, 1)")
    _int(data, "split_seed", 0, INT_BOUND - 1, "data.")
    _int(data, "n_train", 1, MAX_COUNT, "data.")
    _int(data, "n_test", 1, MAX_COUNT, "data.")
    if "shape" in data:
        shape = data["shape"]
        if not (isinstance(shape, list) and len(shape) == 3
                and all(isinstance(s, int) and not isinstance(s, bool) for s in shape)
                and 1 <= shape[0] <= MAX_CHANNELS and all(1 <= s <= MAX_SIDE for s in shape[1:])):
            raise SchemaError(f"field data.shape must be [C, H, W] with C in 1..{MAX_CHANNELS}, H and W in 1..{MAX_SIDE}")
        if tuple(shape) != tuple(model.input_shape):
            raise SchemaError(f"field data.shape {shape} does not match the model's input shape "
                              f"{list(model.input_shape)}")
    classes = data.get("classes", [])
    if not (isinstance(classes, list) and len(classes) <= MAX_CLASSES
            and all(isinstance(c, str) and len(c) <= MAX_CLASS_NAME for c in classes)):
        raise SchemaError(f"field data.classes must list at most {MAX_CLASSES} strings of at most "
                          f"{MAX_CLASS_NAME} characters")
    try:  # the split the explore pages rebuild from this id must be a valid config
        DataConfig(name=data.get("name", "digits"), test_fraction=float(tf), split_seed=data.get("split_seed", 0),
                   split=data.get("split", "random"))
    except ConfigError as e:
        raise SchemaError(f"field data.{e.field} {e.message}") from e


def _number_or_none(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _check_history(history: Any) -> None:
    if not isinstance(history, list):
        raise SchemaError("field history must be a list")
    if len(history) > MAX_HISTORY:
        raise SchemaError(f"history has {len(history)} entries; at most {MAX_HISTORY} are allowed")
    for i, h in enumerate(history):
        if not isinstance(h, dict):
            raise SchemaError(f"history[{i}] must be an object")
        for k, v in h.items():
            if k == "test":
                ok = v is None or (isinstance(v, dict) and all(_number_or_none(x) for x in v.values()))
            elif k == "kl_per_dim":
                if isinstance(v, list) and len(v) > MAX_LATENT_DIM:
                    raise SchemaError(f"history[{i}].kl_per_dim must list at most {MAX_LATENT_DIM} numbers "
                                      f"(one per latent dim), not {len(v)}")
                ok = isinstance(v, list) and all(_number_or_none(x) for x in v)
            else:
                ok = _number_or_none(v)
            if not ok:
                raise SchemaError(f"history[{i}].{k} must hold numbers only")


def fit_history(history: list[dict], budget: int) -> list[dict]:
    """A history whose JSON fits in `budget` bytes, so a long run never writes a file the reader refuses.

    Per-dimension KL of old epochs goes first (the pages plot it for the last epoch), then every other epoch
    is dropped, oldest first, always keeping the first and the last.
    """
    def size(h):
        return len(json.dumps(h))

    if size(history) <= budget:
        return history
    keep_dims = 10
    history = [({k: v for k, v in h.items() if k != "kl_per_dim"} if i < len(history) - keep_dims else h)
               for i, h in enumerate(history)]
    while size(history) > budget and len(history) > 2:
        history = history[:1] + history[1:-1][1::2] + history[-1:]
    return history
