"""The latent canvas as a user meets it, in real headless Chromium: hover decodes without a server round trip, a
click brings the server-side details, drawing moves the ellipse live, and Compare's z plane drives every column.

One server and one browser page for the module (tests run in file order and share the session).
"""

from __future__ import annotations

import os
import re
import shutil

import numpy as np

import pytest

import canvas_helpers as cv
import e2e_helpers as e2e

REQUIRE = os.environ.get("VAE_REQUIRE_BROWSER") == "1"
# the components' modules load but never finish (as with a stalled or blocked script): their default never runs
NEVER_RUNS = """(() => { const orig = URL.createObjectURL.bind(URL);
  URL.createObjectURL = (b) => (b && b.type === 'text/javascript')
    ? 'data:text/javascript,await new Promise(() => {}); export default function () {}' : orig(b); })()"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    why = e2e.browser_missing_reason()
    if why:
        (pytest.fail if REQUIRE else pytest.skip)(f"no headless browser: {why}")
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("canvas")
    (tmp / "runs").mkdir()
    shutil.copy(cv.colour_checkpoint(tmp), tmp / "runs" / "tiny-colour.safetensors")  # a colour dataset's run
    server = e2e.start_server(runs_dir=tmp / "runs", log_path=tmp / "streamlit.log")
    errors: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = e2e.launch_browser(pw)
            page = e2e.new_page(browser, errors)
            sent = cv.count_sent_frames(page)
            e2e.open_app(page, server)
            cv.wait_canvas(page)
            try:
                yield server, page, sent, errors
            finally:
                page.screenshot(path=str(tmp / "last.png"))
                print(f"last screenshot: {tmp / 'last.png'}\nstreamlit log tail:\n{server.log_tail(3000)}")
                browser.close()
    finally:
        server.stop()


def test_the_map_opens_on_the_canvas_with_every_test_point(app):
    server, page, sent, errors = app
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert "server-drawn map because" not in main, main[:500]
    n = page.evaluate("() => window.__vaeCanvas.n")
    assert n > 300  # the digits demo's test split
    assert page.locator('[data-testid="stMain"] .js-plotly-plot').count() == 0  # no Plotly map behind it
    assert page.locator(".vc-noscript").count() == 0  # the script ran and took down the "did not start" notice


def test_a_canvas_whose_script_never_runs_says_so_instead_of_an_empty_box(app):
    server, page, sent, errors = app
    ctx = page.context.browser.new_context(viewport=e2e.VIEWPORT)
    try:
        other = ctx.new_page()
        other.add_init_script(NEVER_RUNS)
        e2e.open_app(other, server)
        note = other.locator(".vc-noscript").first
        note.wait_for(state="visible", timeout=30_000)
        assert "has not started" in note.inner_text() and "Server-drawn map" in note.inner_text()
        assert other.evaluate("() => !window.__vaeCanvas")
    finally:
        ctx.close()


def test_hover_over_empty_space_paints_decoded_images_without_any_server_traffic(app):
    server, page, sent, errors = app
    spots = cv.empty_spots(page, 8)
    assert len(spots) >= 4
    page.mouse.move(spots[0]["x"], spots[0]["y"])
    page.wait_for_timeout(100)
    e2e.wait_idle(page)
    before = sent["sent"]
    hashes = []
    for s in spots:
        page.mouse.move(s["x"], s["y"], steps=4)
        page.wait_for_timeout(30)
        hashes.append(cv.canvas_hash(page))
        assert page.evaluate("() => window.__vaeCanvas.hoverCap.textContent").startswith("decoded z = (")
    page.wait_for_timeout(300)
    assert sent["sent"] == before, "a mouse move sent something to the server"
    assert len(set(hashes)) >= len(hashes) - 1, "the painted image did not follow the mouse"
    assert not errors, errors


def test_hover_on_a_dot_shows_its_thumbnail_label_and_index(app):
    server, page, sent, errors = app
    i = cv.clearest_point(page)
    pos = cv.screen_of_point(page, i)
    page.mouse.move(pos["x"], pos["y"])
    page.wait_for_timeout(50)
    cap = page.evaluate("() => window.__vaeCanvas.hoverCap.textContent")
    assert re.fullmatch(rf"label \S+ · test #{pos['row']}", cap), cap
    assert page.evaluate("() => window.__vaeCanvas.atlas !== null")  # the thumbnails arrived as one atlas


def test_a_click_on_a_dot_shows_the_server_side_details(app):
    server, page, sent, errors = app
    i = cv.clearest_point(page)
    pos = cv.screen_of_point(page, i)
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_timeout(300)
    e2e.wait_idle(page)
    selected = e2e.map_selection_text(page)
    assert selected and re.match(rf"x: test #{pos['row']}\b", selected), selected
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert re.search(rf"Test #{pos['row']}: recon [\d.]+ nats · KL [\d.]+ nats", main), main[:1500]
    assert f"Nearest 8 test images to #{pos['row']}" in main
    # decoded z, x and x̂ side by side in the narrow column beside the canvas: none overlaps the next
    boxes = [page.locator('[data-testid="stMain"] [data-testid="stImageCaption"]').filter(has_text=t).first
             .locator("xpath=..").bounding_box() for t in ("decoded z", "x: test", "x̂: decoded")]
    assert all(a["x"] + a["width"] <= b["x"] + 1 for a, b in zip(boxes, boxes[1:])), boxes
    assert page.evaluate("() => window.__vaeCanvas.dyn.clicked.ellipse.length") > 10  # μ ± σ drawn on the canvas
    z = page.evaluate("() => window.__vaeCanvas.dyn.z")
    sliders = [float(v) for v in e2e.map_sliders(page).evaluate_all("els => els.map(e => e.value)")][: len(z)]
    assert sliders == pytest.approx(z, abs=0.05)  # one z: the sliders moved to the clicked point


def test_a_posterior_too_small_to_see_gets_an_enlarged_dotted_copy(app):
    """The clicked point's μ ± σ: at the default zoom as drawn; zoomed far out, a copy enlarged to a visible size."""
    server, page, sent, errors = app
    scale_at = """(zoom) => { const c = window.__vaeCanvas; c.zoom = zoom; c.drawOverlay();
        const pts = c.dyn.clicked.ellipse, [cx, cy] = c.toScreen(...pts.reduce((a, [x, y]) =>
            [a[0] + x / pts.length, a[1] + y / pts.length], [0, 0]));
        const r = Math.max(...pts.map(([x, y]) => { const [px, py] = c.toScreen(x, y); return Math.hypot(px - cx, py - cy); }));
        return [c.stats.ellipseScale.clicked, r]; }"""
    k_small, r_small = page.evaluate(scale_at, 0.2)
    k_big, r_big = page.evaluate(scale_at, 200)
    page.locator(".vc-btn").filter(has_text="Reset view").click()
    assert r_small < 14 and k_small * r_small == pytest.approx(14, rel=1e-3)  # the copy is ELLIPSE_MIN_PX across
    assert r_big >= 14 and k_big == 1  # big enough: no copy


