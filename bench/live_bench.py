"""Live, shareable, fast (issue 10): page switches, cold start, Train click → live states, reload → same view.

Prints figures (p50 / p95 / n) for one code tree or, with --before, for an older tree in the same run, beside
each other; asserts nothing about speed. Each tree gets its own fresh server and runs folder, in turn:

    python bench/live_bench.py                                   # this tree only
    git archive 74a2ce0 | (mkdir -p /tmp/before && tar -x -C /tmp/before)
    python bench/live_bench.py --before /tmp/before --rounds 3   # before | after, same machine, same run
    python bench/live_bench.py --before /tmp/before --cold-starts 4   # and 4 more cold starts per tree

Figures:
  cold start      README's `streamlit run` (serve.py, or app.py in a tree without it) → the demo's map drawn in an
                  already running Chromium (canvas or Plotly)
  switch quiet    a sidebar click → the new page's title shown and the script idle, cycling through all pages
  switch training the same while a 400-epoch run started from the Train page trains
  train→starting  Start click → "starting…" on the page (trees without that state: n/a)
  train→point     Start click → the first curve point drawn; also "done" after the run's last log line
  reload→view     a reload of a Latent map with a clicked point → that point's panel shown again (n/a if not)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import e2e_helpers as e2e  # noqa: E402
import live_helpers as live  # noqa: E402

PAGES = ["Reconstruction & KL", "Train", "β sweep", "Compare", "Checkpoints", "Latent map"]
TITLES = {"Latent map": "Latent map", "Reconstruction & KL": "Reconstruction & KL", "Train": "Train a model",
          "β sweep": None, "Compare": None, "Checkpoints": "Checkpoints"}  # None: any new h1 will do


def start(root: Path, runs: Path, port: int, env: dict | None = None) -> tuple[e2e.Server, float]:
    """A server of the tree at `root`; (server, time.perf_counter() at the process start)."""
    full = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "VAE_RUNS_DIR": str(runs), **(env or {})}
    full.pop("VAE_WARM_WORKER", None)  # each tree's own default
    log = Path(tempfile.mkstemp(prefix="live-bench-", suffix=".log")[1])
    entry = "serve.py" if (root / "serve.py").exists() else "app.py"  # each tree's README start command
    cmd = [sys.executable, "-m", "streamlit", "run", entry, "--server.headless", "true", "--server.port",
           str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"]
    t0 = time.perf_counter()
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, cwd=root, env=full, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    server = e2e.Server(proc, port, log)
    deadline = time.monotonic() + 90
    while not e2e.health_ok(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(server.log_tail())
        time.sleep(0.05)
    return server, t0


def h1(page) -> str:
    return page.evaluate("() => (document.querySelector('[data-testid=\"stMain\"] h1') || {}).innerText || ''")


def switch(page, title: str, timeout: float = 60.0) -> float:
    """Seconds from the sidebar click to the new page's title shown with the script idle."""
    before = h1(page)
    want = TITLES[title]
    link = page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first
    t0 = time.perf_counter()
    link.click()
    page.wait_for_function(
        """([want, before]) => { const h = document.querySelector('[data-testid="stMain"] h1');
             const app = document.querySelector('[data-testid="stApp"]');
             const t = h ? h.innerText : '';
             return app && app.getAttribute('data-test-script-state') === 'notRunning'
                    && (want ? t.startsWith(want) : (t && t !== before)); }""",
        arg=[want, before], timeout=timeout * 1000, polling=16)
    return time.perf_counter() - t0


