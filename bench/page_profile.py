"""Page switch, server side: how long each page's script takes on a warm session, and where the time goes.

Prints figures; asserts nothing. A page switch is the server's script run plus the browser's render; this measures
the first part (AppTest, the same script run a browser's switch starts) so the two can be told apart (the browser
figure is bench/live_bench.py's). With --before, an older tree is measured first, in its own process, in the
same command:

    python bench/page_profile.py
    git archive f124349 | (mkdir -p /tmp/before && tar -x -C /tmp/before)
    python bench/page_profile.py --before /tmp/before --rounds 8
    python bench/page_profile.py --spy /tmp/pages.txt     # also a py-spy sample of the timed runs (if installed)

Each tree: the app on its bundled demo checkpoint, every page visited twice to fill the caches, then `rounds`
timed switches through all pages.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["latent_map", "recon_kl", "factors", "train", "beta_sweep", "compare", "checkpoints"]


def measure_here(rounds: int, spy: str | None) -> dict[str, list[float]]:
    """Time the pages of the tree this process runs in (cwd)."""
    from streamlit.testing.v1 import AppTest

    os.environ.setdefault("VAE_RUNS_DIR", tempfile.mkdtemp(prefix="page-profile-"))
    at = AppTest.from_file(str(Path.cwd() / "app.py"), default_timeout=300)
    at.run()
    for _ in range(2):
        for p in PAGES:
            at.switch_page(f"pages/{p}.py").run()
    sampler = None
    if spy:
        sampler = subprocess.Popen(["py-spy", "record", "-r", "250", "-f", "raw", "-o", spy, "--pid", str(os.getpid())],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
    out: dict[str, list[float]] = {p: [] for p in PAGES}
    for _ in range(rounds):
        for p in PAGES:
            t0 = time.perf_counter()
            at.switch_page(f"pages/{p}.py").run()
            out[p].append(time.perf_counter() - t0)
            if at.exception:
                raise RuntimeError(f"{p}: {at.exception}")
    if sampler:
        sampler.send_signal(signal.SIGINT)
        sampler.wait()
    return out


def measure(tree: Path, rounds: int, spy: str | None) -> dict[str, list[float]]:
    cmd = [sys.executable, str(ROOT / "bench" / "page_profile.py"), "--child", "--rounds", str(rounds)]
    if spy:
        cmd += ["--spy", spy]
    res = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tree)})
    if res.returncode:
        raise RuntimeError(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def p(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, help="an older tree, measured first in the same command")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--spy", help="write a py-spy raw profile of this tree's timed runs here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(measure_here(a.rounds, a.spy)))
        return
    trees = ([("before", a.before)] if a.before else []) + [("after", ROOT)]
    res = {label: measure(tree, a.rounds, a.spy if label == "after" else None) for label, tree in trees}
    print(f"load average at the end: {os.getloadavg()}; {os.cpu_count()} CPUs; {a.rounds} rounds\n")
    print("| page (server script run, p50 / p95 ms) | " + " | ".join(label for label, _ in trees) + " |")
    print("|---|" + "---|" * len(trees))
    for page in PAGES + ["all pages"]:
        cells = []
        for label, _ in trees:
            v = sum(res[label].values(), []) if page == "all pages" else res[label][page]
            cells.append(f"{p(v, 50):.0f} / {p(v, 95):.0f}")
        print(f"| {page} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
