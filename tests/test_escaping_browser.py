"""Finding 8 in a real browser: Markdown and HTML in dataset and class names render as text, never as links,
images or markup, and make the browser fetch nothing (sidebar, captions, the Plotly legend, the canvas)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import e2e_helpers as e2e

REQUIRE = os.environ.get("VAE_REQUIRE_BROWSER") == "1"
EVIL = "evil.example"
CLASSES = ["[link](https:evil.example)", "![img](https:evil.example)", "<img src=https:evil.example>",
           "<b>bold", f"www.{EVIL}", ":red[red] :smile:", "%{customdata} $x^2$"]
SHOTS = Path(os.environ.get("VAE_SHOTS_DIR", "/tmp/vae-escaping-shots"))


HOSTILE_TEXT = [f"http://{EVIL}/a https://{EVIL} www.{EVIL} WWW.{EVIL} me@{EVIL} <https://{EVIL}>",
                f"[link](https://{EVIL}) ![img](https://{EVIL}/x.png) <img src='https://{EVIL}/y.png'> <b>bold</b>",
                "# heading *em* **strong** `code` ~~del~~ :red[red] :smile: $x^2$ | a | b |\n- list [^1] &amp; &#64;",
                f"[ref][1]\n\n[1]: https://{EVIL}", "\\[escaped\\](https://" + EVIL + ")"]
MD_SCRIPT = """
import json, sys
import streamlit as st
from ui.common import md
for i, text in enumerate(json.loads(open(sys.argv[1]).read())):
    with st.container(key=f"case{i}"):
        st.markdown(md(text))
    st.error(md(text))
    st.caption(md(text))