def test_a_click_on_empty_space_decodes_that_z_and_moves_the_sliders(app):
    server, page, sent, errors = app
    spot = cv.empty_spots(page, 8)[3]
    page.mouse.click(spot["x"], spot["y"])
    page.wait_for_timeout(300)
    e2e.wait_idle(page)
    want = page.evaluate("([x, y]) => { const c = window.__vaeCanvas, r = c.overlayCv.getBoundingClientRect();"
                         " const [px, py] = c.toPlane(x - r.left, y - r.top); return [px, py]; }", [spot["x"], spot["y"]])
    z = page.evaluate("() => window.__vaeCanvas.dyn.z")
    assert z == pytest.approx(want, abs=1e-3)


def test_drawing_moves_the_ellipse_live_and_release_gets_exact_terms(app):
    server, page, sent, errors = app
    e2e.wait_idle(page)
    # the encoder is not sent with the map: the pointer coming onto the pad asks for it, once
    assert page.evaluate("() => { const c = window.__vaeCanvas; return c.encoder === null && !!c.lazyEncoder; }")
    box = cv.pad_box(page)
    page.mouse.move(box["x"] + box["w"] / 2, box["y"] + box["h"] / 2, steps=2)
    page.wait_for_function("() => window.__vaeCanvas.encoder !== null", timeout=30_000)
    e2e.wait_idle(page)
    last = page.evaluate("() => window.__vaeCanvas.stats.lastPayload")
    assert last["binary"] and last["bytes"] < 200_000, last  # the encoder's part alone (the demo: ~70 kB)
    before = sent["sent"]
    centres = cv.draw_stroke(page, [(0.3, 0.2), (0.7, 0.2), (0.7, 0.5), (0.3, 0.8), (0.7, 0.8)],
                             on_step=lambda i: cv.drawn_centre(page))
    sent_while_drawing = sent["sent"] - before  # the release sends one trigger; moves send nothing
    assert sent_while_drawing <= 2, sent_while_drawing
    centres = [c for c in centres if c]
    assert len(centres) >= 3 and len({tuple(round(v, 4) for v in c) for c in centres}) >= 3, centres
    assert page.evaluate("() => window.__vaeCanvas.reconCap.textContent").startswith("decoded from μ")
    page.locator('[data-testid="stMain"]').get_by_text(re.compile(r"Drawing: recon")).first.wait_for(timeout=30_000)
    e2e.wait_idle(page)
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert re.search(r"Drawing: recon [\d.]+ nats · KL [\d.]+ nats", main), main[:2000]
    text = page.locator('[data-testid="stMain"] [data-testid="stMarkdown"]').filter(has_text="Drawing: recon").first
    pics = page.locator('[data-testid="stMain"] [data-testid="stImageCaption"]').filter(has_text="your drawing").first
    assert text.bounding_box()["y"] >= pics.bounding_box()["y"] + pics.bounding_box()["height"] - 1  # below, not over


