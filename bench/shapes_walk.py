"""Walk the disentanglement views in headless Chromium as a student would, saving screenshots.

    python bench/shapes_walk.py OUTDIR [--port 8611] [--epochs 5] [--betas 1,4]

Trains one `shapes` run per β from the Train form, then opens each on the Factors page, colours the Latent map
by a factor, opens the bundled shapes demos as a β sweep (MIG against β) and in Compare (MIG row), and shows the
Factors page's message for a dataset without factors. A tool for humans reviewing the UI, not a test.
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

import e2e_helpers as e2e  # noqa: E402


def choose(page, key: str, option: str) -> None:
    """Pick `option` in the selectbox with widget key `key`."""
    page.locator(f".st-key-{key} [data-testid='stSelectbox']").first.click()
    page.locator('[role="option"]').filter(has_text=option).first.click()
    page.wait_for_timeout(300)
    e2e.wait_idle(page)


def fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True).first
    box.fill(value)
    box.press("Enter")
    e2e.wait_idle(page)


def train(page, beta: float, epochs: int, name: str) -> None:
    e2e.go_to(page, "Train")
    exp = page.locator('[data-testid="stExpander"]').filter(has_text="New run").first
    if not exp.locator("details").first.evaluate("d => d.open"):
        exp.locator("summary").first.click()
    choose(page, "train_data", "shapes")
    fill(page, "β (weight of the KL term)", str(beta))
    fill(page, "Epochs", str(epochs))
    fill(page, "Run name", name)
    page.locator(".st-key-train_start button").first.click()
    page.wait_for_timeout(500)
    e2e.wait_idle(page)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--betas", default="1,4")
    args = ap.parse_args()
    if (why := e2e.browser_missing_reason()):
        print(f"cannot run: {why}")
        return 2
    from playwright.sync_api import sync_playwright

    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    runs = Path(tempfile.mkdtemp(prefix="vae-shapes-walk-"))
    errors: list[str] = []
    problems: list[str] = []
    server = e2e.start_server(args.port, runs_dir=runs)
    n = [0]

    def shot(page, name: str, full: bool = True) -> None:
        n[0] += 1
        page.mouse.move(5, 5)
        e2e.screenshot(page, out / f"{n[0]:02d}-{name}.png", full_page=full)
        for msg in e2e.streamlit_errors(page):
            problems.append(f"{name}: Streamlit error: {msg[:300]}")
        print(f"saved {n[0]:02d}-{name}.png", flush=True)

    def step(name: str, fn) -> None:
        try:
            fn()
        except Exception as exc:  # a walk reports and continues
            problems.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
            print(f"step failed: {name}: {exc}", flush=True)

    betas = [float(b) for b in args.betas.split(",")]
    try:
        with sync_playwright() as pw:
            browser = e2e.launch_browser(pw)
            page = e2e.new_page(browser, errors)
            e2e.open_app(page, server)
            for beta in betas:
                name = f"walk-shapes-b{beta:g}"
                t0 = time.monotonic()
                step(f"train β={beta:g}", lambda: train(page, beta, args.epochs, name))  # noqa: B023 - step() calls it now
                shot(page, f"train-b{beta:g}-running", full=False)
                step(f"wait β={beta:g}", lambda: e2e.train_wait_done(page, 1800))
                print(f"β={beta:g}: trained from the browser in {time.monotonic() - t0:.0f} s", flush=True)
                shot(page, f"train-b{beta:g}-done")
                step(f"factors β={beta:g}", lambda: (e2e.select_checkpoint(page, f"run · {name}"),  # noqa: B023
                                                     e2e.go_to(page, "Factors")))
                shot(page, f"factors-b{beta:g}")
            step("demo factors", lambda: (e2e.select_checkpoint(page, "demo · shapes-2-vae"), e2e.go_to(page, "Factors")))
            shot(page, "factors-demo-large-beta")
            step("map", lambda: (e2e.go_to(page, "Latent map"), e2e.wait_map_ready(page)))
            step("map colour by x", lambda: choose(page, "map_colour", "x"))
            step("map ready", lambda: e2e.wait_map_ready(page))
            shot(page, "latent-map-colour-x", full=False)
            step("sweep", lambda: (e2e.go_to(page, "β sweep"), choose(page, "beta_pick", "conv VAEs on shapes")))
            shot(page, "beta-sweep-shapes-demos")
            step("compare", lambda: e2e.go_to(page, "Compare"))
            for demo in ("shapes-1-vae", "shapes-2-vae"):
                step(f"compare pick {demo}", lambda: (
                    page.locator(".st-key-compare_select [data-testid='stMultiSelect']").first.click(),
                    page.keyboard.type(demo), page.locator('[role="option"]').filter(has_text=demo).first.click(),  # noqa: B023
                    page.keyboard.press("Escape"), e2e.wait_idle(page, 900)))  # IWAE of two conv models: minutes under load
            shot(page, "compare-shapes")
            step("digits factors", lambda: (e2e.select_checkpoint(page, "demo · digits-3-vae"), e2e.go_to(page, "Factors")))
            shot(page, "factors-no-factors", full=False)
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
