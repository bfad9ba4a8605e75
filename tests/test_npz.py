"""The bounded .npz reader (findings 2 and 3): every member numpy would read is checked before decompression,
and a legal file costs at most about one decoded copy at peak."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from vae.config import DataConfig
from vae.data import DataError, load

ROOT = Path(__file__).resolve().parents[1]


def _npy_header(shape, dtype="|u1") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def _bomb_member(zf: zipfile.ZipFile, name: str, shape, dtype="|u1") -> None:
    """A member declaring `shape` whose data is zeros: megabytes compress to almost nothing."""
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as fh:
        fh.write(_npy_header(shape, dtype))
        zero = bytes(1 << 20)
        for _ in range(n >> 20):
            fh.write(zero)
        fh.write(bytes(n & ((1 << 20) - 1)))


def _archive(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, value in members.items():
            if isinstance(value, np.ndarray):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, value)
                zf.writestr(name, buf.getvalue())
            else:
                _bomb_member(zf, name, *value)
    return path


SMALL_X = np.random.default_rng(0).integers(0, 256, (6, 8, 8), dtype=np.uint8)
BIG = ((2048, 128, 128),)  # 32 MB of uint8 = 128 MB as float32: over a 64 MB budget, ~32 KB compressed


@pytest.fixture
def budget(monkeypatch):
    monkeypatch.setenv("VAE_MAX_DATASET_MB", "64")


@pytest.mark.parametrize("members, words", [
    ({"x.npy": SMALL_X, "x": BIG}, "both 'x' and 'x.npy'"),  # numpy reads member "x" before "x.npy"
    ({"x": BIG}, "would take"),  # the name without .npy is the one numpy reads
    ({"x.npy": SMALL_X, "y.npy": ((8 * 1024**2,), "<i8")}, "labels"),  # labels were never checked
    ({"x.npy": SMALL_X, "z.npy": BIG}, "unexpected member 'z.npy'"),
    ({"x.npy": SMALL_X, "y.npy": np.zeros(6, np.int64), "extra": SMALL_X}, "unexpected member 'extra'"),
    ({"x.npy": BIG}, "would take"),
    ({"x.npy": ((6, 8, 8), "|O")}, "never pickles"),
    ({"x.npy": ((6, 8, 8), "<c16")}, "uint8 or float"),
])
def test_every_member_numpy_would_read_is_checked_before_decompressing(tmp_path, budget, members, words):
    path = _archive(tmp_path / "bomb.npz", members)
    assert path.stat().st_size < 2 * 1024**2  # small on disk
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DataError) as e:
        load(DataConfig(name=str(path)))
    assert words in str(e.value)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 32, f"peak grew by {grown_mb:.0f} MB while refusing"


def test_a_member_whose_zip_size_disagrees_with_its_header_is_refused(tmp_path, budget):
    path = tmp_path / "lies.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", _npy_header((6, 8, 8)) + bytes(6 * 8 * 8 * 50))  # 50× the data its header declares
    with pytest.raises(DataError, match="declares"):
        load(DataConfig(name=str(path)))


def test_corrupt_compressed_data_is_a_data_error(tmp_path):
    path = tmp_path / "corrupt.npz"
    np.savez_compressed(path, x=np.random.default_rng(0).integers(0, 256, (50, 16, 16), dtype=np.uint8))
    blob = bytearray(path.read_bytes())
    blob[200:260] = bytes(60)  # inside the deflate stream
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError):
        load(DataConfig(name=str(path)))


@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64"])
def test_the_bounded_reader_gives_the_same_images_as_numpy(tmp_path, dtype):
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, (40, 9, 7, 3), dtype=np.uint8)
    x = raw if dtype == "uint8" else (raw / 255).astype(dtype)
    y = rng.integers(0, 5, 40)
    np.savez_compressed(tmp_path / "d.npz", x=x, y=y)
    np.savez(tmp_path / "f.npz", x=np.asfortranarray(x), y=y)  # Fortran order is read too
    for name in ("d.npz", "f.npz"):
        s = load(DataConfig(name=str(tmp_path / name), split="tail", test_fraction=0.25))
        want = (x.astype(np.float32) / 255 if dtype == "uint8" else x.astype(np.float32)).transpose(0, 3, 1, 2)
        got = np.concatenate([s.train.x.numpy(), s.test.x.numpy()])
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.concatenate([s.train.y.numpy(), s.test.y.numpy()]), y)


def test_random_split_matches_indexing(tmp_path):
    """The in-place split gives exactly the rows that plain indexing with the seeded permutation gives."""
    import torch

    x = np.random.default_rng(2).integers(0, 256, (500, 6, 6), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(500) % 7)
    s = load(DataConfig(name=str(tmp_path / "d.npz"), split_seed=5, test_fraction=0.3))
    perm = torch.randperm(500, generator=torch.Generator().manual_seed(5))
    test_idx, train_idx = perm[:150].sort().values.numpy(), perm[150:].sort().values.numpy()
    full = x.astype(np.float32)[:, None] / 255
    np.testing.assert_array_equal(s.train.x.numpy(), full[train_idx])
    np.testing.assert_array_equal(s.test.x.numpy(), full[test_idx])
    np.testing.assert_array_equal(s.test.y.numpy(), test_idx % 7)


PEAK = """
import json, sys
import numpy as np, torch
from vae.config import DataConfig
from vae.data import load
torch.set_num_threads(1)

def status(key):  # kB
    return int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1]) * 1024

open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS: imports do not count
before = status("VmRSS:")
split = load(DataConfig(name=sys.argv[1]))
decoded = (split.train.x.numel() + split.test.x.numel()) * 4
print(json.dumps({"ratio": (status("VmHWM:") - before) / decoded}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak reset needs Linux")
@pytest.mark.parametrize("dtype", ["uint8", "float64"])
def test_peak_memory_of_a_legal_npz_stays_under_twice_its_decoded_size(tmp_path, dtype):
    x = np.random.default_rng(3).integers(0, 256, (20000, 28, 28), dtype=np.uint8)  # 63 MB as float32
    save = np.savez_compressed if dtype == "uint8" else np.savez  # compressing random float64 takes seconds
    save(tmp_path / "d.npz", x=x if dtype == "uint8" else x / 255.0, y=np.arange(20000) % 10)
    out = subprocess.run([sys.executable, "-c", PEAK, str(tmp_path / "d.npz")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ratio = json.loads(out.stdout)["ratio"]
    print(f"peak {ratio:.2f}× the decoded size")
    assert ratio <= 2.0, f"peak was {ratio:.2f}× the decoded size"