def test_reruns_send_the_heavy_payload_once_and_recover_a_lost_one(app):
    server, page, sent, errors = app
    e2e.wait_idle(page)
    key = page.evaluate("() => window.__vaeCanvas.staticKey")
    e2e.map_press_slider(page, 0, "ArrowRight")
    page.wait_for_timeout(300)
    e2e.wait_idle(page)
    last = page.evaluate("() => window.__vaeCanvas.stats.lastPayload")
    assert not last["binary"] and last["bytes"] < 10_000, last  # keys, not the model (the demo's parts: ~20 kB)
    # the browser loses its copies (as after a lost message): it asks, and the next rerun brings them
    page.evaluate("() => { window.__vaeParts.clear(); window.__vaeCanvas.staticKey = null; }")
    e2e.map_press_slider(page, 0, "ArrowLeft")
    page.wait_for_function("(k) => window.__vaeCanvas.staticKey === k && window.__vaeParts.size >= 4", arg=key,
                           timeout=30_000)
    e2e.wait_idle(page)
    assert page.evaluate("() => window.__vaeCanvas.stats.lastPayload.binary")
    assert page.evaluate("() => window.__vaeCanvas.n") > 300
    assert not errors, errors


def test_search_highlights_by_label_and_by_index(app):
    server, page, sent, errors = app
    box = page.locator(".vc-search")
    box.fill("3")
    n3 = page.evaluate("() => window.__vaeCanvas.highlight.length")
    labels = page.evaluate("() => { const c = window.__vaeCanvas; return c.highlight.map(i => c.names[c.codes[i]]); }")
    assert n3 > 10 and set(labels) == {"3"}
    box.fill("#5")
    assert page.evaluate("() => window.__vaeCanvas.highlight.map(i => window.__vaeCanvas.rows[i])") == [5]
    box.fill("")
    assert page.evaluate("() => window.__vaeCanvas.highlight") is None


def test_the_legend_names_the_colouring_and_a_click_highlights_one_category(app):
    server, page, sent, errors = app
    e2e.wait_idle(page)
    legend = page.locator(".vc-legend")
    assert legend.locator(".vc-legend-title").inner_text() == "label"
    items = legend.locator(".vc-legend-item")
    assert items.count() == 10
    before = sent["sent"]
    items.filter(has_text="7").first.click()
    labels = page.evaluate("() => { const c = window.__vaeCanvas; return c.highlight.map(i => c.names[c.codes[i]]); }")
    assert len(labels) > 10 and set(labels) == {"7"}
    items.filter(has_text="7").first.click()  # the same swatch again: highlight off
    assert page.evaluate("() => window.__vaeCanvas.highlight") is None
    assert sent["sent"] == before  # all in the browser


