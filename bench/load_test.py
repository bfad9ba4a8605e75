"""Load test: the real server, 2 training runs and 8 browser sessions at once; errors, peak RSS, slider latency, cache bounds.

    python bench/load_test.py                 # ~3 minutes on 2 cores; prints figures and PASS/FAIL
    python bench/load_test.py --duration 30 --sessions 4 --cache-ckpts 10

Loopback only, bounded loops: every phase has a deadline and the script stops by itself.
Memory figures are the Streamlit server process only (VmRSS/VmHWM from /proc); training subprocesses
started by the Train page are reported separately as "children".
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import e2e_helpers as e2e  # noqa: E402

CACHE_MAX_ENTRIES = 8  # ui.common._load_checkpoint(max_entries=8): the model cache this bench tries to overflow


class MemorySampler(threading.Thread):
    """Samples the server's RSS (and its children's) every `every` seconds until stopped."""

    def __init__(self, pid: int, every: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.stop_event = threading.Event()
        self.peak_server_kb = 0
        self.peak_children_kb = 0

    def children(self) -> list[int]:
        out = []
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == self.pid:
                        out.append(int(p.name))
                except (OSError, IndexError, ValueError):
                    pass
        return out

    def now_kb(self) -> int:
        return e2e.proc_status_kb(self.pid, "VmRSS") or 0

    def run(self) -> None:
        while not self.stop_event.wait(self.every):
            self.peak_server_kb = max(self.peak_server_kb, self.now_kb())
            kids = sum(e2e.proc_status_kb(c, "VmRSS") or 0 for c in self.children())
            self.peak_children_kb = max(self.peak_children_kb, kids)


# ---- in-browser latency probe: key press on a slider -> first change of an image in the main area ------

_ARM_JS = """
(evt) => {
  const main = document.querySelector('[data-testid="stMain"]');
  const srcs = () => Array.from(main.querySelectorAll('img')).map(i => i.src).join('|');
  const probe = {before: srcs(), t_key: null, t_img: null};
  window.__probe = probe;
  const onKey = (e) => { if (probe.t_key === null) probe.t_key = performance.now(); };
  document.addEventListener(evt, onKey, {capture: true, once: true});
  const obs = new MutationObserver(() => {
    if (probe.t_key !== null && probe.t_img === null && srcs() !== probe.before) {
      probe.t_img = performance.now(); obs.disconnect();
    }
  });
  obs.observe(main, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  setTimeout(() => obs.disconnect(), 30000);
}
"""

_READ_JS = "() => window.__probe ? {t_key: window.__probe.t_key, t_img: window.__probe.t_img} : null"


class Session:
    """One browser session with its own action script; actions are fired for all sessions, then awaited."""

    def __init__(self, idx: int, page, errors: list[str]):
        self.idx, self.page, self.errors = idx, page, errors
        self.rng = random.Random(idx)
        self.step = 0
        self.where = "map"
        self.pending_probe = None  # 'slider' or 'click' while a latency probe is armed
        self.latencies: dict[str, list[float]] = {"slider": [], "click": []}
        self.actions = 0

    def fire(self) -> None:
        """Start one action without waiting for the rerun it causes."""
        p, self.step = self.page, self.step + 1
        self.pending_probe = None
        if self.where != "map":
            e2e.go_to_nowait(p, "Latent map")
            self.where = "map"
        elif self.step % 6 == 0:
            e2e.go_to_nowait(p, "Compare")
            self.where = "compare"
        elif self.step % 3 == 0:
            p.evaluate(_ARM_JS, "mousedown")
            e2e.map_click_point(p, index=self.rng.randrange(40), trace=self.rng.randrange(10), wait=False)
            self.pending_probe = "click"
        else:
            p.evaluate(_ARM_JS, "keydown")
            e2e.map_press_slider(p, self.rng.randrange(2), self.rng.choice(["ArrowRight", "ArrowLeft"]))
            self.pending_probe = "slider"
        self.actions += 1

    def settle(self, timeout: float) -> None:
        e2e.wait_idle(self.page, timeout)
        if self.where == "compare" and self.step % 12 == 0:
            e2e.compare_ladder(self.page)
        for msg in e2e.streamlit_errors(self.page):
            self.errors.append(f"session {self.idx} ({self.where}): {msg}")
        if self.pending_probe:
            r = self.page.evaluate(_READ_JS)
            if r and r["t_key"] is not None and r["t_img"] is not None:
                self.latencies[self.pending_probe].append(r["t_img"] - r["t_key"])


def start_training_runs(page, n: int, epochs: int) -> str:
    """Start n runs through the Train page; returns how they were started."""
    e2e.go_to(page, "Train")
    for i in range(n):
        e2e.train_start(page, epochs=epochs, name=f"load-{i}")
    e2e.go_to(page, "Latent map")
    return "Train page"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def make_cache_ckpts(runs: Path, n: int) -> list[Path]:
    """n distinct ~20 MB checkpoints (one wide MLP trained briefly, copied): big enough to show in RSS."""
    src = runs / "cache-00.safetensors"
    subprocess.run([sys.executable, "-m", "vae", "train", "--data", "digits", "--hidden", "1536,1536", "--epochs", "1",
                    "--limit", "256", "--seed", "0", "--threads", "1", "--no-optimizer-state", "--no-progress",
                    "--out", str(src)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, timeout=300)
    paths = [src]
    for i in range(1, n):
        dst = runs / f"cache-{i:02d}.safetensors"
        shutil.copyfile(src, dst)
        paths.append(dst)
    return paths


def cache_phase(page, sampler: MemorySampler, paths: list[Path]) -> dict:
    """Open each checkpoint on the Latent map in turn; RSS after each, and whether it stopped growing."""
    e2e.go_to(page, "Latent map")
    rss_mb = []
    for p in paths:
        e2e.select_checkpoint(page, f"run · {p.stem}")
        e2e.wait_idle(page, 60)
        time.sleep(0.3)
        rss_mb.append(sampler.now_kb() / 1024)
    size_mb = paths[0].stat().st_size / 2**20
    k = min(CACHE_MAX_ENTRIES, len(paths)) - 1
    late_growth = rss_mb[-1] - rss_mb[k]
    over = len(paths) - 1 - k
    # an unbounded cache would grow by at least one model (the file size) per extra checkpoint
    bounded = over > 0 and late_growth < 0.5 * over * size_mb
    return {"rss_mb": [round(r) for r in rss_mb], "ckpt_mb": round(size_mb, 1), "growth_after_cache_full_mb":
            round(late_growth), "unbounded_would_add_mb": round(over * size_mb), "bounded": bounded}


def cold_start(pw, runs: Path, n: int, port: int) -> dict:
    """Seconds from `streamlit run` to the demo map's points drawn in Chromium (browser already open), n times."""
    browser = e2e.launch_browser(pw)
    health, drawn = [], []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            server = e2e.start_server(port + 1 + i, runs_dir=runs)
            try:
                health.append(time.perf_counter() - t0)
                page = e2e.new_page(browser)
                page.goto(server.url, wait_until="domcontentloaded")
                e2e.wait_map_ready(page, 120)
                drawn.append(time.perf_counter() - t0)
                page.context.close()
            finally:
                server.stop()
    finally:
        browser.close()
    return {"runs": n, "health_ok_s": [round(h, 2) for h in health], "map_drawn_s": [round(d, 2) for d in drawn],
            "map_drawn_median_s": round(statistics.median(drawn), 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8610)
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--duration", type=float, default=75.0, help="seconds of clicking (bounded)")
    ap.add_argument("--train-runs", type=int, default=2)
    ap.add_argument("--train-epochs", type=int, default=60)
    ap.add_argument("--cache-ckpts", type=int, default=14, help="checkpoints opened in turn (> cache max_entries)")
    ap.add_argument("--cold-start", type=int, default=3, help="cold starts to time first (0: skip)")
    ap.add_argument("--shots", default=None, help="folder for a screenshot of each session at the end")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()
    if (why := e2e.browser_missing_reason()):
        print(f"cannot run: {why}")
        return 2
    from playwright.sync_api import sync_playwright

    runs = Path(tempfile.mkdtemp(prefix="vae-load-runs-"))
    print(f"runs dir {runs}; preparing {args.cache_ckpts} checkpoints for the cache check…", flush=True)
    cache_paths = make_cache_ckpts(runs, args.cache_ckpts) if args.cache_ckpts else []
    errors: list[str] = []
    result: dict = {"sessions": args.sessions, "duration_s": args.duration}
    if args.cold_start:
        print(f"timing {args.cold_start} cold starts…", flush=True)
        with sync_playwright() as pw:
            result["cold_start"] = cold_start(pw, runs, args.cold_start, args.port)
    server = e2e.start_server(args.port, runs_dir=runs)
    sampler = MemorySampler(server.proc.pid)
    sampler.start()
    try:
        with sync_playwright() as pw:
            browser = e2e.launch_browser(pw)
            pages = [e2e.new_page(browser, errors) for _ in range(args.sessions)]
            e2e.open_app(pages[0], server)
            result["training_started_via"] = start_training_runs(pages[0], args.train_runs, args.train_epochs)
            for p in pages[1:]:
                p.goto(server.url, wait_until="domcontentloaded")
            for p in pages:
                e2e.wait_idle(p, 120)
                e2e.wait_map_ready(p, 60)
                e2e.map_use_server_drawn(p, 60)  # the sessions click the server-drawn map: the server's load
            sessions = [Session(i, p, errors) for i, p in enumerate(pages)]
            print(f"{args.sessions} sessions open; clicking for {args.duration:.0f} s…", flush=True)
            t_end = time.monotonic() + args.duration
            rounds = 0
            try:
                while time.monotonic() < t_end:
                    for s in sessions:  # fire all, then wait all: the server sees them at once
                        s.fire()
                    for s in sessions:
                        s.settle(90)
                    rounds += 1
            except Exception:
                if args.shots:
                    for s in sessions:
                        e2e.screenshot(s.page, Path(args.shots) / f"failed-session-{s.idx}.png")
                raise
            result.update(rounds=rounds, actions=sum(s.actions for s in sessions))
            for kind in ("slider", "click"):
                lat = [x for s in sessions for x in s.latencies[kind]]
                result[f"{kind}_samples"] = len(lat)
                if lat:
                    result[f"{kind}_to_image_ms"] = {"p50": round(pct(lat, 0.5)), "p95": round(pct(lat, 0.95)),
                                                     "max": round(max(lat))}
            if args.shots:
                for s in sessions:
                    e2e.screenshot(s.page, Path(args.shots) / f"session-{s.idx}.png")
            for p in pages[1:]:
                p.context.close()
            if cache_paths:
                print("opening checkpoints one after another for the cache check…", flush=True)
                result["cache"] = cache_phase(pages[0], sampler, cache_paths)
            browser.close()
        runs_status = {}
        for log in sorted(runs.glob("load-*.log.jsonl")):
            from vae.run import read_log

            ends = [e for e in read_log(log) if e.get("event") == "end"]
            runs_status[log.name] = ends[-1].get("status") if ends else "running"
        result["training_runs"] = runs_status
    except Exception as exc:  # report what we have; a crash of the bench is a failure, not a hang
        errors.append(f"bench: {type(exc).__name__}: {exc}")
    finally:
        sampler.stop_event.set()
        sampler.join()
        result["server_peak_rss_mb"] = round(max(sampler.peak_server_kb, e2e.proc_status_kb(server.proc.pid, "VmHWM") or 0) / 1024)
        result["children_peak_rss_mb"] = round(sampler.peak_children_kb / 1024)
        result["server_alive"] = server.proc.poll() is None
        server.stop()
        shutil.rmtree(runs, ignore_errors=True)

    result["errors"] = len(errors)
    checks = {
        "0 errors": not errors,
        "server alive": result["server_alive"],
        "slider latency measured": result.get("slider_samples", 0) > 0,
        "cache bounded": result.get("cache", {}).get("bounded", not cache_paths),
        "training runs started": len(result.get("training_runs", {})) == args.train_runs,
    }
    for e in errors[:20]:
        print("ERROR", e)
    for k, v in result.items():
        print(f"{k:>28}: {v}")
    for k, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {k}")
    if args.json:
        print(json.dumps({**result, "checks": checks, "error_messages": errors[:50]}))
    print("LOAD TEST", "PASS" if all(checks.values()) else "FAIL")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
