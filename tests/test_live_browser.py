"""Real Chromium: a short run streams (≥ 3 intermediate states before done); a reload and a copied link keep the view."""

from __future__ import annotations

import json

import pytest

import e2e_helpers as e2e
import live_helpers as live



@pytest.fixture
def live_browser(tmp_path):
    # the app's default: jobs through the warm worker (conftest turns it off for in-process tests only)
    with e2e.served_browser(tmp_path, env={"VAE_WARM_WORKER": "1"}) as served:
        yield served


@pytest.mark.slow
def test_a_20_epoch_run_streams_before_done(live_browser, tmp_path):
    server, browser, runs = live_browser
    page = e2e.new_page(browser)
    e2e.open_app(page, server, "train")
    t_click = live.start_run(page, epochs=20, batch_size=8, name="stream")  # ~180 steps an epoch
    samples = live.watch_run(page, name="stream")
    seen = live.milestones(samples, t_click, "stream")
    e2e.screenshot(page, tmp_path / "done.png")
    intermediate = [s for s in seen["states"] if s[0] is not None and 0 < s[0] < 20]
    assert len(intermediate) >= 3, seen
    assert any(n > 0 for _, n in intermediate), seen  # the curves grew while it ran, not only the bar
    end = [json.loads(line) for line in (runs / "stream.log.jsonl").read_text().splitlines()][-1]
    assert end["event"] == "end" and end["status"] == "done"
    print(json.dumps({k: v for k, v in seen.items() if k != "states"}), "done after end:",
          round(seen["done_at"] - end["time"], 3))


@pytest.mark.slow
def test_reload_and_a_copied_link_keep_checkpoint_and_clicked_point(live_browser, tmp_path):
    server, browser, _ = live_browser
    page = e2e.new_page(browser)
    e2e.open_app(page, server)
    e2e.select_checkpoint(page, "demo · digits-2-ae")
    row = live.click_map_point(page)
    url = live.wait_url(page, f"pt={row}")
    assert "ckpt=demo/digits-2-ae" in live.wait_url(page, "ckpt=demo/digits-2-ae")
    assert "/" not in url.split("?", 1)[1].replace("ckpt=demo/", "")  # only IDs: no path anywhere else

    page.reload(wait_until="domcontentloaded")
    live.wait_selection(page, row)
    shown = live.shown_checkpoint(page)
    assert "model: AE" in shown.split(" | ")[0] and shown.split(" | ")[1].startswith("digits-2-ae"), shown
    e2e.screenshot(page, tmp_path / "reloaded.png")

    other = e2e.new_page(browser)  # a fresh context: no cookies, no session, only the link
    link = page.url  # what a teacher copies from the address bar
    other.goto(link, wait_until="domcontentloaded")
    live.wait_selection(other, row)
    shown = live.shown_checkpoint(other)
    assert "model: AE" in shown.split(" | ")[0] and shown.split(" | ")[1].startswith("digits-2-ae"), shown
    assert not e2e.streamlit_errors(other)
    assert not [t for t in other.locator('[data-testid="stAlert"]').all_inner_texts() if "From the link" in t]
    e2e.screenshot(other, tmp_path / "shared.png")