def test_off_the_map_the_hover_panel_shows_the_sliders_z(app):
    server, page, sent, errors = app
    page.mouse.move(5, 5)  # leave the map
    e2e.wait_idle(page)
    first = cv.canvas_hash(page)
    z0 = page.evaluate("() => window.__vaeCanvas.dyn.z[0]")
    for _ in range(6):
        e2e.map_press_slider(page, 0, "ArrowRight")
        page.wait_for_timeout(150)
    e2e.wait_idle(page)
    page.wait_for_function("""(z0) => { const c = window.__vaeCanvas; return c.dyn.z[0] !== z0
        && c.hoverCap.textContent.startsWith('current z = (' + c.dyn.z[0].toFixed(2)); }""", arg=z0, timeout=30_000)
    cap = page.evaluate("() => window.__vaeCanvas.hoverCap.textContent")
    z = page.evaluate("() => window.__vaeCanvas.dyn.z")
    assert cap.startswith(f"current z = ({z[0]:.2f}, {z[1]:.2f})"), cap
    assert cv.canvas_hash(page) != first
    same = page.evaluate("""() => { const c = window.__vaeCanvas, t = document.createElement('canvas');
        t.width = c.hoverCv.width; t.height = c.hoverCv.height; c.paintImage(t, c.decoder.run(c.dyn.z));
        return t.toDataURL() === c.hoverCv.toDataURL(); }""")
    assert same, "the hover panel does not show the decoded slider z"


def test_zoom_and_pan_survive_a_rerun_and_a_page_switch(app):
    server, page, sent, errors = app
    spot = cv.empty_spots(page, 8)[4]
    page.mouse.move(spot["x"], spot["y"])
    page.mouse.wheel(0, -500)
    page.wait_for_timeout(200)
    view = page.evaluate("() => { const c = window.__vaeCanvas; return [c.zoom, c.cx, c.cy]; }")
    assert view[0] > 1.5
    e2e.map_press_slider(page, 1, "ArrowLeft")
    page.wait_for_timeout(200)
    e2e.wait_idle(page)
    assert page.evaluate("() => { const c = window.__vaeCanvas; return [c.zoom, c.cx, c.cy]; }") == pytest.approx(view)
    page.evaluate("() => { window.__vaeCanvas.__before = true; }")
    e2e.go_to(page, "Reconstruction & KL")
    e2e.wait_idle(page)
    e2e.go_to(page, "Latent map")
    page.wait_for_function("() => { const c = window.__vaeCanvas; return c && !c.__before && c.n > 0 && c.w > 0; }",
                           timeout=60_000)  # the remounted canvas, not the one from before the switch
    e2e.wait_idle(page)
    assert page.evaluate("() => { const c = window.__vaeCanvas; return [c.zoom, c.cx, c.cy]; }") == pytest.approx(view)
    got = page.evaluate("() => window.__vaeCanvas.stats.payloads")  # every payload this new canvas was given
    assert got and all(not p["binary"] and p["bytes"] < 10_000 for p in got), got  # keys only: the page kept them
    assert page.evaluate("() => window.__vaeCanvas.decoder !== null && window.__vaeCanvas.atlas !== null")
    spot = cv.empty_spots(page, 8)[2]
    before = cv.canvas_hash(page)
    page.mouse.move(spot["x"], spot["y"], steps=3)
    page.wait_for_timeout(50)
    assert cv.canvas_hash(page) != before  # and it draws: hover decodes with the kept decoder
    page.locator(".vc-btn").filter(has_text="Reset view").click()
    assert page.evaluate("() => window.__vaeCanvas.zoom") == 1


def _hover_z(page, spot) -> tuple[list, list, list]:
    page.mouse.move(spot["x"], spot["y"], steps=3)
    page.wait_for_timeout(50)
    return page.evaluate("() => { const c = window.__vaeCanvas; return [c.hover.z, c.hover.plane, c.dyn.z]; }")


