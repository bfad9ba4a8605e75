"""What one Train-page poll costs the server in reading the runs folder: JobManager.jobs() over N finished runs with
realistic logs, with the incremental log reader (vae.run.read_log) against a whole-file re-parse, in one process.

    python bench/jobs_poll.py [--runs 30] [--lines 260]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vae import jobs as jobs_mod
from vae.jobs import JobManager
from vae.run import RunLog, log_path_for


def _full_parse(path) -> list[dict]:
    """The reader before: the whole file parsed again on every call."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _fill(root: Path, runs: int, lines: int) -> None:
    mgr = JobManager(root, background=False, warm=False)
    try:
        for i in range(runs):
            spec = {"id": f"r{i:03d}", "name": f"r{i:03d}", "checkpoint": str(root / f"r{i:03d}.safetensors"),
                    "created": time.time() + i, "epochs": 20, "pid": 999_999_999, "pid_create": 0.0}
            mgr._write_spec(spec)
            log = RunLog(log_path_for(spec["checkpoint"]))
            for s in range(lines - 2):
                log.write("step", step=s, total_steps=lines, eta_s=1.0, loss=100.0 - s * 0.1)
            log.write("epoch", epoch=20, recon=80.0, kl=5.0, elbo=-85.0, kl_per_dim=[2.5, 2.5],
                      test={"recon": 81.0, "kl": 5.0, "elbo": -86.0})
            log.write("end", status="done")
    finally:
        mgr.close()


def _time(mgr: JobManager, n: int) -> float:
    mgr.jobs()  # warm
    t = time.perf_counter()
    for _ in range(n):
        mgr.jobs()
    return (time.perf_counter() - t) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--lines", type=int, default=260, help="lines per log (a 20-epoch digits run writes ~260)")
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        _fill(root, a.runs, a.lines)
        mgr = JobManager(root, background=False, warm=False)
        try:
            now = _time(mgr, a.repeat)
            cached = jobs_mod.read_log
            jobs_mod.read_log = _full_parse
            try:
                before = _time(mgr, a.repeat)
            finally:
                jobs_mod.read_log = cached
        finally:
            mgr.close()
    print(f"JobManager.jobs() over {a.runs} finished runs of {a.lines} log lines: "
          f"whole-file re-parse {before:.1f} ms, incremental reader {now:.1f} ms ({before / now:.1f}x)")


if __name__ == "__main__":
    main()
