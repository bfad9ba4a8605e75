"""A bounded .npz reader: every member numpy would read is checked against a memory budget before decompression.

numpy's own `np.load` resolves a key "x" to the zip member "x" or "x.npy", decompresses whatever a member's
header declares, and copies on conversion. Here the zip directory is read first; only the members `x` and `y`
(under either name, not both) are accepted; each member's .npy header (shape, dtype) must agree with the size
the zip declares; and the decoded float32 images must fit the budget. Then `x` is decompressed in chunks straight
into its float32 array, so the peak is about one decoded copy plus a chunk.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vae.errors import VaeError

MEMBERS = ("x", "y")  # images, then optional integer labels
MAX_MEMBERS = 16  # directory entries; a real file has one or two
CHUNK_BYTES = 1024**2  # raw bytes decompressed at a time (zipfile joins pieces of a big read: keep it small)
MAX_HEADER = 10_000  # numpy's own default limit on an .npy header
X_DTYPES = ("uint8", "float16", "float32", "float64")
EXPECTED = "an .npz with array 'x' (N×H×W or N×H×W×C, C in 1, 3, 4; uint8, or floats in [0, 1]) and optional integer labels 'y'"


class NpzError(VaeError, ValueError):
    """The file is not an .npz this app reads, or would not fit the memory budget; the message says which."""


@dataclass(frozen=True)
class Member:
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int  # bytes of .npy header before the data

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def images_bytes(shape: tuple[int, ...]) -> int:
    """Float32 bytes of the images an 'x' of this shape decodes to (a 4th channel, alpha, is dropped)."""
    channels = 1 if len(shape) == 3 else min(shape[3], 3)
    return math.prod(shape[:3]) * channels * 4


def inspect(path: str | Path, *, budget: int, max_file: int) -> dict[str, Member]:
    """The checked members {'x': ..., 'y': ...}, reading only the zip directory and the .npy headers."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise NpzError(f"{path.name}: cannot read file ({e.strerror or e})") from e
    if size > max_file:
        raise NpzError(f"{path.name} is {size / 1024**2:.0f} MB; the limit is {max_file // 1024**2} MB.")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise NpzError(f"{path.name} has {len(infos)} members; expected {EXPECTED}.")
            keys = [i.filename[:-4] if i.filename.endswith(".npy") else i.filename for i in infos]
            if "x" not in keys:
                shown = ", ".join(k[:40] for k in keys) or "nothing"
                raise NpzError(f"{path.name} has no array named 'x' (found: {shown}); expected {EXPECTED}.")
            found: dict[str, zipfile.ZipInfo] = {}
            for key, info in zip(keys, infos):
                if key not in MEMBERS:
                    raise NpzError(f"{path.name}: unexpected member {info.filename[:40]!r}; expected {EXPECTED}.")
                if key in found:
                    raise NpzError(f"{path.name}: holds both {key!r} and {key + '.npy'!r}; which one is meant?")
                found[key] = info
            members = {k: _member(zf, info, path.name) for k, info in found.items()}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as e:
        raise NpzError(f"{path.name} is not a readable .npz file ({e}).") from e
    _check(members, path.name, budget)
    return members


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> Member:
    name = info.filename
    if info.flag_bits & 0x1:
        raise NpzError(f"{source}: member {name!r} is encrypted.")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise NpzError(f"{source}: member {name!r} uses an unsupported compression (only stored or deflate).")
    try:
        with zf.open(info) as fh:
            major, _ = np.lib.format.read_magic(fh)
            if major not in (1, 2, 3):
                raise NpzError(f"{source}: member {name!r} has .npy version {major}.")
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(fh, max_header_size=MAX_HEADER)
            offset = fh.tell()  # the header only: no data has been decompressed
    except NpzError:
        raise
    except (ValueError, TypeError, SyntaxError) as e:
        raise NpzError(f"{source}: member {name!r} is not a valid .npy array ({str(e)[:120]}).") from e
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise NpzError(f"{source}: member {name!r} holds {dtype}; only plain numbers are read (never pickles).")
    m = Member(info, tuple(int(s) for s in shape), dtype, bool(fortran), offset)
    if info.file_size != offset + m.nbytes:
        raise NpzError(f"{source}: member {name!r} declares {m.shape} {dtype} ({m.nbytes} bytes) but the archive "
                       f"holds {info.file_size - offset} bytes of data.")
    return m


