"""Issue 20 in real headless Chromium: the training replay's scrubber and play button move the points in the page
with no websocket frame to the server (Latent map and Train page), and the attribute vector slider decodes
z + k·v in the page at parity with torch on the same weights.

VAE_SCREENSHOTS=<folder> keeps a screenshot of each view there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import canvas_helpers as cv
import e2e_helpers as e2e
from vae.checkpoint import load_checkpoint
from vae.replay import read

REQUIRE = os.environ.get("VAE_REQUIRE_BROWSER") == "1"
SHOTS = os.environ.get("VAE_SCREENSHOTS")
RUN = "replay3"


def _shot(page, name: str) -> None:
    if SHOTS:
        e2e.screenshot(page, Path(SHOTS) / f"{name}.png", full_page=True)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    why = e2e.browser_missing_reason()
    if why:
        (pytest.fail if REQUIRE else pytest.skip)(f"no headless browser: {why}")
    from playwright.sync_api import sync_playwright

    from conftest import _train

    tmp = tmp_path_factory.mktemp("teach")
    (tmp / "runs").mkdir()
    shutil.copy(_train(tmp / f"{RUN}.safetensors", "vae", epochs=3), tmp / "runs" / f"{RUN}.safetensors")
    server = e2e.start_server(runs_dir=tmp / "runs", log_path=tmp / "streamlit.log")
    errors: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = e2e.launch_browser(pw)
            page = e2e.new_page(browser, errors)
            sent = cv.count_sent_frames(page)
            try:
                yield server, page, sent, errors, tmp
            finally:
                print(f"streamlit log tail:\n{server.log_tail(3000)}")
                browser.close()
    finally:
        server.stop()


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).first.click()
    page.wait_for_timeout(300)
    e2e.wait_idle(page)


def _scrub(page, t: float) -> list[float]:
    """Move the replay's epoch slider to t (recorded-epoch index) as a user's drag does; the points drawn."""
    return page.evaluate("""(t) => { const p = window.__vaeReplay; p.scrub.value = String(t);
        p.scrub.dispatchEvent(new Event('input', {bubbles: true})); return Array.from(p.current); }""", t)


def _check_replay(page, sent, mu: np.ndarray) -> None:
    """Scrub to recorded epochs and between them (the points are the recorded means, and linear between), then
    play to the end; no websocket frame goes out throughout."""
    e = len(mu)
    page.wait_for_function("(e) => window.__vaeReplay && window.__vaeReplay.E === e", arg=e, timeout=60_000)
    e2e.wait_idle(page)
    page.wait_for_timeout(500)
    frames = sent["sent"]
    for t in (0, e - 1, 0.5, 1.25):
        i = min(int(t), e - 2)
        want = (1 - (t - i)) * mu[i] + (t - i) * mu[i + 1]  # (N, 2)
        got = np.asarray(_scrub(page, t)).reshape(-1, 2)
        np.testing.assert_allclose(got, want, atol=2e-3, err_msg=f"t = {t}")  # float16 on the wire
    assert np.abs(mu[0] - mu[-1]).max() > 1e-2  # the points really move between epochs
    label = page.evaluate("() => window.__vaeReplay.label.textContent")
    assert label.startswith("epoch 2.3") or label.startswith("epoch 2.2"), label  # 1.25 → between epochs 2 and 3
    _scrub(page, 0)
    draws = page.evaluate("() => window.__vaeReplay.stats.draws")
    page.evaluate("() => window.__vaeReplay.btn.click()")
    seen = set()
    while page.evaluate("() => window.__vaeReplay.playing"):
        seen.add(round(page.evaluate("() => window.__vaeReplay.t"), 3))
        page.wait_for_timeout(50)
    assert page.evaluate("() => window.__vaeReplay.t") == e - 1  # played to the last recorded epoch
    assert any(0 < t < e - 1 for t in seen), seen  # and through the epochs in between
    assert page.evaluate("() => window.__vaeReplay.stats.draws") > draws + 5
    page.wait_for_timeout(300)
    assert sent["sent"] == frames, "scrubbing or playing the replay sent websocket frames"


def test_replay_on_the_latent_map_scrubs_and_plays_in_the_page(app):
    server, page, sent, errors, tmp = app
    e2e.open_app(page, server, f"?ckpt=run/{RUN}")
    cv.wait_canvas(page)
    # the replay goes to the page only once its tab is opened (only the open tab runs): a map visit does not pay
    e2e.wait_idle(page)
    assert page.evaluate("() => window.__vaeReplay === undefined")
    _tab(page, "Training replay")
    rep = read(load_checkpoint(tmp / f"{RUN}.safetensors").replay)
    assert list(rep.epochs) == [1, 2, 3]
    _check_replay(page, sent, rep.mu[:, :, :2])  # a 2-D model: the plane is (z1, z2) itself
    _scrub(page, 1.5)
    page.locator(".st-key-map_replay").first.scroll_into_view_if_needed()
    _shot(page, "replay-latent-map")
    assert not errors, errors


def test_attribute_slider_decodes_z_plus_kv_in_the_page_at_torch_parity(app):
    from test_canvas_parity import TOL, with_program_weights
    from vae import wire
    from vae.export import export_model, torch_reference

    server, page, sent, errors, _ = app
    ckpt = load_checkpoint(e2e.ROOT / "checkpoints/demos/digits-3-vae.safetensors")
    z0 = np.array([0.5, -0.5])
    e2e.open_app(page, server, "?ckpt=demo/digits-3-vae&z=0.5,-0.5")
    cv.wait_canvas(page)
    _tab(page, "Attribute vectors")
    page.wait_for_function("() => window.__vaeAttr && window.__vaeAttr.last", timeout=60_000)
    e2e.wait_idle(page)
    page.wait_for_timeout(500)
    from vae import data as D

    test = D.load(D.config_from_info(ckpt.data)).test
    with torch.no_grad():
        mu = ckpt.model.encode(test.x).mu.double().numpy()
    y = test.y.numpy()
    v = mu[y == 1].mean(0) - mu[y == 0].mean(0)  # the tab's defaults: A = label 0, B = label 1
    frames, got = sent["sent"], {}
    for k in (-1.5, 0.7, 2.0):
        got[k] = page.evaluate("""(k) => { const a = window.__vaeAttr; a.slider.value = String(k);
            a.slider.dispatchEvent(new Event('input', {bubbles: true})); return a.last; }""", k)
    page.wait_for_timeout(300)
    assert sent["sent"] == frames, "moving the attribute slider sent websocket frames"
    exported = export_model(ckpt.model)
    same, _ = with_program_weights(ckpt.model, wire.dequantise(wire.quantise(exported)))
    for k, last in got.items():
        z = np.asarray(last["z"])
        np.testing.assert_allclose(z, z0 + k * v, atol=1e-5, err_msg=f"k = {k}")
        x_hat = np.asarray(last["x_hat"])
        twin = torch_reference(same, exported["posterior"], "decoder", z[None].astype(np.float32))[0]
        assert np.abs(x_hat - twin).max() <= TOL, f"k = {k}: {np.abs(x_hat - twin).max():.3g}"
    assert np.abs(np.asarray(got[-1.5]["x_hat"]) - np.asarray(got[2.0]["x_hat"])).max() > 0.1  # k changes x̂
    page.locator(".st-key-map_attr_slider").first.scroll_into_view_if_needed()
    _shot(page, "attribute-vectors")
    assert not errors, errors


def test_replay_on_the_train_page_after_a_run(app):
    server, page, sent, errors, tmp = app
    e2e.open_app(page, server, "train")
    e2e.train_start(page, epochs=3, name="replay-live")
    e2e.train_wait_done(page)
    e2e.wait_idle(page)
    runs = tmp / "runs"
    path = next(p for p in runs.rglob("*.safetensors") if "replay-live" in p.name)
    rep = read(load_checkpoint(path).replay)
    assert list(rep.epochs) == [1, 2, 3]
    page.locator(".st-key-train_replay").first.scroll_into_view_if_needed()
    d = rep.mu.shape[2]
    dims = sorted(np.argsort(-rep.mu[-1].var(0), kind="stable")[:2]) if d > 2 else [0, 1]
    _check_replay(page, sent, rep.mu[:, :, dims])
    _shot(page, "replay-train")
    assert not errors, errors


def test_a_live_runs_replay_grows_and_follows_the_newest_epoch(app):
    """While a run trains, each rewritten checkpoint brings the player more epochs, and a viewer at the end is
    moved to the newest; a viewer who scrubbed back stays where they are."""
    server, page, sent, errors, _ = app
    e2e.open_app(page, server, "train")
    e2e.train_start(page, epochs=2000, name="replay-grows")  # far more than the test waits for: it stops the run
    page.wait_for_function("() => window.__vaeReplay && window.__vaeReplay.E >= 2", timeout=120_000)
    e1 = page.evaluate("() => window.__vaeReplay.E")
    page.wait_for_function("(e) => window.__vaeReplay.E > e", arg=e1, timeout=120_000)
    assert page.evaluate("() => window.__vaeReplay.t === window.__vaeReplay.E - 1")  # followed the newest
    _scrub(page, 0.5)
    e2 = page.evaluate("() => window.__vaeReplay.E")
    page.wait_for_function("(e) => window.__vaeReplay.E > e", arg=e2, timeout=120_000)
    assert page.evaluate("() => window.__vaeReplay.t") == 0.5  # the viewer's place is kept
    assert page.locator('[data-testid="stMain"] [data-testid="stProgress"]').count() == 1  # still training
    page.locator("[class*='st-key-train_stop_'] button").first.click()  # the run would go on for minutes
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stMain\"] [data-testid=\"stProgress\"]')",
                           timeout=120_000)
    assert not errors, errors
