"""Latent map latency: slider -> decoded image with 10,000 points on the map, and cold start to a drawn map.

Prints figures; asserts nothing about speed. Run from the repository root:

    python bench/ui_latency.py                      # both parts
    python bench/ui_latency.py --skip-browser       # AppTest part only
    python bench/ui_latency.py --data /work/shared/data/mnist/mnist-test.npz --repeats 40

Part 1 trains a small 2-D VAE for one epoch on a 20,000-image .npz made in a temp folder (the MNIST test set
plus a copy shifted by one pixel, or random MNIST-shaped images when no MNIST file is given), split half and
half, so that its test split -- what the map draws -- holds 10,000 points. Then it times, with AppTest:
  - a whole-script rerun after slider.set_value() (AppTest always reruns the whole page),
  - the map fragment's own server time for the same change (what a browser slider move reruns),
  - the bare decode path: z -> decoder -> upscaled PNG bytes.
Part 2 starts `streamlit run serve.py` on a free port and times, in headless Chromium, from the process start
to the bundled demo's Plotly map being drawn; then, on the 10,000-point checkpoint, from a slider key press
to the new decoded image appearing.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MNIST = Path("/work/shared/data/mnist/mnist-test.npz")
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values), q))


def make_checkpoint(work: Path, data: Path | None) -> Path:
    """A 2-D VAE whose test split has 10,000 images, trained for one epoch through the CLI."""
    if data is not None and data.exists():
        with np.load(data) as f:
            x, y = f["x"], f["y"]
        x = np.concatenate([x, np.roll(x, 1, axis=2)])[:20_000]  # shifted copy: 20,000 distinct real images
        y = np.concatenate([y, y])[:20_000]
        source = f"{data.name} + a 1-pixel shifted copy"
    else:
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, 256, (20_000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 20_000)
        source = "random MNIST-shaped images"
    npz = work / "bench-20k.npz"
    np.savez(npz, x=x, y=y)
    out = work / "bench-map-10k.safetensors"
    cmd = [sys.executable, "-m", "vae", "train", "--data", str(npz), "--test-fraction", "0.5", "--epochs", "1",
           "--latent-dim", "2", "--hidden", "256,128", "--out", str(out), "--no-progress"]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    print(f"checkpoint: {out.name}, trained 1 epoch on {source} in {time.perf_counter() - t0:.1f} s")
    return out


def apptest_part(ckpt: Path, repeats: int) -> None:
    from streamlit.testing.v1 import AppTest

    import ui.common as common
    from ui.images import png_bytes
    from vae.explore import decode

    os.environ["VAE_RUNS_DIR"] = str(ckpt.parent)  # pages hold IDs: the checkpoint must be in the runs folder
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["ckpt_id"] = common.store().checkpoint_id(ckpt)
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    assert not at.exception, [e.value for e in at.exception]
    n = len(common.encode_test(ckpt)["y"])
    print(f"points on the map: {n:,}; first run (load, encode, build caches): {first * 1000:.0f} ms")
    full, frag = [], []
    for i in range(repeats):
        v = -2.0 + 4.0 * (i % 9) / 8
        t0 = time.perf_counter()
        at.slider(key="map_z1").set_value(v).run()
        full.append(1000 * (time.perf_counter() - t0))
        frag.append(at.session_state["map_fragment_ms"])
    model = common.load_model(ckpt).model
    bare = []
    for i in range(repeats):
        t0 = time.perf_counter()
        png_bytes(decode(model, [0.1 * i, -0.5])[0], 168)
        bare.append(1000 * (time.perf_counter() - t0))
    print(f"slider -> whole-page rerun (AppTest), {repeats} moves: p50 {pct(full, 50):.1f} ms, p95 {pct(full, 95):.1f} ms")
    print(f"slider -> map fragment (server time of what a browser slider move reruns): "
          f"p50 {pct(frag, 50):.1f} ms, p95 {pct(frag, 95):.1f} ms")
    print(f"bare decode path (z -> decoder -> upscaled PNG): p50 {pct(bare, 50):.2f} ms, p95 {pct(bare, 95):.2f} ms")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_health(port: int, timeout: float = 60) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("streamlit did not become healthy")


def browser_part(ckpt: Path | None, repeats: int) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        print(f"browser part skipped: no Chromium at {CHROMIUM}")
        return
    port = free_port()
    env = dict(os.environ)
    if ckpt is not None:
        env["VAE_RUNS_DIR"] = str(ckpt.parent)  # so the sidebar lists the 10,000-point checkpoint
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        t0 = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "serve.py", "--server.headless", "true",
                                   "--server.port", str(port), "--server.fileWatcherType", "none"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_health(port)
            healthy = time.perf_counter() - t0
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("() => { const c = window.__vaeCanvas; if (c && c.n > 0) return true;"
                                   " const g = document.querySelector('.js-plotly-plot');"
                                   " return g && g._fullData && g._fullData.length > 0"
                                   " && g.querySelector('canvas'); }", timeout=120_000)
            drawn = time.perf_counter() - t0
            print(f"cold start: `streamlit run` -> server healthy {healthy:.2f} s -> demo map drawn in Chromium "
                  f"{drawn:.2f} s")
            if ckpt is not None:
                slider_in_browser(page, ckpt, repeats)
        finally:
            server.terminate()
            server.wait(timeout=20)
            browser.close()


def slider_in_browser(page, ckpt: Path, repeats: int) -> None:
    """Pick the 10,000-point checkpoint in the sidebar, then time key press -> new decoded image shown."""
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=f"run · {ckpt.stem}").click()
    page.wait_for_function("() => { const c = window.__vaeCanvas; if (c && c.n >= 10000) return true;"
                           " const g = document.querySelector('.js-plotly-plot');"
                           " return g && g._fullData && g._fullData.reduce((n, t) => n + (t.customdata ?"
                           " t.customdata.length : 0), 0) >= 10000; }", timeout=120_000)
    time.sleep(1.0)
    # the decoded z is the first image on the page (the map column holds none)
    src = "() => { const i = document.querySelector('[data-testid=stImage] img'); return i ? i.src : null; }"
    thumb = page.locator('[data-testid="stSlider"] input[type=range]').first
    times = []
    for _ in range(repeats):
        before = page.evaluate(src)
        thumb.focus()
        t0 = time.perf_counter()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"(b) => ({src})() !== b", arg=before, timeout=30_000)
        times.append(1000 * (time.perf_counter() - t0))
        time.sleep(0.3)
    print(f"browser, 10,000 points: slider key press -> new decoded image shown, {repeats} moves: "
          f"p50 {pct(times, 50):.0f} ms, p95 {pct(times, 95):.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=MNIST, help="an .npz with x (N×28×28 uint8) and y")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--skip-browser", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the AppTest part")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="vae-ui-bench-") as tmp:
        ckpt = make_checkpoint(Path(tmp), args.data)
        apptest_part(ckpt, args.repeats)
        if not args.skip_browser:
            browser_part(ckpt, min(args.repeats, 15))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other work inflates the browser figures)")
    print("rerun: python bench/ui_latency.py [--skip-browser] [--repeats N] [--data PATH.npz]")


if __name__ == "__main__":
    main()