def _check(members: dict[str, Member], source: str, budget: int) -> None:
    x, y = members["x"], members.get("y")
    if x.dtype.name not in X_DTYPES:
        raise NpzError(f"{source}: 'x' must be uint8 or float, not {x.dtype}.")
    if not (len(x.shape) == 3 or (len(x.shape) == 4 and x.shape[3] in (1, 3, 4))):
        raise NpzError(f"{source}: 'x' must have shape N×H×W or N×H×W×C (C in 1, 3, 4); got {x.shape}.")
    if x.shape[0] < 2 or min(x.shape) < 1:
        raise NpzError(f"{source}: need at least 2 images of at least 1×1 pixels; 'x' is {x.shape}.")
    need = images_bytes(x.shape) + x.nbytes * x.fortran  # a Fortran-ordered 'x' is read whole, then converted
    if y is not None:
        if y.dtype.kind not in "iu" or y.dtype.itemsize > 8:
            raise NpzError(f"{source}: 'y' must hold integer labels, not {y.dtype}.")
        if math.prod(y.shape) != x.shape[0] or len(y.shape) > 2:
            raise NpzError(f"{source}: 'y' has {math.prod(y.shape)} labels (shape {y.shape}) for {x.shape[0]} images.")
        need += 3 * x.shape[0] * 8  # the labels and their class index (int64)
    if need > budget:
        raise NpzError(f"{source}: 'x' {x.shape} would take {need / 1024**2:.0f} MB in memory; the limit is "
                       f"{budget // 1024**2} MB.")


def load(path: str | Path, *, budget: int, max_file: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(x as float32 (N, C, H, W) in [0, 1], y as int64 (N,) or None); NpzError with a reason otherwise."""
    path = Path(path)
    members = inspect(path, budget=budget, max_file=max_file)
    try:
        with zipfile.ZipFile(path) as zf:
            x = _read_images(zf, members["x"], path.name)
            y = _read_all(zf, members["y"]).reshape(-1).astype(np.int64) if "y" in members else None
    except (zipfile.BadZipFile, EOFError, OSError) as e:  # includes a CRC mismatch found at the end of a member
        raise NpzError(f"{path.name} is not a readable .npz file ({e}).") from e
    return x, y


def _read_all(zf: zipfile.ZipFile, m: Member) -> np.ndarray:
    with zf.open(m.info) as fh:
        fh.read(m.offset)
        raw = np.frombuffer(_read_exact(fh, m.nbytes), dtype=m.dtype)
    return raw.reshape(m.shape[::-1]).T if m.fortran else raw.reshape(m.shape)


def _read_exact(fh, n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise EOFError(f"member ended after {len(data)} of {n} bytes")
    return data


def _read_images(zf: zipfile.ZipFile, m: Member, source: str) -> np.ndarray:
    """Decompress 'x' a chunk of images at a time, converting each chunk into the float32 output."""
    n, h, w = m.shape[:3]
    c = m.shape[3] if len(m.shape) == 4 else 1
    out = np.empty((n, min(c, 3), h, w), dtype=np.float32)  # (N, C, H, W)
    if m.fortran:
        full = _read_all(zf, m)
        step = max(1, CHUNK_BYTES // max(1, h * w * c * m.dtype.itemsize))
        for i in range(0, n, step):
            _convert(full[i:i + step], out[i:i + step], source)
        return out
    row = h * w * c * m.dtype.itemsize
    step = max(1, CHUNK_BYTES // max(1, row))
    with zf.open(m.info) as fh:
        fh.read(m.offset)
        for i in range(0, n, step):
            k = min(step, n - i)
            chunk = np.frombuffer(_read_exact(fh, k * row), dtype=m.dtype).reshape((k, *m.shape[1:]))
            _convert(chunk, out[i:i + k], source)
    return out


def _convert(chunk: np.ndarray, out: np.ndarray, source: str) -> None:
    """Raw images (k, H, W[, C]) -> float32 (k, C, H, W) in [0, 1], written into `out`."""
    chunk = chunk[..., :3].transpose(0, 3, 1, 2) if chunk.ndim == 4 else chunk[:, None]  # drop alpha; channels first
    if chunk.dtype == np.uint8:
        np.divide(chunk, np.float32(255), out=out, casting="unsafe")
        return
    np.copyto(out, chunk, casting="unsafe")
    if not np.isfinite(out).all():
        raise NpzError(f"{source}: 'x' contains NaN or infinite values.")
    lo, hi = float(out.min()), float(out.max())
    if lo < 0 or hi > 1:
        raise NpzError(f"{source}: float 'x' must lie in [0, 1]; found values in [{lo:.3g}, {hi:.3g}].")
