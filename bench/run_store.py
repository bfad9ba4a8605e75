"""Run store figures: peak memory of loading an .npz (bounded reader vs plain numpy), and listing 200 checkpoints.

    python bench/run_store.py [--n 60000] [--ckpts 200]

Peak memory is the growth of the process's peak RSS (VmHWM, reset before the load: Linux only) during one load,
in a fresh interpreter per measurement, as a multiple of the decoded float32 size. The reference is what the
loader did before: np.load, astype(float32) / 255, then train and test copies by index. Listing compares the
uncached listing the pages used before (`_list_uncached`: every header read and checked on every page run) with
`RunStore.rows()` (cached per file version) on the same folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MNIST = ROOT.parent / "shared" / "data" / "mnist" / "mnist-test.npz"

PEAK = r"""
import json, sys
import numpy as np, torch
torch.set_num_threads(1)

def status(key):
    return int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1]) * 1024

def reference(path):  # the loader before the bounded reader: numpy, a float copy, an index copy per part
    with np.load(path, allow_pickle=False) as f:
        x = f["x"]
    arr = x.astype(np.float32) / 255.0
    t = torch.from_numpy(arr[:, None])
    n = t.shape[0]; n_test = round(0.2 * n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    return t[perm[n_test:].sort().values], t[perm[:n_test].sort().values]

def bounded(path):
    from vae.config import DataConfig
    from vae.data import load
    s = load(DataConfig(name=path))
    return s.train.x, s.test.x

which, path = sys.argv[1], sys.argv[2]
import vae.data, vae.npz  # imports are not part of the load
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS:")
t0 = __import__("time").perf_counter()
train, test = {"reference": reference, "bounded": bounded}[which](path)
wall = __import__("time").perf_counter() - t0
decoded = (train.numel() + test.numel()) * 4
print(json.dumps({"peak_mb": (status("VmHWM:") - before) / 2**20, "decoded_mb": decoded / 2**20,
                  "ratio": (status("VmHWM:") - before) / decoded, "wall_s": wall}))
"""


def peak(which: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", PEAK, which, str(path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout)


def memory(n: int, tmp: Path) -> None:
    import numpy as np

    files = []
    if MNIST.exists():
        files.append(("MNIST test set (10,000 × 28 × 28 uint8)", MNIST))
    x = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    synth = tmp / "synthetic.npz"
    np.savez_compressed(synth, x=x, y=np.arange(n) % 10)
    files.append((f"synthetic ({n:,} × 28 × 28 uint8, compressed)", synth))
    print("\n.npz load: peak RSS growth during one load (fresh process each)")
    print(f"{'file':48} {'loader':10} {'decoded MB':>10} {'peak MB':>8} {'× decoded':>9} {'wall s':>7}")
    for name, path in files:
        for which in ("reference", "bounded"):
            r = peak(which, path)
            print(f"{name:48} {which:10} {r['decoded_mb']:10.1f} {r['peak_mb']:8.1f} {r['ratio']:9.2f} "
                  f"{r['wall_s']:7.2f}")


def _list_uncached(folder: Path) -> list[tuple[Path, dict | None, str | None]]:
    """The reference: what listing did before the run store cached it (every header read on every page run)."""
    from vae.checkpoint import SUFFIX, CheckpointError, read_metadata

    rows = []
    for p in folder.glob("*" + SUFFIX):
        try:
            rows.append((p, read_metadata(p), None))
        except CheckpointError as e:
            rows.append((p, None, str(e)))
    return sorted(rows, key=lambda r: r[0].stat().st_mtime, reverse=True)


def listing(n: int, tmp: Path) -> None:
    from vae.runs import RunStore

    runs, demos = tmp / "runs", tmp / "demos"
    runs.mkdir()
    demos.mkdir()
    src = ROOT / "checkpoints" / "demos" / "digits-5-vae-z8.safetensors"  # the largest history of the demos
    for i in range(n):
        shutil.copy(src, runs / f"run-{i:03d}.safetensors")
    store = RunStore(runs, demos)

    def timed(fn, reps=5):
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    cold_t0 = time.perf_counter()
    rows = store.rows()
    cold = time.perf_counter() - cold_t0
    assert len(rows) == n and all(r.meta is not None for r in rows)
    old = timed(lambda: _list_uncached(runs))
    new = timed(store.rows)
    print(f"\nlisting {n} checkpoints ({src.stat().st_size / 1024:.0f} KB each), median of 5")
    print(f"  uncached listing (before)         : {old * 1000:8.1f} ms per page run")
    print(f"  RunStore.rows, first listing      : {cold * 1000:8.1f} ms (headers parsed and schema-checked once)")
    print(f"  RunStore.rows, cached             : {new * 1000:8.1f} ms per page run  ({old / new:.0f}× faster)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60_000, help="images in the synthetic .npz")
    ap.add_argument("--ckpts", type=int, default=200)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if Path("/proc/self/clear_refs").exists():
            memory(a.n, tmp)
        else:
            print("peak-memory figures need Linux (/proc/self/clear_refs); skipped")
        listing(a.ckpts, tmp)


if __name__ == "__main__":
    main()