"""


def test_the_markdown_helper_neutralises_every_construct(tmp_path):
    """md() against Streamlit's real Markdown renderer: links, images, HTML, autolinks, directives, LaTeX."""
    why = e2e.browser_missing_reason()
    if why:
        (pytest.fail if REQUIRE else pytest.skip)(f"no headless browser: {why}")
    import json
    import subprocess
    import sys

    from playwright.sync_api import sync_playwright

    (tmp_path / "cases.json").write_text(json.dumps(HOSTILE_TEXT))
    script = tmp_path / "md_cases.py"
    script.write_text(MD_SCRIPT)
    port = e2e.free_port()
    env = {**os.environ, "PYTHONPATH": str(e2e.ROOT), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.fileWatcherType", "none", "--", str(tmp_path / "cases.json")],
                            cwd=e2e.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    fetched: list[str] = []
    try:
        import time

        deadline = time.monotonic() + 60
        while not e2e.health_ok(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        with sync_playwright() as pw:
            browser = e2e.launch_browser(pw)
            page = e2e.new_page(browser)
            page.on("request", lambda r: fetched.append(r.url) if EVIL in r.url else None)
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
            page.wait_for_function(f"() => document.querySelectorAll('[data-testid=\"stCaptionContainer\"]').length"
                                   f" >= {len(HOSTILE_TEXT)}", timeout=90_000)  # every case drawn
            e2e.wait_idle(page)
            main = page.locator('[data-testid="stMain"]')
            found = main.evaluate("""(m) => ({
                a: [...m.querySelectorAll('a')].map(a => a.outerHTML),
                img: [...m.querySelectorAll('img')].map(i => i.outerHTML),
                tags: [...m.querySelectorAll('b, strong, em, del, h1, h2, code, li, table, sup, .katex')]
                      .map(e => e.outerHTML),
                red: [...m.querySelectorAll('span')].filter(s => (s.getAttribute('style') || '').includes('red'))
                      .map(s => s.outerHTML)})""")
            assert found == {"a": [], "img": [], "tags": [], "red": []}, found
            shown = page.locator(".st-key-case0").inner_text().replace("\u2060", "")  # invisible word joiners
            assert f"www.{EVIL}" in shown and f"me@{EVIL}" in shown and f"http://{EVIL}/a" in shown  # reads as typed
            browser.close()
        assert fetched == []
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(10)


def _hostile_run(tmp_path: Path, runs: Path) -> None:
    """A real run on an image folder whose folder and class names are Markdown/HTML."""
    from PIL import Image

    from vae.config import DataConfig, ModelConfig, TrainConfig
    from vae.run import run_training

    ds = tmp_path / f"ds ![pic](https:{EVIL}) [site](https:{EVIL}) www.{EVIL} me@{EVIL}"
    rng = np.random.default_rng(0)
    for name in CLASSES:
        (ds / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(ds / name / f"{i}.png")
    run_training(ModelConfig(latent_dim=2, hidden=(8,)), TrainConfig(epochs=1, batch_size=8, threads=1),
                 DataConfig(name=str(ds), test_fraction=0.5), runs / "hostile.safetensors", write_log=False)


def _no_markup_from_names(page) -> dict:
    return page.evaluate("""(evil) => ({
        links: [...document.querySelectorAll('a')].filter(a => (a.href || '').includes(evil)
                                                         || a.textContent.includes(evil)).length,
        images: [...document.querySelectorAll('img')].filter(i => (i.src || '').includes(evil)).length,
        bold: [...document.querySelectorAll('b, strong')].filter(b => b.textContent.includes('bold')).length,
        svg_links: document.querySelectorAll('.js-plotly-plot a').length,
    })""", EVIL)


@pytest.mark.slow
def test_names_render_as_text_everywhere(tmp_path):
    why = e2e.browser_missing_reason()
    if why:
        (pytest.fail if REQUIRE else pytest.skip)(f"no headless browser: {why}")
    from playwright.sync_api import sync_playwright

    runs, demos = tmp_path / "runs", tmp_path / "no-demos"
    runs.mkdir()
    demos.mkdir()
    _hostile_run(tmp_path, runs)
    server = e2e.start_server(runs_dir=runs, env={"VAE_DEMO_DIR": str(demos)}, log_path=tmp_path / "st.log")
    fetched: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = e2e.launch_browser(pw)
            errors: list[str] = []
            page = e2e.new_page(browser, errors)
            page.on("request", lambda r: fetched.append(r.url) if EVIL in r.url else None)
            e2e.open_app(page, server)  # the Latent map of the only checkpoint: the hostile run
            # the router and the sidebar facts arrive after the first script run: wait for them, never read once
            page.wait_for_function("() => { const s = document.querySelector('[data-testid=\"stSidebar\"]');"
                                   " return !!s && s.innerText.includes('evil.example') && s.innerText.includes('ELBO')"
                                   " && !!document.querySelector('[data-testid=\"stMain\"] h1'); }", timeout=90_000)
            e2e.wait_idle(page)
            sidebar = page.locator('[data-testid="stSidebar"]').inner_text().replace("\u2060", "")  # word joiners
            assert f"![pic](https:{EVIL}) [site](https:{EVIL}) www.{EVIL} me@{EVIL}" in sidebar  # shown literally
            SHOTS.mkdir(parents=True, exist_ok=True)
            e2e.screenshot(page, SHOTS / "escaping-canvas.png")
            assert _no_markup_from_names(page) == {"links": 0, "images": 0, "bold": 0, "svg_links": 0}
            page.get_by_text("Server-drawn map").first.click()  # the Plotly map: legend names are SVG text
            e2e.wait_idle(page)
            page.wait_for_function("() => document.querySelectorAll('.legendtext').length > 0", timeout=20_000)
            legend = page.evaluate("() => [...document.querySelectorAll('.legendtext')].map(t => t.textContent)")
            e2e.screenshot(page, SHOTS / "escaping-plotly.png")
            assert "<b>bold" in legend and "<img src=https:evil.example>" in legend, legend
            assert "%{customdata} $x^2$" in legend, legend
            assert _no_markup_from_names(page) == {"links": 0, "images": 0, "bold": 0, "svg_links": 0}
            for title in ("Reconstruction", "Checkpoints"):
                e2e.go_to(page, title)
                page.wait_for_function("(t) => [...document.querySelectorAll('[data-testid=\"stMain\"] h1')]"
                                       ".some(h => h.innerText.startsWith(t))", arg=title, timeout=90_000)
                e2e.wait_idle(page)
                assert not e2e.streamlit_errors(page)
                assert _no_markup_from_names(page)["links"] == 0 and _no_markup_from_names(page)["images"] == 0
            assert fetched == [], fetched
            browser.close()
    finally:
        server.stop()
