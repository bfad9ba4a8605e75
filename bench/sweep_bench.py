"""Wall time of one 4 β × 2 seed digits grid through `python -m vae sweep`: local --max-parallel 1 and 2, and Ray
Tune on a local instance, in the same run; Ray's start-up alone; per-trial overhead; peak memory of the process tree.

Run: nice -n 10 python bench/sweep_bench.py [--epochs N]   (prints figures; not a test)

Per-trial overhead: the slot time a trial holds beyond its own `run_trial` wall (process start, torch import,
scheduling): (sweep wall − Ray start-up) × concurrent trials / trials − mean trial wall.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
GRID = ["--data", "digits", "--betas", "0.5,1,2,4", "--seeds", "0,1"]


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run(args: list[str], out: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "vae", "sweep", *GRID, *args, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak, ps, done = [0], psutil.Process(proc.pid), threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            try:
                peak[0] = max(peak[0], tree_rss(ps))
            except psutil.Error:
                return

    threading.Thread(target=sample, daemon=True).start()
    proc.communicate()
    done.set()
    wall = time.perf_counter() - t0
    trials = json.loads((out / "sweep.json").read_text())["trials"]
    assert all(t["status"] == "done" for t in trials), [t["message"] for t in trials]
    return {"wall": wall, "trial": sum(t["wall_s"] for t in trials) / len(trials), "n": len(trials), "peak": peak[0]}


def ray_startup() -> float:
    code = ("import time, ray; t = time.perf_counter(); ray.init(include_dashboard=False, log_to_driver=False); "
            "print(time.perf_counter() - t); ray.shutdown()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    epochs = ["--epochs", str(a.epochs)]
    one = ["--threads", "1"]
    cases = [("local, --max-parallel 1", [*epochs, *one, "--max-parallel", "1"], 1, 0.0),
             ("local, --max-parallel 1, cores split", [*epochs, "--max-parallel", "1"], 1, 0.0),
             ("local, --max-parallel 2", [*epochs, *one, "--max-parallel", "2"], 2, 0.0)]
    try:
        import ray  # noqa: F401

        start = ray_startup()
        print(f"Ray start-up alone (ray.init, local instance): {start:.1f} s", flush=True)
        cases.append(("ray, 1 CPU per trial (2 at once)", [*epochs, *one, "--backend", "ray", "--cpus-per-trial", "1"], 2,
                      start))
    except ImportError:
        print("Ray not installed: pip install 'ray[tune]' for its figures")
    base = None
    for i, (label, args, width, startup) in enumerate(cases):
        r = run(args, tmp / f"case{i}")
        base = base or r["wall"]
        overhead = (r["wall"] - startup) * width / r["n"] - r["trial"]
        print(f"{label:38s} {r['wall']:6.1f} s wall ({base / r['wall']:.2f}x of parallel 1), "
              f"{r['n']} trials of mean {r['trial']:.1f} s, overhead {overhead:.1f} s per trial, "
              f"peak RSS of the process tree {r['peak'] / 2**20:,.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
