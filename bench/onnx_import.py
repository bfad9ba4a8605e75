"""Imported ONNX models: import time, checkpoint size against the ONNX files, and hover -> painted in the browser,
each against this app's own checkpoint of the same network in the same run.

Prints figures; asserts nothing about speed. Run from the repository root:

    python bench/onnx_import.py              # MNIST from ../shared/data/mnist via the .npz loader
    python bench/onnx_import.py --no-browser # import figures only
    python bench/onnx_import.py --mnist /work/shared/data/mnist/mnist-test.npz  # from a git worktree

Same data as bench/canvas_latency.py (MNIST + a 1-pixel shifted copy, half held out: 10,000 points on the map). It
trains an MLP VAE 784-400-2 and a conv VAE (32,64; hidden 256) for one epoch through the CLI (the native reference),
exports each one's encoder (-> mu, logvar) and decoder (-> logits) with torch.onnx.export as a researcher would, and
imports those files with `python -m vae import-onnx`. Figures per model:
  - import: wall time of the CLI (a process, torch import included) and of import_onnx in-process, beside
    load_checkpoint of the native file;
  - size: the two .onnx files, the imported checkpoint, the native checkpoint (no optimizer state);
  - agreement: max |difference| of the imported and native decoders on 1,000 random z (the same weights);
  - hover -> painted p50/p95 on the canvas (bench/canvas_latency.py's method), imported and native.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
import canvas_latency  # noqa: E402
from canvas_latency import hover_run, make_data, open_checkpoint, train  # noqa: E402


class _Encoder(torch.nn.Module):
    """The native VAE's encoder as a researcher's module: images -> (mu, logvar)."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, x):
        h = self.vae.encoder(x)
        return self.vae.to_mu(h), self.vae.to_logvar(h)


def export_pair(native: Path, work: Path) -> tuple[Path, Path]:
    from vae.checkpoint import load_checkpoint

    vae = load_checkpoint(native).model
    enc, dec = work / f"{native.stem}-enc.onnx", work / f"{native.stem}-dec.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Encoder(vae).eval(), torch.rand(1, *vae.config.input_shape), enc, dynamo=False,
                          input_names=["x"], output_names=["mu", "logvar"], dynamic_axes={"x": {0: "batch"}})
        torch.onnx.export(vae.decoder.eval(), torch.randn(1, vae.config.latent_dim), dec, dynamo=False,
                          input_names=["z"], dynamic_axes={"z": {0: "batch"}})
    return enc, dec


def import_figures(native: Path, npz: Path, runs: Path, work: Path) -> tuple[Path, dict]:
    from vae.checkpoint import load_checkpoint
    from vae.config import DataConfig
    from vae.onnx_import import import_onnx

    enc, dec = export_pair(native, work)
    out = runs / f"{native.stem}-imported.safetensors"
    cmd = [sys.executable, "-m", "vae", "import-onnx", "--encoder", str(enc), "--decoder", str(dec), "--data", str(npz),
           "--test-fraction", "0.5", "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    cli_s = time.perf_counter() - t0
    data = DataConfig(name=str(npz), test_fraction=0.5)
    import_onnx(str(enc), str(dec), data=data, out=work / "warm.safetensors")  # the dataset and onnx, loaded once
    t0 = time.perf_counter()
    import_onnx(str(enc), str(dec), data=data, out=work / "again.safetensors")
    fn_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    a = load_checkpoint(native).model
    load_s = time.perf_counter() - t0
    b = load_checkpoint(out).model
    z = torch.randn(1000, a.config.latent_dim, generator=torch.Generator().manual_seed(0))
    diff = float((a.decode(z) - b.decode(z)).abs().max())
    onnx_bytes = enc.stat().st_size + dec.stat().st_size
    return out, {"cli_s": cli_s, "import_s": fn_s, "native_load_s": load_s, "onnx_kb": onnx_bytes / 1024,
                 "imported_kb": out.stat().st_size / 1024, "native_kb": native.stat().st_size / 1024, "max_diff": diff}


def hover_figures(runs: Path, work: Path, stems: list[str], moves: int) -> dict:
    import canvas_helpers as cv
    import e2e_helpers as e2e
    from playwright.sync_api import sync_playwright

    server = e2e.start_server(runs_dir=runs, log_path=work / "streamlit.log", timeout=120)
    out = {}
    try:
        with sync_playwright() as pw:
            browser = e2e.launch_browser(pw)
            page = e2e.new_page(browser)
            sent, received = cv.count_sent_frames(page), {"bytes": 0}
            e2e.open_app(page, server)
            e2e.wait_map_ready(page, 120)
            for stem in stems:
                opened = open_checkpoint(page, stem, received)
                out[stem] = {**hover_run(page, sent, moves), "first_paint_ms": opened["first_paint_ms"]}
            browser.close()
    finally:
        server.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moves", type=int, default=100)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--mnist", default=str(canvas_latency.MNIST), help="mnist-test.npz (x, y) to build the data from")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runs = work / "runs"
        runs.mkdir()
        npz, source = make_data(work, Path(args.mnist))
        print(f"data: {source}; 10,000 test points on each map")
        natives = {"mlp": (runs / "bench-mlp-784-400-2.safetensors", ("--hidden", "400")),
                   "conv": (runs / "bench-conv.safetensors", ("--arch", "conv", "--channels", "32,64", "--hidden",
                                                              "256", "--limit", "4000"))}
        rows, stems = {}, []
        for name, (path, extra) in natives.items():
            train(npz, path, *extra, "--no-optimizer-state")
            imported, rows[name] = import_figures(path, npz, runs, work)
            stems += [path.stem, imported.stem]
        print(f"{'model':<6} {'CLI s':>7} {'import s':>9} {'native load s':>14} {'ONNX kB':>8} {'imported kB':>12} "
              f"{'native kB':>10} {'max |Δ|':>9}")
        for name, r in rows.items():
            print(f"{name:<6} {r['cli_s']:>7.2f} {r['import_s']:>9.2f} {r['native_load_s']:>14.3f} {r['onnx_kb']:>8.0f} "
                  f"{r['imported_kb']:>12.0f} {r['native_kb']:>10.0f} {r['max_diff']:>9.1e}")
        if args.no_browser:
            return
        hover = hover_figures(runs, work, stems, args.moves)
        print(f"\n{'checkpoint':<34} {'hover p50 ms':>13} {'p95 ms':>7} {'frames sent':>12} {'first paint ms':>15}")
        for stem, h in hover.items():
            print(f"{stem:<34} {h['p50_ms']:>13.1f} {h['p95_ms']:>7.1f} {h['frames_sent']:>12} "
                  f"{h['first_paint_ms']:>15.0f}")
        for name, (path, _) in natives.items():
            ratio = hover[f"{path.stem}-imported"]["p50_ms"] / hover[path.stem]["p50_ms"]
            print(f"{name}: imported / native hover p50 = {ratio:.2f}")


if __name__ == "__main__":
    main()
