"""Walk every page of the app in headless Chromium, do its main interactions, and save 1400×900 screenshots.

    python bench/browser_walk.py OUTDIR [--port 8605] [--full-page] [--data digits]

A tool for humans reviewing the UI, not a test: it keeps going when a step fails and prints what failed.
User runs go to a temp folder (VAE_RUNS_DIR), never into checkpoints/runs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import e2e_helpers as e2e  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--full-page", action="store_true", help="also save full-height screenshots (*-full.png)")
    ap.add_argument("--train-epochs", type=int, default=3)
    ap.add_argument("--sweep-epochs", type=int, default=40, help="per β; fewer leaves every β collapsed (KL ≈ 0)")
    args = ap.parse_args()
    if (why := e2e.browser_missing_reason()):
        print(f"cannot run: {why}")
        return 2
    from playwright.sync_api import sync_playwright

    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    runs = Path(tempfile.mkdtemp(prefix="vae-walk-runs-"))
    errors: list[str] = []
    problems: list[str] = []
    server = e2e.start_server(args.port, runs_dir=runs)
    n = [0]

    def shot(page, name: str) -> None:
        n[0] += 1
        stem = f"{n[0]:02d}-{name}"
        page.mouse.move(5, 5)  # no tooltip or hover label left over from the last click
        e2e.screenshot(page, out / f"{stem}.png")
        if args.full_page:
            e2e.screenshot(page, out / f"{stem}-full.png", full_page=True)
        for msg in e2e.streamlit_errors(page):
            problems.append(f"{stem}: Streamlit error: {msg[:300]}")
        print(f"saved {stem}.png", flush=True)

    def step(name: str, fn) -> None:
        try:
            fn()
        except Exception as exc:  # a walk reports and continues
            problems.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
            print(f"step failed: {name}: {exc}", flush=True)

    try:
        with sync_playwright() as pw:
            browser = e2e.launch_browser(pw)
            page = e2e.new_page(browser, errors)
            e2e.open_app(page, server)
            step("map ready", lambda: e2e.wait_map_ready(page))
            shot(page, "latent-map")
            step("server-drawn map", lambda: e2e.map_use_server_drawn(page))  # the Plotly path clicked below
            step("map click point", lambda: e2e.map_click_point(page, index=5))
            shot(page, "latent-map-clicked")
            step("map slider", lambda: [e2e.map_press_slider(page, 0, "ArrowRight") for _ in range(3)]
                 and e2e.wait_idle(page))
            shot(page, "latent-map-slider")
            from ui.map.state import TABS

            for slug, label in TABS.items():  # only the open tab runs: each click is a rerun that draws it
                step(f"map tab {label}", lambda label=label: (page.get_by_role("tab", name=label).first.click(),
                                                              page.wait_for_timeout(200), e2e.wait_idle(page)))
                page.get_by_role("tab", name=label).first.scroll_into_view_if_needed()
                shot(page, f"latent-map-tab-{slug}")

            step("go recon", lambda: e2e.go_to(page, "Reconstruction"))
            shot(page, "recon-kl")

            step("go train", lambda: e2e.go_to(page, "Train"))
            shot(page, "train")
            step("train start", lambda: e2e.train_start(page, epochs=args.train_epochs, name="walk"))
            time.sleep(2)
            shot(page, "train-running")
            step("train done", lambda: e2e.train_wait_done(page, 120))
            shot(page, "train-done")

            step("go sweep", lambda: e2e.go_to(page, "β sweep"))
            shot(page, "beta-sweep")
            step("sweep start", lambda: e2e.sweep_start(page, "0.5, 1, 2", args.sweep_epochs, "walk"))
            time.sleep(2)
            shot(page, "beta-sweep-running")
            step("sweep done", lambda: e2e.sweep_wait_done(page, 240))
            shot(page, "beta-sweep-done")

            step("go compare", lambda: e2e.go_to(page, "Compare"))
            shot(page, "compare")
            step("compare ladder", lambda: e2e.compare_ladder(page))
            shot(page, "compare-ladder")

            step("go checkpoints", lambda: e2e.go_to(page, "Checkpoints"))
            shot(page, "checkpoints")
            step("sidebar collapsed demo", lambda: e2e.select_checkpoint(page, "demo · digits-6-beta4-vae-collapsed"))
            step("map of collapsed demo", lambda: (e2e.go_to(page, "Latent map"), e2e.wait_map_ready(page)))
            shot(page, "latent-map-collapsed")
            step("map of z8 demo", lambda: (e2e.select_checkpoint(page, "demo · digits-5-vae-z8"),
                                            e2e.wait_map_ready(page)))
            shot(page, "latent-map-z8")
            browser.close()
    finally:
        server.stop()
        shutil.rmtree(runs, ignore_errors=True)
    for e in errors:
        print("browser:", e)
    for p in problems:
        print("problem:", p)
    print(f"{n[0]} screenshots in {out}; {len(errors)} browser errors; {len(problems)} problems")
    return 0 if not (errors or problems) else 1


if __name__ == "__main__":
    sys.exit(main())
