"""End to end in real headless Chromium: the map click, a 2-epoch training run and the Compare ladder."""

from __future__ import annotations

import os
import re

import pytest

import canvas_helpers as cv
import e2e_helpers as e2e
from vae.checkpoint import read_metadata

REQUIRE = os.environ.get("VAE_REQUIRE_BROWSER") == "1"  # CI sets it: a missing browser is then a failure


@pytest.fixture
def browser_page(tmp_path):
    why = e2e.browser_missing_reason()
    if why:
        (pytest.fail if REQUIRE else pytest.skip)(f"no headless browser: {why}")
    from playwright.sync_api import sync_playwright

    runs = tmp_path / "runs"
    runs.mkdir()
    server = e2e.start_server(runs_dir=runs, log_path=tmp_path / "streamlit.log")
    errors: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = e2e.launch_browser(pw)
            page = e2e.new_page(browser, errors)
            try:
                yield server, page, errors, runs
            finally:
                shot = tmp_path / "last.png"
                page.screenshot(path=str(shot))
                # pytest shows captured output only when the test fails: where to look, and the server's last words
                print(f"last screenshot: {shot}\nstreamlit log tail:\n{server.log_tail(3000)}")
                browser.close()
    finally:
        server.stop()
    assert server.proc.returncode is not None


@pytest.mark.slow  # 25-50 s on 2 cores: a real server, a real browser and a real training run
def test_map_click_train_and_compare_ladder(browser_page):
    server, page, errors, runs = browser_page

    # 1. the default page is the Latent map with the bundled demo, drawn without any setup
    e2e.open_app(page, server)
    e2e.wait_map_ready(page)
    assert "digits-3-vae" in page.locator('[data-testid="stMain"]').inner_text()
    assert e2e.map_selection_text(page) is None  # nothing picked yet

    # 2. a click on a data point of the canvas shows that point's input and reconstruction
    pos = cv.screen_of_point(page, cv.clearest_point(page))  # the point with no other dot near it
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_timeout(200)
    e2e.wait_idle(page)
    selected = e2e.map_selection_text(page)
    assert selected is not None, "clicking a point showed no reconstruction"
    assert re.match(rf"x: test #{pos['row']}\b", selected), (selected, pos)  # the very point we clicked
    assert e2e.map_has_reconstruction(page)

    # 2b. the server-drawn map (the fallback) still answers a click
    e2e.map_use_server_drawn(page)
    pos = e2e.map_click_point(page)
    assert re.match(rf"x: test #{pos['customdata']}\b", e2e.map_selection_text(page) or ""), pos

    # 3. a 2-epoch training run on digits, started from the browser, finishes
    e2e.go_to(page, "Train")
    e2e.train_start(page, epochs=2, name="e2e-run")  # no reload forgiven: any frontend error fails below
    outcome = e2e.train_wait_done(page, timeout=90)
    assert "e2e-run" in outcome, outcome
    written = list(runs.glob("e2e-run*.safetensors"))
    assert len(written) == 1, f"expected the run's checkpoint in VAE_RUNS_DIR, found {written}"
    assert len(read_metadata(written[0])["history"]) == 2  # both epochs are in the file, not just on screen

    # 4. Compare: the ladder preset shows four models side by side
    e2e.go_to(page, "Compare")
    e2e.compare_ladder(page)
    headers = e2e.compare_model_headers(page)
    assert headers == ["digits-1-pca", "digits-2-ae", "digits-3-vae", "digits-4-beta2-vae"], headers
    assert e2e.plot_count(page) >= 4  # each column draws its own latent map

    assert not e2e.streamlit_errors(page)
    assert not errors, errors
    assert server.proc.poll() is None, server.log_tail()


@pytest.mark.slow  # a second server: its first request must be the deep link
def test_a_deep_link_as_a_fresh_servers_first_request_goes_through_the_router(browser_page):
    server, page, errors, runs = browser_page
    e2e.open_app(page, server, "compare")
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Compare checkpoints").first.wait_for(timeout=60_000)
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    # the router's sidebar (sections and the checkpoint picker), not Streamlit's file-name page list
    assert "Checkpoint" in sidebar and "Latent map" in sidebar and "recon kl" not in sidebar.lower(), sidebar
    assert not e2e.streamlit_errors(page)
    page.wait_for_timeout(500)
    assert not errors, errors  # Streamlit's own deep-path probe is left out by e2e.new_page, and nothing else
