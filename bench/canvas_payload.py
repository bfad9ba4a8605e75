"""Latent canvas: bytes the browser is sent per mount, before issue 15 and after, in one run (issue 15).

Prints figures; asserts nothing. Run from the repository root:

    python bench/canvas_payload.py              # MNIST from ../shared/data/mnist (the sklearn digits without it)
    python bench/canvas_payload.py --browser    # also the websocket bytes Chromium receives for each step
    python bench/canvas_payload.py --mnist /work/shared/data/mnist/mnist-test.npz   # from a git worktree
    git archive f124349 | (mkdir -p /tmp/before && tar -x -C /tmp/before)
    python bench/canvas_payload.py --browser --before /tmp/before   # Chromium figures of the old tree beside

Data and models as bench/canvas_latency.py: the MNIST test set plus a 1-pixel shifted copy, half held out, so each
map has 10,000 test points; an MLP VAE 784-400-2 and a conv VAE (channels 32,64, hidden 256), one epoch each
through the CLI. Without the MNIST file: the same two architectures on the offline digits (8x8, 899 test points).

  before  the JSON a first mount sent before issue 15, rebuilt from the same pieces (`first_mount_json(...,
          legacy=True)`): vae.export.to_json's base64 float32 weights, the thumbnails as a lossless PNG in base64,
          points, rows and colour codes as JSON;
  after   what the app sends now, read from the canvas component's message in a real session (AppTest): the first
          mount, a rerun, a remount after a page switch, the other checkpoint (same test images: its thumbnails
          are already there) and back, the pad's first use (the encoder); per part; the message as a whole (with
          the component's JS, sent each time);
  error   the quantised programs' worst difference from the float32 ones on vae.wire's check inputs.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from canvas_latency import MNIST, make_data, train  # noqa: E402

MODELS = {"mlp": ("--hidden", "400"), "conv": ("--arch", "conv", "--channels", "32,64", "--hidden", "256")}


def first_mount_json(path: str, legacy: bool) -> dict[str, int]:
    """Bytes per part of a first mount's heavy parts; legacy=True: as JSON with base64, as sent before issue 15."""
    import torch

    from ui.map import canvas_map as CV
    from ui.common import current_data, load_model, mtime
    from ui.components.latent_canvas import atlas_png
    from ui.map.state import View
    from vae.export import export_model, to_json

    static = CV.static_payload(path, mtime(path), View())
    colour = CV.colour_payload(path, View(), CV.default_colour(path, ()))
    if not legacy:
        return CV.part_bytes(static, colour)
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    view = static["view"].content
    rows = np.arange(view["n"]) if view["rows"] is None else np.frombuffer(view["rows"], "<i4")
    images = current_data(load_model(path)).test.x[torch.as_tensor(rows)].numpy()
    atlas = atlas_png(images, levels=256)
    parts = {"model": to_json(export_model(load_model(path).model)),
             "points": {"xy": b64(view["xy"]), "rows": rows.tolist()},
             "atlas": {"png": b64(atlas["png"]), "cols": atlas["cols"], "rows": atlas["rows"]},
             "colour": {**colour.content, "codes": np.frombuffer(colour.content["codes"], "u1").tolist()},
             "view": {k: view[k] for k in ("plane", "bounds", "equal_axes", "axes")}}
    return {k: len(json.dumps(v)) for k, v in parts.items()}


def canvas_message(at) -> tuple[int, int, bool]:
    """(data bytes, whole component message bytes, binary?) of the canvas on AppTest's last run."""
    (p,) = [e.proto for e in at.get("bidi_component") if e.proto.component_name == "vae_latent_canvas"]
    binary = p.WhichOneof("data") == "bytes"
    return (len(p.bytes) if binary else len(p.json)), p.ByteSize(), binary


def session_steps(ids: dict[str, str], first: str, encoder: str) -> list[tuple[str, tuple[int, int, bool]]]:
    """One AppTest session: open `first`, rerun, switch page and back, open the other, back to `first`, and the
    draw pad's first use (its ask, as ui.payload.forget records it, for the encoder part `encoder`)."""
    from ui.payload import K_WANTED

    from streamlit.testing.v1 import AppTest

    other = next(k for k in ids if k != first)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.session_state["ckpt_id"] = ids[first]
    steps = []

    def step(label: str) -> None:
        if at.exception:
            raise RuntimeError(f"{label}: {[e.value for e in at.exception]}")
        steps.append((label, canvas_message(at)))

    at.run()
    step(f"{first}: first mount")
    at.run()
    step(f"{first}: rerun")
    at.switch_page("pages/recon_kl.py").run()
    at.switch_page("pages/latent_map.py").run()
    step(f"{first}: remount after a page switch")
    at.session_state["ckpt_id"] = ids[other]
    at.run()
    step(f"{other} next (same test images)")
    at.session_state["ckpt_id"] = ids[first]
    at.run()
    step(f"{first} again")
    at.session_state[K_WANTED] = [encoder]  # AppTest cannot fire the pad's trigger: what it leaves behind
    at.run()
    step(f"{first}: the draw pad's first use")
    return steps


