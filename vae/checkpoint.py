"""The only save and load of models: one safetensors file with JSON metadata, written atomically.

Nothing here unpickles: safetensors stores raw tensor bytes plus a JSON header, so a hostile file can
at worst fail to parse.
"""

from __future__ import annotations

import json
import os
import re
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import load_file as st_load_file
from safetensors.torch import save as st_save

from vae import schema
from vae.config import ConfigError, ModelConfig, TrainConfig
from vae.errors import VaeError
from vae.model import build_model
from vae.program import ImportedVAE

FORMAT = "vae-latent-explorer"
FORMAT_VERSION = 1
SUFFIX = ".safetensors"
MAX_BYTES = 256 * 1024**2  # far above any model this app trains; refuse before reading
MAX_HEADER_BYTES = schema.MAX_HEADER_BYTES  # read on every listing: a many-MB header would slow every page
HISTORY_BUDGET = MAX_HEADER_BYTES // 2  # the writer keeps its history well inside what the reader accepts
OPTIM_PREFIX = "optim."
REPLAY_PREFIX = "replay."  # vae/replay.py's tensors: the training replay, not weights
DTYPES = ("F32", "F16", "BF16", "F64")  # weights only ever need these; exotic ones (float8, ...) are refused
MAX_TENSORS = 1024
MAX_DIMS = 4


class CheckpointError(VaeError, RuntimeError):
    """A checkpoint file cannot be used; the message names the file and says what is wrong."""


@dataclass
class Checkpoint:
    model: torch.nn.Module
    meta: dict[str, Any]
    path: Path | None = None
    optimizer_state: dict[str, torch.Tensor] = field(default_factory=dict)
    replay: dict[str, torch.Tensor] = field(default_factory=dict)  # vae/replay.py reads it

    @property
    def model_config(self) -> ModelConfig:
        return self.model.config

    @property
    def train_config(self) -> TrainConfig | None:
        tc = self.meta.get("train")
        return TrainConfig.from_dict(tc) if tc else None

    @property
    def history(self) -> list[dict]:
        return self.meta.get("history", [])

    @property
    def data(self) -> dict:
        return self.meta.get("data", {})


_UMASK: list[int] = []


def _umask() -> int:
    """The process umask, read once: os.umask can only be read by setting it, which races with other threads."""
    if not _UMASK:
        mask = os.umask(0o022)
        os.umask(mask)
        _UMASK.append(mask)
    return _UMASK[0]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder, fsync, then os.replace: a reader sees old or new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the mode a plain open() would
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def save_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    *,
    train: TrainConfig | None = None,
    data: dict | None = None,
    history: list[dict] | None = None,
    extra: dict | None = None,
    optimizer_state: dict[str, torch.Tensor] | None = None,
    replay: dict[str, torch.Tensor] | None = None,
) -> Path:
    path = Path(path)
    if path.suffix != SUFFIX:
        raise CheckpointError(f"{path.name}: checkpoints must end in {SUFFIX}")
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    for k, v in (optimizer_state or {}).items():
        tensors[OPTIM_PREFIX + k] = v.detach().to("cpu").contiguous()
    for k, v in (replay or {}).items():
        tensors[REPLAY_PREFIX + k] = v.detach().to("cpu").contiguous()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": model.config.to_dict(),
        "train": train.to_dict() if train else None,
        "data": data or {},
        "history": schema.fit_history(history or [], HISTORY_BUDGET),
        **({"program": model.program} if getattr(model, "program", None) else {}),  # an imported model's layers
        **(extra or {}),
    }
    blob = st_save(tensors, metadata={"format": FORMAT, "meta": json.dumps(meta)})
    atomic_write_bytes(path, blob)
    return path


