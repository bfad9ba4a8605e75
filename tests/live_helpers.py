"""Browser drivers for live training and URL state, shared by tests/test_live_browser.py and bench/live_bench.py."""

from __future__ import annotations

import re
import time

import e2e_helpers as e2e

EPOCH_RE = re.compile(r"epoch (\d+) of (\d+)")

_SAMPLE_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return null;
  const bar = main.querySelector('[data-testid="stProgress"]');
  const alerts = Array.from(main.querySelectorAll('[data-testid="stAlert"]')).map(a => a.innerText);
  const plots = Array.from(main.querySelectorAll('.js-plotly-plot'));
  const curve = plots.find(p => (p._fullLayout?.annotations || []).some(a => a.text === 'recon'));
  const n = curve && curve._fullData ? Math.max(0, ...curve._fullData.map(d => (d.x || []).length)) : 0;
  return {bar: bar ? bar.innerText : '', alerts, curve_points: n};
}"""


def sample(page) -> dict | None:
    """What the Train page shows now: the bar's text, the alerts, and the number of points on the curves."""
    return page.evaluate(_SAMPLE_JS)


def start_run(page, *, epochs: int, batch_size: int, name: str) -> float:
    """Fill the New run form and press Start; returns time.time() of the click (no waiting for idle after it:
    while a run is live the page keeps rerunning its fragment)."""
    e2e.wait_idle(page)
    exp = page.locator('[data-testid="stExpander"]').filter(has_text="New run").first
    if not exp.locator("details").first.evaluate("d => d.open"):
        exp.locator("summary").first.click()
    for label, value in (("Epochs", epochs), ("Batch size", batch_size), ("Run name", name)):
        box = page.get_by_label(label, exact=True)
        box.fill(str(value))
        box.press("Enter")
        e2e.wait_idle(page)
    t = time.time()
    page.locator(".st-key-train_start button").first.click()
    return t


def watch_run(page, timeout: float = 120.0, every_ms: int = 40) -> list[tuple[float, dict]]:
    """(time.time(), sample) until an outcome box (done/stopped/failed/diverged) shows; raises on timeout."""
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = sample(page)
        out.append((time.time(), s))
        if s and any(re.search(r": (done|stopped|failed|diverged)", a) for a in s["alerts"]):
            return out
        page.wait_for_timeout(every_ms)
    raise TimeoutError(f"no outcome after {timeout:.0f} s; last: {out[-1] if out else None}")


def milestones(samples: list[tuple[float, dict]], t_click: float) -> dict:
    """Seconds from the click to 'starting…', to the first curve point and to 'done', plus the intermediate
    states seen (distinct (epoch shown, curve points) pairs before done)."""
    first = {}
    states = []
    for t, s in samples:
        if not s:
            continue
        if "starting" in s["bar"] and "starting" not in first:
            first["starting"] = t - t_click
        if s["curve_points"] > 0 and "first_point" not in first:
            first["first_point"] = t - t_click
        m = EPOCH_RE.search(s["bar"])
        if any(": done" in a for a in s["alerts"]):
            first.setdefault("done_at", t)
            continue
        if m or s["curve_points"]:
            state = (int(m.group(1)) if m else None, s["curve_points"])
            if not states or states[-1] != state:
                states.append(state)
    first["states"] = states
    return first


def shown_checkpoint(page) -> str:
    """The sidebar picker's text and the page caption that names the open checkpoint (e.g. 'digits-2-ae: AE, …')."""
    side = page.locator('[data-testid="stSidebar"]').first.inner_text() or ""  # its facts name the model
    caps = page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').first.text_content() or ""
    return f"{side.strip()} | {caps.strip()}"


def wait_url(page, needle: str, timeout: float = 30.0) -> str:
    """Wait until the address bar holds `needle` (the app writes query parameters after each run)."""
    from urllib.parse import unquote

    page.wait_for_function("(s) => decodeURIComponent(location.search).includes(s)", arg=needle, timeout=timeout * 1000)
    return unquote(page.url)  # for reading only: open page.url itself, encoded as the address bar has it


def click_map_point(page) -> int:
    """Click the clearest dot of the canvas map; its test row."""
    import canvas_helpers as cv

    cv.wait_canvas(page)
    pos = cv.screen_of_point(page, cv.clearest_point(page))
    page.mouse.click(pos["x"], pos["y"])
    page.wait_for_timeout(200)
    e2e.wait_idle(page)
    return int(pos["row"])


def wait_selection(page, row: int, timeout: float = 60.0) -> float:
    """Seconds until the map's panel shows test row `row` as the clicked point."""
    t0 = time.perf_counter()
    page.wait_for_function(
        """(row) => Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stImageCaption"]'))
             .some(e => e.innerText.startsWith('x: test #' + row + ','))""", arg=row, timeout=timeout * 1000)
    return time.perf_counter() - t0