def switches(page, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        for title in PAGES:
            out.append(switch(page, title))
            page.wait_for_timeout(150)
    return out


def stop_runs(runs: Path) -> None:
    """SIGTERM every live run of the folder (not a measured step, so not through the browser; the bench is not
    the visitor who started it, so it signals the process named in the job spec directly)."""
    from vae import procs

    for spec_path in runs.glob("*.job.json"):
        spec = json.loads(spec_path.read_text())
        procs.terminate(spec.get("pid"), spec.get("pid_create"))


def fig(values: list[float]) -> str:
    if not values:
        return "n/a"
    a = np.asarray(values)
    return f"{np.percentile(a, 50):.2f} / {np.percentile(a, 95):.2f} s (n={len(a)})"


def measure(root: Path, label: str, rounds: int, port: int) -> dict:
    from playwright.sync_api import sync_playwright

    runs = Path(tempfile.mkdtemp(prefix=f"live-bench-{label}-"))
    res: dict = {}
    with sync_playwright() as pw:
        browser = e2e.launch_browser(pw)  # a visitor's browser is already running: its start is not the app's
        page = e2e.new_page(browser)
        server, t0 = start(root, runs, port)
        try:
            page.goto(server.url, wait_until="domcontentloaded")
            page.wait_for_function(e2e.MAP_DRAWN_JS, timeout=120_000, polling=16)
            res["cold start"] = [time.perf_counter() - t0]
            e2e.wait_idle(page)
            switches(page, 1)  # first visit of each page: its caches fill (reported apart)
            res["switch quiet"] = switches(page, rounds)

            # Train click → starting… / first point / done, on 20-epoch digits runs
            starting, first, done_lag = [], [], []
            switch(page, "Train")
            for i in range(rounds):
                name = f"bench-{i}"
                t_click = live.start_run(page, epochs=20, batch_size=32, name=name)
                seen = live.milestones(live.watch_run(page, timeout=180, name=name), t_click, name)
                if "starting" in seen:
                    starting.append(seen["starting"])
                if "first_point" in seen:
                    first.append(seen["first_point"])
                end = [json.loads(x) for x in (runs / f"bench-{i}.log.jsonl").read_text().splitlines()][-1]
                if "done_at" in seen:
                    done_lag.append(seen["done_at"] - end["time"])
                page.wait_for_timeout(500)
            res["train→starting"], res["train→point"], res["end→done"] = starting, first, done_lag

            # page switches while a long run started from the Train page trains
            live.start_run(page, epochs=400, batch_size=16, name="bench-long")
            page.wait_for_function("() => /epoch [1-9]/.test(document.body.innerText)", timeout=120_000)
            res["switch training"] = switches(page, rounds)
            stop_runs(runs)

            # reload → the same view (checkpoint + clicked point); a fresh page, so no leftover of the Train page
            page.goto(server.url, wait_until="domcontentloaded")
            page.wait_for_function(e2e.MAP_DRAWN_JS, timeout=120_000)
            e2e.wait_idle(page)
            lags = []
            for _ in range(rounds):
                row = live.click_map_point(page)
                page.wait_for_timeout(500)
                page.reload(wait_until="domcontentloaded")
                try:
                    lags.append(live.wait_selection(page, row, timeout=20))
                except Exception:  # a tree that does not restore the view
                    break
                e2e.wait_idle(page)
            res["reload→view"] = lags
        finally:
            server.stop()
            browser.close()
    return res


def cold_starts(root: Path, n: int, port: int) -> list[float]:
    """n more cold starts of the tree: README's `streamlit run` → the demo's map drawn, the browser already open."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as pw:
        browser = e2e.launch_browser(pw)
        for i in range(n):
            page = e2e.new_page(browser)
            server, t0 = start(root, Path(tempfile.mkdtemp(prefix="live-bench-cold-")), port + 1 + i)
            try:
                page.goto(server.url, wait_until="domcontentloaded")
                page.wait_for_function(e2e.MAP_DRAWN_JS, timeout=120_000, polling=16)
                out.append(time.perf_counter() - t0)
            finally:
                server.stop()
                page.context.close()
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, help="an older tree to measure first, in the same run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--port", type=int, default=8610)
    ap.add_argument("--cold-starts", type=int, default=0, help="this many more cold starts per tree, timed apart")
    a = ap.parse_args()
    trees = ([("before", a.before)] if a.before else []) + [("after", ROOT)]
    results = {}
    for label, root in trees:
        results[label] = measure(root, label, a.rounds, a.port)
        results[label]["cold start"] += cold_starts(root, a.cold_starts, a.port + 20)
        print(label, json.dumps({k: [round(v, 3) for v in vs] for k, vs in results[label].items()}), flush=True)
    print(f"\nload average at the end: {os.getloadavg()}; {os.cpu_count()} CPUs\n")
    keys = list(results[trees[-1][0]])
    print("| figure (p50 / p95) | " + " | ".join(label for label, _ in trees) + " |")
    print("|---|" + "---|" * len(trees))
    for k in keys:
        print(f"| {k} | " + " | ".join(fig(results[label].get(k, [])) for label, _ in trees) + " |")


if __name__ == "__main__":
    main()
