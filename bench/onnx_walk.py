"""Walk "bring your own VAE" as a researcher would, in headless Chromium, and save 1400×900 screenshots.

    python bench/onnx_walk.py OUTDIR

A tool for humans reviewing the feature, not a test: it keeps going when a step fails and prints what failed.
1. a small VAE written in plain PyTorch (as in a notebook cell), trained for a few seconds on the digits;
2. exported with torch.onnx.export;
3. imported from the CLI (an MLP) and from the Checkpoints page's form (a conv VAE with BatchNorm);
4. opened on every page, hovered on the Latent map, and compared with a bundled demo on Compare.
User runs go to a temp folder (VAE_RUNS_DIR), never into checkpoints/runs.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
import canvas_helpers as cv  # noqa: E402
import e2e_helpers as e2e  # noqa: E402
import onnx_helpers as oh  # noqa: E402


class NotebookEncoder(nn.Module):  # 1. the researcher's own code: nothing from this app
    def __init__(self, d: int = 2):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 45), nn.ELU(), nn.Linear(45, 21), nn.ELU())
        self.mu, self.logvar = nn.Linear(21, d), nn.Linear(21, d)

    def forward(self, x):
        h = self.body(x)
        return self.mu(h), self.logvar(h)


def notebook_files(work: Path) -> tuple[Path, Path]:
    torch.manual_seed(0)
    enc = NotebookEncoder()
    dec = nn.Sequential(nn.Linear(2, 21), nn.ELU(), nn.Linear(21, 45), nn.ELU(), nn.Linear(45, 64))
    oh.train_briefly(enc, dec, "logits", steps=1500)
    paths = work / "notebook-enc.onnx", work / "notebook-dec.onnx"
    with warnings.catch_warnings():  # 2. export
        warnings.simplefilter("ignore")
        torch.onnx.export(enc.eval(), torch.rand(1, 1, 8, 8), paths[0], dynamo=False, input_names=["x"],
                          output_names=["mu", "logvar"], dynamic_axes={"x": {0: "batch"}})
        torch.onnx.export(dec.eval(), torch.randn(1, 2), paths[1], dynamo=False, input_names=["z"],
                          dynamic_axes={"z": {0: "batch"}})
    return paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    args = ap.parse_args()
    if (why := e2e.browser_missing_reason()):
        print(f"cannot run: {why}")
        return 2
    from playwright.sync_api import sync_playwright

    out, work = Path(args.outdir), Path(tempfile.mkdtemp(prefix="vae-onnx-walk-"))
    out.mkdir(parents=True, exist_ok=True)
    runs = work / "runs"
    runs.mkdir()
    problems: list[str] = []
    enc, dec = notebook_files(work)
    r = subprocess.run([sys.executable, "-m", "vae", "import-onnx", "--encoder", str(enc), "--decoder", str(dec),
                        "--data", "digits", "--out", str(runs / "notebook-mlp.safetensors")], cwd=ROOT,
                       capture_output=True, text=True)  # 3a. the CLI
    print(r.stdout or r.stderr, flush=True)
    conv = oh.case("conv-chunk", trained=True)
    (work / "conv-enc.onnx").write_bytes(conv.encoder)
    (work / "conv-dec.onnx").write_bytes(conv.decoder)
    server = e2e.start_server(runs_dir=runs)
    n, errors = [0], []

    def shot(page, name: str, keep_mouse: bool = False) -> None:
        n[0] += 1
        if not keep_mouse:  # no tooltip left over; a hover shot keeps the decoded image under the cursor
            page.mouse.move(5, 5)
        e2e.screenshot(page, out / f"{n[0]:02d}-{name}.png")
        problems.extend(f"{name}: Streamlit error: {m[:300]}" for m in e2e.streamlit_errors(page))
        print(f"saved {n[0]:02d}-{name}.png", flush=True)

    def step(name: str, fn) -> None:
        try:
            fn()
        except Exception as exc:  # a walk reports and continues
            problems.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
            print(f"step failed: {name}: {exc}", flush=True)

    def upload(page) -> None:  # 3b. the Checkpoints page
        inputs = page.locator('[data-testid="stFileUploader"] input[type=file]')
        inputs.nth(1).set_input_files(str(work / "conv-enc.onnx"))
        e2e.wait_idle(page)
        inputs.nth(2).set_input_files(str(work / "conv-dec.onnx"))
        e2e.wait_idle(page)
        page.get_by_label("Name (optional)").fill("page-conv-bn")
        page.get_by_role("button", name="Import", exact=True).click()
        page.get_by_text("Imported conv-enc.onnx").wait_for(timeout=120_000)
        e2e.wait_idle(page)

    def hover(page) -> None:
        cv.wait_canvas(page, 120)
        spot = cv.empty_spots(page, 6)[3]
        page.mouse.move(spot["x"], spot["y"])
        page.wait_for_timeout(300)

    try:
        with sync_playwright() as pw:
            browser = e2e.launch_browser(pw)
            page = e2e.new_page(browser, errors)
            e2e.open_app(page, server)
            step("go checkpoints", lambda: e2e.go_to(page, "Checkpoints"))
            step("upload onnx", lambda: upload(page))
            shot(page, "checkpoints-imported")
            for stem in ("page-conv-bn", "notebook-mlp"):  # 4. every page
                step(f"pick {stem}", lambda stem=stem: e2e.select_checkpoint(page, f"run · {stem}"))
                step("go map", lambda: e2e.go_to(page, "Latent map"))
                step("hover", lambda: hover(page))
                shot(page, f"{stem}-latent-map-hover", keep_mouse=True)
                for title, name in (("Reconstruction", "recon-kl"), ("Factors", "factors"), ("β sweep", "beta-sweep"),
                                    ("Train", "train")):
                    step(f"go {name}", lambda title=title: e2e.go_to(page, title))
                    shot(page, f"{stem}-{name}")
            step("compare with a demo", lambda: e2e.open_app(
                page, server, "compare?ckpt=run/notebook-mlp&cmp=run/notebook-mlp,run/page-conv-bn,demo/digits-3-vae"))
            step("compare ready", lambda: e2e.wait_idle(page, 180))
            shot(page, "compare-imported-vs-demo")
            browser.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    problems += [f"browser: {e}" for e in errors]
    for p in problems:
        print("problem:", p)
    print(f"{n[0]} screenshots in {out}; {len(problems)} problems")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
