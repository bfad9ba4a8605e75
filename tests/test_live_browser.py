"""Real Chromium: a short run streams (≥ 3 intermediate states before done); a reload and a copied link keep the view."""

from __future__ import annotations

import json
import os

import pytest

import e2e_helpers as e2e
import live_helpers as live

REQUIRE = os.environ.get("VAE_REQUIRE_BROWSER") == "1"


@pytest.fixture
def live_browser(tmp_path):
    why = e2e.browser_missing_reason()
    if why:
        (pytest.fail if REQUIRE else pytest.skip)(f"no headless browser: {why}")
    from playwright.sync_api import sync_playwright

    runs = tmp_path / "runs"
    runs.mkdir()
    server = e2e.start_server(runs_dir=runs, log_path=tmp_path / "streamlit.log")
    try:
        with sync_playwright() as pw:
            browser = e2e.launch_browser(pw)
            try:
                yield server, browser, runs
            finally:
                print(f"streamlit log tail:\n{server.log_tail(3000)}")
                browser.close()
    finally:
        server.stop()


@pytest.mark.slow
def test_a_20_epoch_run_streams_before_done(live_browser, tmp_path):
    server, browser, runs = live_browser
    page = e2e.new_page(browser)
    e2e.open_app(page, server, "train")
    t_click = live.start_run(page, epochs=20, batch_size=32, name="stream")
    samples = live.watch_run(page)
    seen = live.milestones(samples, t_click)
    e2e.screenshot(page, tmp_path / "done.png")
    intermediate = [s for s in seen["states"] if s[0] is not None and 0 < s[0] < 20]
    assert len(intermediate) >= 3, seen
    assert any(n > 0 for _, n in intermediate), seen  # the curves grew while it ran, not only the bar
    end = [json.loads(line) for line in (runs / "stream.log.jsonl").read_text().splitlines()][-1]
    assert end["event"] == "end" and end["status"] == "done"
    print(json.dumps({k: v for k, v in seen.items() if k != "states"}), "done after end:",
          round(seen["done_at"] - end["time"], 3))