def test_an_8d_model_decodes_its_chosen_dims_its_pca_plane_and_says_t_sne_has_no_inverse(app):
    """Chosen dims: the others stay at the current z; PCA: the plane is basis + mean; t-SNE: nearest image only."""
    from vae.explore import from_plane

    server, page, sent, errors = app
    old = page.evaluate("() => window.__vaeCanvas.staticKey")
    e2e.select_checkpoint(page, "demo · digits-5-vae-z8")
    cv.wait_new_static(page, old)
    pos = cv.screen_of_point(page, cv.clearest_point(page))  # a click makes the current z a code: no zeros
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_timeout(300)
    e2e.wait_idle(page)
    page.wait_for_function("(r) => { const d = window.__vaeCanvas.dyn; return d.clicked && d.clicked.row === r; }",
                           arg=pos["row"], timeout=30_000)
    basis = np.asarray(page.evaluate("() => window.__vaeCanvas.plane.basis"))
    dims = [int(np.argmax(r)) for r in basis]
    assert basis.shape == (2, 8) and np.allclose(np.abs(basis).sum(1), 1)
    z, xy, cur = _hover_z(page, cv.empty_spots(page, 8)[2])
    others = [k for k in range(8) if k not in dims]
    assert np.abs(np.asarray(cur)[others]).min() > 1e-4  # the held values are not trivially 0
    assert np.asarray(z)[others] == pytest.approx(np.asarray(cur)[others], abs=1e-9)
    assert [z[dims[0]], z[dims[1]]] == pytest.approx(xy, abs=1e-9)

    old = page.evaluate("() => window.__vaeCanvas.staticKey")
    cv.choose_radio(page, "PCA")
    cv.wait_new_static(page, old)
    plane = page.evaluate("() => window.__vaeCanvas.plane")
    assert plane["method"] == "pca"
    z, xy, cur = _hover_z(page, cv.empty_spots(page, 8)[5])
    want = from_plane(np.asarray([xy]), np.asarray(plane["origin"]), np.asarray(plane["basis"]))[0]
    assert np.asarray(z) == pytest.approx(want, abs=1e-5)  # origin (the codes' mean) + basis^T xy

    old = page.evaluate("() => window.__vaeCanvas.staticKey")
    cv.choose_radio(page, "t-SNE")
    cv.wait_new_static(page, old, timeout=120)
    assert page.evaluate("() => window.__vaeCanvas.plane") is None
    for spot in cv.empty_spots(page, 4, margin_px=4)[:2] + [cv.screen_of_point(page, cv.clearest_point(page))]:
        page.mouse.move(spot["x"], spot["y"], steps=2)
        page.wait_for_timeout(50)
        cap = page.evaluate("() => window.__vaeCanvas.hoverCap.textContent")
        assert re.fullmatch(r"label \S+ · test #\d+ \(t-SNE has no inverse: the nearest test image\)", cap), cap
    assert "t-SNE has no inverse" in page.locator('[data-testid="stMain"]').inner_text()
    assert not e2e.streamlit_errors(page)


def test_a_colour_dataset_draws_in_colour_and_the_server_takes_the_drawing(app):
    server, page, sent, errors = app
    old = page.evaluate("() => window.__vaeCanvas.staticKey")
    e2e.select_checkpoint(page, "run · tiny-colour")
    cv.wait_new_static(page, old)
    assert page.evaluate("() => window.__vaeCanvas.shape") == [3, 8, 8]
    assert page.locator(".vc-ink").is_visible()
    page.evaluate("() => { const c = window.__vaeCanvas; c.ink.value = '#ff0000'; c.clearPad(); }")
    cv.draw_stroke(page, [(0.3, 0.3), (0.7, 0.3), (0.7, 0.7)])
    pad = np.asarray(page.evaluate("() => Array.from(window.__vaeCanvas.pad)")).reshape(3, 8, 8)
    assert pad[0].max() > 0.9 and pad[1:].max() == 0  # red ink: red channel only
    page.locator('[data-testid="stMain"]').get_by_text(re.compile(r"Drawing: recon")).first.wait_for(timeout=30_000)
    e2e.wait_idle(page)
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert re.search(r"Drawing: recon [\d.]+ nats · KL [\d.]+ nats", main), main[:2000]
    assert not e2e.streamlit_errors(page)
    assert not errors, errors


def test_compare_hover_changes_every_column(app):
    server, page, sent, errors = app
    e2e.go_to(page, "Compare")
    e2e.compare_ladder(page)
    page.wait_for_function("() => window.__vaeZPlane && window.__vaeZPlane.models.length === 4", timeout=60_000)
    box = cv.plane_box(page)
    e2e.wait_idle(page)
    before = sent["sent"]
    page.mouse.move(box["x"] + 0.25 * box["w"], box["y"] + 0.3 * box["h"], steps=3)
    first = [cv.canvas_hash(page, owner="__vaeZPlane", index=k) for k in range(4)]
    page.mouse.move(box["x"] + 0.8 * box["w"], box["y"] + 0.75 * box["h"], steps=5)
    second = [cv.canvas_hash(page, owner="__vaeZPlane", index=k) for k in range(4)]
    assert all(a != b for a, b in zip(first, second)), "a column did not follow the shared z"
    px_per_step = page.evaluate("() => { const p = window.__vaeZPlane; return p.gridStep * 300 / (2 * p.lim); }")
    assert px_per_step >= 28  # the PCA/AE codes' wide range: labelled lines stay readable
    assert sent["sent"] == before
    assert not e2e.streamlit_errors(page)
    assert not errors, errors