def _header(path: Path) -> dict:
    """Read and check the safetensors JSON header without touching tensor data."""
    if path.suffix.lower() != SUFFIX:
        raise CheckpointError(
            f"{path.name}: only {SUFFIX} checkpoints are accepted ({path.suffix or 'no extension'} files may be "
            "pickles, which can run code, and are never loaded)"
        )
    try:
        size = path.stat().st_size
    except OSError as e:
        raise CheckpointError(f"{path.name}: cannot read file ({e.strerror or e})") from e
    if size == 0:
        raise CheckpointError(f"{path.name}: file is empty")
    if size > MAX_BYTES:
        raise CheckpointError(f"{path.name}: file is {size / 1024**2:.0f} MB, above the {MAX_BYTES // 1024**2} MB limit")
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path.name}: file is truncated (only {size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES and 8 + n <= size:
            raise CheckpointError(f"{path.name}: header is larger than {MAX_HEADER_BYTES // 1024**2} MB "
                                  f"({n / 1024**2:.1f} MB); a checkpoint's metadata is a few KB")
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise CheckpointError(f"{path.name}: not a safetensors file, or truncated (bad header length)")
        raw = f.read(n)
    try:
        header = schema.parse_json(raw, "header")
    except schema.SchemaError as e:
        raise CheckpointError(f"{path.name}: not a safetensors file ({e})") from e
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name}: not a safetensors file (header is not an object)")
    if len(header) > MAX_TENSORS + 1:
        raise CheckpointError(f"{path.name}: {len(header) - 1} tensors; a checkpoint of this app has far fewer")
    end = 0
    for k, v in header.items():
        if k == "__metadata__":
            if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
                raise CheckpointError(f"{path.name}: not a safetensors file (__metadata__ must map names to strings)")
            continue
        offsets = v.get("data_offsets") if isinstance(v, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) and o >= 0 for o in offsets)):
            raise CheckpointError(f"{path.name}: not a safetensors file (tensor {k[:40]!r} has no valid data_offsets)")
        dtype, shape = v.get("dtype"), v.get("shape")
        if dtype not in DTYPES:
            raise CheckpointError(f"{path.name}: tensor {k[:40]!r} has dtype {str(dtype)[:12]!r}; weights must be "
                                  f"one of {', '.join(DTYPES)}")
        if not (isinstance(shape, list) and len(shape) <= MAX_DIMS
                and all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**31 for d in shape)):
            raise CheckpointError(f"{path.name}: tensor {k[:40]!r} has an invalid shape")
        end = max(end, offsets[1])
    if 8 + n + end != size:
        raise CheckpointError(f"{path.name}: file is truncated or padded ({size} bytes, header expects {8 + n + end})")
    return header


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's metadata, from the header only (cheap: used for listings)."""
    path = Path(path)
    md = _header(path).get("__metadata__") or {}
    if md.get("format") != FORMAT or "meta" not in md:
        raise CheckpointError(f"{path.name}: a safetensors file, but not a VAE Latent Explorer checkpoint")
    if not isinstance(md["meta"], str):
        raise CheckpointError(f"{path.name}: metadata is not a string")
    try:
        meta = schema.parse_json(md["meta"])
        if not isinstance(meta, dict):
            raise schema.SchemaError("metadata is not a JSON object")
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise CheckpointError(f"{path.name}: format version {str(version)[:20]!r} is not supported "
                                  f"(this app reads {FORMAT_VERSION})")
        schema.check_metadata(meta)  # pages index these fields without checking: refuse here, once, with a reason
    except schema.SchemaError as e:
        msg = str(e)
        raise CheckpointError(f"{path.name}: {msg if msg.startswith('metadata') else 'metadata ' + msg}") from e
    return meta


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Validate a checkpoint file and rebuild its model. Raises CheckpointError with a clear message."""
    path = Path(path)
    meta = read_metadata(path)
    try:
        cfg = ModelConfig.from_dict(meta.get("model"))
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{path.name}: model config is invalid ({e})") from e
    try:
        tensors = st_load_file(str(path))  # memory-mapped read: no second copy of the file in memory
    except Exception as e:  # safetensors raises its own error types for malformed data
        raise CheckpointError(f"{path.name}: tensor data is corrupt ({e})") from e
    weights = {k: v for k, v in tensors.items() if not k.startswith((OPTIM_PREFIX, REPLAY_PREFIX))}
    optim = {k[len(OPTIM_PREFIX):]: v for k, v in tensors.items() if k.startswith(OPTIM_PREFIX)}
    replay = {k[len(REPLAY_PREFIX):]: v for k, v in tensors.items() if k.startswith(REPLAY_PREFIX)}
    # shapes come from a model on the meta device (no memory), so a header that asks for a huge model
    # is refused by the shape check below before anything is allocated
    with torch.device("meta"):
        # an imported model is its op program, checked with the metadata (vae/program.py)
        model = ImportedVAE(cfg, meta["program"]) if cfg.arch == "imported" else build_model(cfg)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        what = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(f"{path.name}: weights do not match the {cfg.kind}/{cfg.arch} architecture ({what})")
    for k, v in weights.items():
        if v.shape != expected[k].shape:
            raise CheckpointError(
                f"{path.name}: weights do not match the architecture ({k} has shape {tuple(v.shape)}, "
                f"expected {tuple(expected[k].shape)})"
            )
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{path.name}: weight {k} contains NaN or infinite values")
    # assign=True adopts the loaded tensors as the weights: no random initialisation, no extra copy
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in weights.items()}, assign=True)
    model.to(device).eval()
    return Checkpoint(model=model, meta=meta, path=path, optimizer_state=optim, replay=replay)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize_run_name(name: str) -> str:
    """A file-system-safe run name: letters, digits, '.', '_' and '-'; no leading dots; at most 64 chars."""
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    clean = _UNSAFE.sub("-", stem).strip(".-_")[:64].strip(".-_")
    if not clean:
        raise ConfigError("run_name", "must contain at least one letter or digit")
    return clean


def run_path(root: str | os.PathLike, name: str) -> Path:
    """The checkpoint path for a run name, guaranteed to lie inside `root`."""
    root_p = Path(root).resolve()
    path = (root_p / (sanitize_run_name(name) + SUFFIX)).resolve()
    if path.parent != root_p:
        raise ConfigError("run_name", "must not leave the checkpoints folder")
    return path


def update_metadata(path: str | os.PathLike, **changes: Any) -> Path:
    """Rewrite a checkpoint's metadata, keeping its tensors byte for byte (e.g. to record why a run ended)."""
    path = Path(path)
    meta = read_metadata(path)
    try:
        tensors = st_load(path.read_bytes())
    except Exception as e:
        raise CheckpointError(f"{path.name}: tensor data is corrupt ({e})") from e
    meta.update(changes)
    atomic_write_bytes(path, st_save(tensors, metadata={"format": FORMAT, "meta": json.dumps(meta)}))
    return path
