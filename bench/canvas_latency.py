"""Latent canvas: hover -> decoded image painted in the browser, against today's server round trips, 10,000 points.

Prints figures; asserts nothing about speed. Run from the repository root:

    python bench/canvas_latency.py                          # MNIST from ../shared/data/mnist via the .npz loader
    python bench/canvas_latency.py --moves 200 --shots bench/out

It writes a 20,000-image .npz into a temp folder (the MNIST test set plus a copy shifted by one pixel; random
MNIST-shaped images if the file is missing), and trains through the CLI, split half and half so that the map holds
10,000 test points: an MLP VAE 784-400-2 (1 epoch) and a conv VAE (channels 32,64, hidden 256; 1 epoch on 4,000
images). Then, in headless Chromium against `streamlit run serve.py`, per checkpoint:
  - payload: bytes of the parts the canvas is sent once (decoder, encoder, points, thumbnails, colouring; see
    bench/canvas_payload.py for before/after) and the websocket bytes received while the checkpoint opens;
  - first paint: the component's own clock from receiving data to all points drawn, and the wall time from picking
    the checkpoint in the sidebar to the canvas being drawn;
  - hover: `moves` mouse moves over empty map space; per move, from the event's timestamp to the next animation
    frame after the decoded image was painted (p50/p95), and the websocket frames sent meanwhile;
  - today's paths in the same run: slider key press -> the server's decoded image changes, and click on the
    server-drawn (Plotly) map -> the clicked point's reconstruction shown (p50/p95); and a click on the canvas ->
    the same server-side details.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
import canvas_helpers as cv  # noqa: E402
import e2e_helpers as e2e  # noqa: E402

MNIST = ROOT.parent / "shared" / "data" / "mnist" / "mnist-test.npz"


def pct(v, q) -> float:
    return float(np.percentile(np.asarray(v, dtype=float), q)) if len(v) else float("nan")


def make_data(work: Path, mnist: Path = MNIST) -> tuple[Path, str]:
    if mnist.exists():
        with np.load(mnist) as f:
            x, y = f["x"], f["y"]
        x = np.concatenate([x, np.roll(x, 1, axis=2)])[:20_000]
        y = np.concatenate([y, y])[:20_000]
        source = f"{mnist.name} + a 1-pixel shifted copy"
    else:
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, 256, (20_000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 20_000)
        source = "random MNIST-shaped images (no MNIST file found)"
    npz = work / "bench-20k.npz"
    np.savez(npz, x=x, y=y)
    return npz, source


def train(npz: Path, out: Path, *extra: str) -> float:
    cmd = [sys.executable, "-m", "vae", "train", "--data", str(npz), "--test-fraction", "0.5", "--epochs", "1",
           "--latent-dim", "2", "--out", str(out), "--no-progress", "--threads", "2", *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def payload_parts(path: Path) -> dict:
    """Bytes on the wire of each part the canvas is sent once, from the same cached builders the page uses."""
    import logging

    from ui.map.canvas_map import colour_payload, default_colour, part_bytes, static_payload
    from ui.common import mtime
    from ui.map.state import View

    for name in [n for n in logging.root.manager.loggerDict if n.startswith("streamlit")]:  # "no runtime" noise
        logging.getLogger(name).setLevel(logging.ERROR)

    parts = part_bytes(static_payload(str(path), mtime(path), View()),
                       colour_payload(str(path), View(), default_colour(str(path), ())))
    return parts | {"total": sum(parts.values())}


def hover_run(page, sent: dict, moves: int) -> dict:
    spots = cv.empty_spots(page, 40, margin_px=10)
    page.mouse.move(spots[0]["x"], spots[0]["y"])
    page.wait_for_timeout(200)
    e2e.wait_idle(page)
    page.evaluate("() => { window.__vaeCanvas.stats.hover = []; }")
    before = sent["sent"]
    for k in range(moves):
        s = spots[k % len(spots)]
        page.mouse.move(s["x"] + (k % 3), s["y"] - (k % 2))
    page.wait_for_timeout(300)
    t = page.evaluate("() => window.__vaeCanvas.stats.hover.slice()")
    return {"p50_ms": pct(t, 50), "p95_ms": pct(t, 95), "n": len(t), "frames_sent": sent["sent"] - before}


def slider_run(page, repeats: int) -> list[float]:
    src = "() => { const i = document.querySelector('[data-testid=stMain] [data-testid=stImage] img'); return i ? i.src : null; }"
    thumb = e2e.map_sliders(page).first
    times = []
    for k in range(repeats):
        before = page.evaluate(src)
        thumb.focus()
        t0 = time.perf_counter()
        page.keyboard.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")
        page.wait_for_function(f"(b) => ({src})() !== b", arg=before, timeout=30_000)
        times.append(1000 * (time.perf_counter() - t0))
        e2e.wait_idle(page)
    return times


def click_run(page, repeats: int, canvas: bool) -> list[float]:
    """Click a point -> its 'x: test #N' caption is shown (server-side details)."""
    times = []
    rows_seen = set()
    for k in range(repeats):
        if canvas:
            i = page.evaluate("(k) => (k * 997) % window.__vaeCanvas.n", k)
            pos = cv.screen_of_point(page, i)
            row = pos["row"]
            t0 = time.perf_counter()
            page.mouse.click(pos["x"], pos["y"])
        else:
            pos = e2e.point_position(page, 0, k % 10, 3 * k)
            row = pos["customdata"]
            page.mouse.move(pos["x"] - 3, pos["y"] - 3)
            page.wait_for_timeout(60)
            page.mouse.move(pos["x"], pos["y"])
            page.wait_for_timeout(150)
            t0 = time.perf_counter()
            page.mouse.click(pos["x"], pos["y"])
        try:
            page.wait_for_function("(r) => Array.from(document.querySelectorAll('[data-testid=stImageCaption]'))"
                                   ".some(e => e.innerText.startsWith('x: test #' + r + ','))", arg=row, timeout=30_000)
        except Exception:  # a click the map gave to a neighbour: not a latency sample
            e2e.wait_idle(page)
            continue
        times.append(1000 * (time.perf_counter() - t0))
        rows_seen.add(row)
        e2e.wait_idle(page)
    return times


def open_checkpoint(page, stem: str, received: dict) -> dict:
    received["bytes"] = 0
    t0 = time.perf_counter()
    e2e.select_checkpoint(page, f"run · {stem}", timeout=180)
    page.wait_for_function("() => window.__vaeCanvas && window.__vaeCanvas.n >= 10000", timeout=180_000)
    wall = time.perf_counter() - t0
    e2e.wait_idle(page, 120)
    first = page.evaluate("() => window.__vaeCanvas.stats.firstPaintMs")
    return {"wall_s": wall, "first_paint_ms": first, "ws_bytes_received": received["bytes"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moves", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=15, help="slider steps and clicks per path")
    ap.add_argument("--shots", default=None, help="folder for screenshots of the MNIST canvas")
    args = ap.parse_args()
    why = e2e.browser_missing_reason()
    if why:
        sys.exit(f"no browser: {why}")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runs = work / "runs"
        runs.mkdir()
        npz, source = make_data(work)
        ckpts = {
            "mlp": (runs / "bench-mlp-784-400-2.safetensors", ("--hidden", "400")),
            "conv": (runs / "bench-conv.safetensors", ("--arch", "conv", "--channels", "32,64", "--hidden", "256",
                                                       "--limit", "4000")),
        }
        print(f"data: {source}; 10,000 test points on each map")
        for name, (path, extra) in ckpts.items():
            print(f"trained {name} ({path.stem}) in {train(npz, path, *extra):.1f} s")
        parts = {name: payload_parts(path) for name, (path, _) in ckpts.items()}
        server = e2e.start_server(runs_dir=runs, log_path=work / "streamlit.log", timeout=120)
        results: dict = {}
        try:
            with sync_playwright() as pw:
                browser = e2e.launch_browser(pw)
                page = e2e.new_page(browser)
                sent = cv.count_sent_frames(page)
                received = {"bytes": 0}
                page.on("websocket", lambda ws: ws.on("framereceived", lambda p: received.__setitem__(
                    "bytes", received["bytes"] + len(p))))
                e2e.open_app(page, server)
                e2e.wait_map_ready(page, 120)
                for name, (path, _) in ckpts.items():
                    r = results[name] = open_checkpoint(page, path.stem, received)
                    r["hover"] = hover_run(page, sent, args.moves)
                    if args.shots and name == "mlp":
                        shots(page, Path(args.shots))
                    r["canvas_click_ms"] = click_run(page, args.repeats, canvas=True)
                    r["slider_ms"] = slider_run(page, args.repeats)
                    e2e.map_use_server_drawn(page, 120)
                    r["plotly_click_ms"] = click_run(page, args.repeats, canvas=False)
                    page.locator(".st-key-map_classic label").first.click()  # back to the canvas
                    page.wait_for_timeout(300)
                    e2e.wait_map_ready(page, 120)
                browser.close()
        finally:
            server.stop()

    print("\nfigure                                   MLP 784-400-2        conv (32,64)")
    row = lambda label, f: print(f"{label:<40} {f('mlp'):<20} {f('conv')}")  # noqa: E731
    row("hover -> painted p50 / p95 (ms)", lambda n: f"{results[n]['hover']['p50_ms']:.1f} / {results[n]['hover']['p95_ms']:.1f}")
    row(f"ws frames sent during {args.moves} hover moves", lambda n: str(results[n]["hover"]["frames_sent"]))
    row("data -> 10,000 points painted (ms)", lambda n: f"{results[n]['first_paint_ms']:.0f}")
    row("pick checkpoint -> canvas drawn (s)", lambda n: f"{results[n]['wall_s']:.2f}")
    row("parts decoder/encoder/view/atlas/colour (kB)",
        lambda n: "/".join(f"{parts[n].get(k, 0) / 1024:.0f}" for k in ("decoder", "encoder", "view", "atlas", "colour")))
    row("parts total (kB)", lambda n: f"{parts[n]['total'] / 1024:.0f}")
    row("ws bytes received opening it (kB)", lambda n: f"{results[n]['ws_bytes_received'] / 1024:.0f}")
    for key, label in (("canvas_click_ms", "canvas click -> details p50 / p95 (ms)"),
                       ("slider_ms", "today: slider -> image p50 / p95 (ms)"),
                       ("plotly_click_ms", "today: Plotly click -> image p50/p95 (ms)")):
        row(label, lambda n, k=key: f"{pct(results[n][k], 50):.0f} / {pct(results[n][k], 95):.0f} (n={len(results[n][k])})")


def shots(page, out: Path) -> None:
    """The canvas as a user sees it: hovering empty space, hovering a dot, after a click, while drawing."""
    out.mkdir(parents=True, exist_ok=True)
    spot = cv.empty_spots(page, 12)[5]
    page.mouse.move(spot["x"], spot["y"])
    page.wait_for_timeout(200)
    e2e.screenshot(page, out / "canvas-hover-empty.png")
    pos = cv.screen_of_point(page, cv.clearest_point(page))
    page.mouse.move(pos["x"], pos["y"])
    page.wait_for_timeout(200)
    e2e.screenshot(page, out / "canvas-hover-dot.png")
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_timeout(300)
    e2e.wait_idle(page)
    page.mouse.move(pos["x"] + 40, pos["y"] + 30)
    e2e.screenshot(page, out / "canvas-clicked.png", full_page=True)
    cv.draw_stroke(page, [(0.5, 0.15), (0.5, 0.5), (0.52, 0.85)])  # a "1"
    page.wait_for_timeout(300)
    e2e.wait_idle(page)
    e2e.screenshot(page, out / "canvas-drawn.png")


if __name__ == "__main__":
    main()