def browser_steps(root: Path, runs: Path, stems: dict[str, str]) -> list[tuple[str, int, int | None]]:
    """In Chromium against the tree at `root`: (step, websocket bytes received, bytes the canvas itself was given,
    None where that tree's canvas does not count them) for opening each checkpoint, a remount after a page switch,
    and opening the first again."""
    import canvas_helpers as cv
    import e2e_helpers as e2e
    from live_bench import start
    from playwright.sync_api import sync_playwright

    server, _ = start(root, runs, e2e.free_port())
    out = []
    try:
        with sync_playwright() as pw:
            browser = e2e.launch_browser(pw)
            page = e2e.new_page(browser)
            counter = cv.count_sent_frames(page)
            e2e.open_app(page, server)
            e2e.wait_map_ready(page, 120)

            def measure(label: str, act) -> None:
                e2e.wait_idle(page, 120)
                page.evaluate("""() => { const c = window.__vaeCanvas; if (!c) return; c.__old = true;
                    if (Array.isArray(c.stats.payloads)) c.stats.payloads = []; }""")
                old = page.evaluate("() => window.__vaeCanvas ? window.__vaeCanvas.staticKey : null")
                before = counter["received_bytes"]
                act()
                page.wait_for_function("""(k) => { const c = window.__vaeCanvas;  // a new canvas or new parts, drawn
                    return c && c.n >= 800 && c.w > 0 && (!c.__old || c.staticKey !== k); }""", arg=old,
                                       timeout=300_000)
                e2e.wait_idle(page, 120)
                given = page.evaluate("() => { const p = window.__vaeCanvas.stats.payloads;"
                                      " return p ? p.reduce((s, q) => s + q.bytes, 0) : null; }")
                out.append((label, counter["received_bytes"] - before, given))

            names = list(stems)
            measure(f"{names[0]}: open", lambda: e2e.select_checkpoint(page, f"run · {stems[names[0]]}", 300))
            measure(f"{names[0]}: page switch and back",
                    lambda: (e2e.go_to(page, "Reconstruction & KL", 120), e2e.go_to(page, "Latent map", 120)))
            measure(f"{names[1]}: open", lambda: e2e.select_checkpoint(page, f"run · {stems[names[1]]}", 300))
            measure(f"{names[0]}: open again", lambda: e2e.select_checkpoint(page, f"run · {stems[names[0]]}", 300))
            browser.close()
    finally:
        server.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--browser", action="store_true", help="also measure websocket bytes in headless Chromium")
    ap.add_argument("--before", type=Path, help="with --browser: an older tree measured first, in the same run")
    ap.add_argument("--mnist", type=Path, default=MNIST, help=f"the MNIST test set as .npz (default {MNIST})")
    args = ap.parse_args()
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("streamlit")]:
        logging.getLogger(name).setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runs = work / "runs"
        runs.mkdir()
        os.environ["VAE_RUNS_DIR"] = str(runs)
        if args.mnist.exists():
            data, source = str(make_data(work, args.mnist)[0]), "MNIST test set + a 1-pixel shifted copy (10,000 test points)"
        else:
            data, source = "digits", "the offline digits (no MNIST file)"
        print(f"data: {source}")
        paths = {name: runs / f"payload-{name}.safetensors" for name in MODELS}
        for name, flags in MODELS.items():
            limit = ("--limit", "4000") if name == "conv" and data != "digits" else ()
            print(f"trained {name} in {train(data, paths[name], *flags, *limit):.1f} s")

        from conftest import as_run
        from ui.map import canvas_map as CV

        ids = {name: as_run(p) for name, p in paths.items()}
        print("\nfirst mount, heavy parts (kB = 1000 bytes)")
        for name, p in paths.items():
            before, after = first_mount_json(str(p), legacy=True), first_mount_json(str(p), legacy=False)
            encoder = after.pop("encoder")  # a Lazy part: sent when the draw pad is first used
            total_b, total_a = sum(before.values()), sum(after.values())
            print(f"  {name:<5} before {total_b / 1e3:8.0f} kB  " + " ".join(f"{k} {v / 1e3:.0f}" for k, v in before.items()))
            print(f"  {name:<5} after  {total_a / 1e3:8.0f} kB  " + " ".join(f"{k} {v / 1e3:.0f}" for k, v in after.items())
                  + f"   ({total_a / total_b:.1%} of before); the encoder, when the pad is used: {encoder / 1e3:.0f} kB")
            q = CV.exported_parts(str(p))[0]["quantised"]
            print("        quantised: " + "; ".join(f"{w} {q[w]['dtypes']} max error {q[w]['max_error']:.2g}"
                                                    for w in ("decoder", "encoder")))
        for first in paths:
            print(f"\nwhat the canvas is sent, one session opening {first} first (AppTest)")
            print(f"  {'step':<40} {'data kB':>9} {'message kB':>11}  kind")
            encoder = CV.exported_parts(str(paths[first]))[0]["encoder"].key
            for label, (data_bytes, message, binary) in session_steps(ids, first, encoder):
                print(f"  {label:<40} {data_bytes / 1e3:9.1f} {message / 1e3:11.1f}  {'binary' if binary else 'JSON'}")
        if args.browser:
            for label, root in ([("before", args.before)] if args.before else []) + [("after", ROOT)]:
                print(f"\nin Chromium ({label}: {root}), one session: websocket bytes received (the whole page) and "
                      "given to the canvas")
                for step, n, given in browser_steps(root, runs, {k: p.stem for k, p in paths.items()}):
                    canvas = "" if given is None else f"  canvas {given / 1e3:8.1f} kB"
                    print(f"  {step:<40} {n / 1e3:9.1f} kB{canvas}")

if __name__ == "__main__":
    main()
