"""The computation view's in-page resampler in real headless Chromium: each "Resample ε here" draws new noise and a
new x̂ with no websocket frame to the server, and its z and x̂ are μ + σ ⊙ ε and the torch decode of that z."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import canvas_helpers as cv
import e2e_helpers as e2e
from vae import computation as C
from vae import data as D
from vae.checkpoint import load_checkpoint

REQUIRE = os.environ.get("VAE_REQUIRE_BROWSER") == "1"
DEMO = "demo/digits-5-vae-z8"
ROW = 3


def test_resample_here_decodes_in_the_page_without_the_server(tmp_path):
    why = e2e.browser_missing_reason()
    if why:
        (pytest.fail if REQUIRE else pytest.skip)(f"no headless browser: {why}")
    from playwright.sync_api import sync_playwright

    (tmp_path / "runs").mkdir()
    server = e2e.start_server(runs_dir=tmp_path / "runs", log_path=tmp_path / "streamlit.log")
    errors: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = e2e.launch_browser(pw)
            page = e2e.new_page(browser, errors)
            sent = cv.count_sent_frames(page)
            e2e.open_app(page, server, f"?ckpt={DEMO}&pt={ROW}")
            cv.wait_canvas(page)
            page.get_by_text("Computation view").first.click()
            e2e.wait_idle(page)
            page.wait_for_function("() => window.__vaeResample && window.__vaeResample.stats.draws >= 1",
                                   timeout=30_000)
            page.wait_for_timeout(500)
            before, frames = page.evaluate("() => window.__vaeResample.stats.draws"), sent["sent"]
            seen = set()
            for _ in range(5):
                page.get_by_role("button", name="Resample ε here (no server)").click()
                seen.add(cv.canvas_hash(page, "cv", "__vaeResample"))
            page.wait_for_timeout(500)
            assert page.evaluate("() => window.__vaeResample.stats.draws") == before + 5
            assert sent["sent"] == frames, "a resample in the page sent websocket frames"
            assert len(seen) == 5  # each draw is a new x̂
            last = page.evaluate("() => window.__vaeResample.last")
            assert not errors, errors
            browser.close()
    finally:
        server.stop()
    ck = load_checkpoint(e2e.ROOT / "checkpoints/demos/digits-5-vae-z8.safetensors")
    x = D.load(D.config_from_info(ck.data)).test.x[ROW]
    c = C.compute(ck.model, x)
    eps, z = np.asarray(last["eps"]), np.asarray(last["z"])
    np.testing.assert_allclose(z, c.mu + c.sigma * eps, atol=1e-5)  # μ and σ are the server's, to float32
    with torch.no_grad():
        want = ck.model.decode(torch.tensor(z, dtype=torch.float32)[None]).numpy().ravel()
    np.testing.assert_allclose(np.asarray(last["x_hat"]), want, atol=0.02)  # the page's weights are quantised
