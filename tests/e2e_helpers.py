"""Start/stop the real Streamlit server and drive it in headless Chromium; shared by the e2e test and bench/."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# No GPU, no phoning home: the same flags everywhere so the test and the benches see one browser.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 900}


def browser_missing_reason() -> str | None:
    """None when a headless browser can be driven here, else why not."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "python playwright not installed (pip install playwright)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A `streamlit run serve.py` subprocess (README's start command) in its own process group, on loopback."""

    proc: subprocess.Popen
    port: int
    log_path: Path
    started_at: float = field(default_factory=time.perf_counter)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def children(self) -> list[int]:
        """Direct children of the server, e.g. training runs (vae.jobs starts them in their own session)."""
        out = []
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                        out.append(int(p.name))
                except (OSError, IndexError, ValueError):
                    pass
        return out

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the server's group and its training runs' groups (they run in sessions of their own), then SIGKILL."""
        if self.proc.poll() is not None:
            return
        for child in self.children():  # only processes this server started
            try:
                os.killpg(child, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)


def health_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


def start_server(port: int | None = None, *, runs_dir: str | Path | None = None, env: dict | None = None,
                 log_path: str | Path | None = None, timeout: float = 60.0) -> Server:
    """Start the app and wait for /_stcore/health == ok; raises RuntimeError (with the log) on failure."""
    port = port or free_port()
    full_env = dict(os.environ)
    full_env.update({"STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "PYTHONUNBUFFERED": "1"})
    if runs_dir is not None:
        full_env["VAE_RUNS_DIR"] = str(runs_dir)
    full_env.update(env or {})
    log_path = Path(log_path or tempfile.mkstemp(prefix=f"streamlit-{port}-", suffix=".log")[1])
    cmd = [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
           "--browser.gatherUsageStats", "false"]
    with open(log_path, "wb") as log:  # the child holds its own copy of the descriptor
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # own group: stop() also ends training children
    server = Server(proc, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{server.log_tail()}")
        if health_ok(port):
            return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"streamlit not healthy after {timeout:.0f} s:\n{server.log_tail()}")


def launch_browser(pw):
    """Headless Debian Chromium; each caller opens fresh contexts (no shared profile)."""
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def new_page(browser, errors: list[str] | None = None):
    """A page in a fresh context; page errors and console errors are appended to `errors`."""
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    if errors is not None:
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" and not
                _streamlit_probe(m) else None)
    return page


# Opened on a deep link (/train), Streamlit's frontend first asks /train/_stcore/host-config and /health, gets a
# 404, and falls back to the root: its own probe, logged as a console error. Only exactly that is not ours.
_PROBE = re.compile(r"^https?://[^/]+/[^/]+/_stcore/(host-config|health)$")


def _streamlit_probe(msg) -> bool:
    return "status of 404" in msg.text and bool(_PROBE.match((msg.location or {}).get("url", "")))


# ---- Streamlit page state -------------------------------------------------------------------------------

def wait_idle(page, timeout: float = 60.0, settle: float = 0.3) -> None:
    """Wait until the script is not running (Streamlit's own data-test-script-state), stable for `settle` s."""
    deadline = time.monotonic() + timeout
    stable_since = None
    while time.monotonic() < deadline:
        state = page.evaluate(
            "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
            " return a ? a.getAttribute('data-test-script-state') : null; }")
        if state == "notRunning":
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= settle:
                return
        else:
            stable_since = None
        page.wait_for_timeout(100)
    raise TimeoutError(f"app still running after {timeout:.0f} s")


def open_app(page, server: Server, path: str = "", timeout: float = 60.0) -> None:
    page.goto(f"{server.url}/{path}", wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout * 1000)
    wait_idle(page, timeout)


def go_to(page, title: str, timeout: float = 60.0) -> None:
    """Switch page through the sidebar navigation (keeps the session, unlike a new URL)."""
    link = page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first
    link.click()
    page.wait_for_timeout(200)
    wait_idle(page, timeout)


def streamlit_errors(page) -> list[str]:
    """Text of every exception box Streamlit shows, plus any "Traceback" in the main area."""
    out = [t[:500] for t in page.locator('[data-testid="stException"]').all_inner_texts()]
    main = page.locator('[data-testid="stMain"]')
    if not out and main.count() and "Traceback (most recent call last)" in main.inner_text():
        out.append("Traceback in page text")
    return out


def screenshot(page, path: str | Path, full_page: bool = False) -> None:
    """Viewport screenshot; full_page grows the viewport to the content, because Streamlit scrolls its main
    area inside the page and Playwright's own full_page would only capture the viewport."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not full_page:
        page.screenshot(path=str(path))
        return
    size = page.viewport_size
    height = page.evaluate("() => Math.max(...Array.from(document.querySelectorAll("
                           "'[data-testid=\"stMain\"], [data-testid=\"stMainBlockContainer\"]'))"
                           ".map(e => e.scrollHeight), window.innerHeight)")
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 12000)})
    page.wait_for_timeout(400)  # let Plotly relayout to the new size
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    page.wait_for_timeout(200)


# ---- Plotly ---------------------------------------------------------------------------------------------

_POINT_JS = """
([n, trace, index]) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[n];
  if (!gd || !gd._fullLayout || !gd._fullData) return null;
  const fd = gd._fullData;
  let t = trace;
  if (t < 0) {  // the first visible trace with points: skip invisible helper grids (opacity 0)
    t = fd.findIndex(d => d.visible === true && (d.opacity ?? 1) > 0 && d.x && d.x.length > 0
                          && (d.type || '').startsWith('scatter')
                          && !(d.marker && d.marker.opacity === 0));
  }
  if (t < 0 || !fd[t]) return null;
  const d = fd[t];
  const i = Math.min(index, d.x.length - 1);
  const xa = gd._fullLayout[(d.xaxis || 'x').replace('x', 'xaxis')];
  const ya = gd._fullLayout[(d.yaxis || 'y').replace('y', 'yaxis')];
  const r = gd.getBoundingClientRect();
  return {x: r.left + xa._offset + xa.l2p(d.x[i]), y: r.top + ya._offset + ya.l2p(d.y[i]),
          dx: d.x[i], dy: d.y[i], trace: t, index: i, n_points: d.x.length, name: d.name || '',
          customdata: d.customdata ? d.customdata[i] : null};
}
"""


def plot_count(page) -> int:
    return page.evaluate("() => document.querySelectorAll('.js-plotly-plot').length")


def plot_ready(page, n: int = 0) -> bool:
    """True once the n-th Plotly figure on the page has data drawn."""
    return bool(page.evaluate(
        "(n) => { const gd = document.querySelectorAll('.js-plotly-plot')[n];"
        " return !!(gd && gd._fullData && gd._fullData.some(d => d.x && d.x.length > 0)); }", n))


def point_position(page, n: int = 0, trace: int = -1, index: int = 0) -> dict | None:
    """Screen position of data point `index` of `trace` (-1: first visible scatter) in the n-th figure."""
    page.evaluate("(n) => document.querySelectorAll('.js-plotly-plot')[n]?.scrollIntoView({block: 'center'})", n)
    return page.evaluate(_POINT_JS, [n, trace, index])


_CLEAR_POINT_JS = """
([n, trace]) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[n];
  const fd = gd._fullData, L = gd._fullLayout;
  const px = (d, i) => [L.xaxis.l2p(d.x[i]), L.yaxis.l2p(d.y[i])];
  const hidden = fd.filter(d => d.marker && d.marker.opacity === 0 && d.x);
  const d = fd[trace];
  let best = 0, bestDist = -1;
  for (let i = 0; i < d.x.length; i++) {
    const [x, y] = px(d, i);
    let m = Infinity;
    for (const h of hidden) for (let j = 0; j < h.x.length; j++) {
      const [hx, hy] = px(h, j); m = Math.min(m, Math.hypot(hx - x, hy - y));
    }
    for (const o of fd) if (o !== d && o.marker && o.marker.opacity !== 0 && o.x && o.type === 'scattergl')
      for (let j = 0; j < o.x.length; j++) { const [ox, oy] = px(o, j); m = Math.min(m, Math.hypot(ox - x, oy - y)); }
    if (m > bestDist) { bestDist = m; best = i; }
  }
  return best;
}
"""


def clearest_point(page, n: int = 0, trace: int = 0) -> int:
    """Index of the point of `trace` farthest (in pixels) from every other marker, invisible ones included:
    the one a click is sure to hit."""
    return int(page.evaluate(_CLEAR_POINT_JS, [n, trace]))


def click_at(page, x: float, y: float) -> None:
    """Plotly needs a hover before it reports a click."""
    page.mouse.move(x - 3, y - 3)
    page.wait_for_timeout(60)
    page.mouse.move(x, y)
    page.wait_for_timeout(150)
    page.mouse.click(x, y)


def click_point(page, n: int = 0, trace: int = -1, index: int = 0) -> dict:
    pos = point_position(page, n, trace, index)
    if pos is None:
        raise AssertionError(f"no Plotly point {trace}/{index} in figure {n}")
    click_at(page, pos["x"], pos["y"])
    return pos


# ---- memory ---------------------------------------------------------------------------------------------

def proc_status_kb(pid: int, field_name: str) -> int | None:
    """VmRSS / VmHWM (peak RSS) of one process in kB, from /proc (no psutil needed)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# ---- page drivers (what a user does on each page; the e2e test and the benches share them) --------------

def go_to_nowait(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
    page.wait_for_timeout(100)


def select_checkpoint(page, label: str, timeout: float = 60.0) -> None:
    """Choose `label` (e.g. 'run · my-vae') in the sidebar checkpoint picker."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    box.click()
    page.keyboard.type(label.split(" · ")[-1])
    option = page.locator('[role="option"]').filter(has_text=label).first
    option.click(timeout=timeout * 1000)
    page.wait_for_timeout(200)
    wait_idle(page, timeout)


def _alert_texts(page) -> list[str]:
    return page.locator('[data-testid="stMain"] [data-testid="stAlert"]').all_inner_texts()


# Latent map (pages/latent_map.py, ui/map/plotly_map.py): the map is the first Plotly figure of the page.

MAP_DRAWN_JS = """() => { const c = window.__vaeCanvas; if (c && c.n > 0 && c.w > 0) return true;
    const gd = document.querySelector('[data-testid="stMain"] .js-plotly-plot');
    return !!(gd && gd._fullData && gd._fullData.some(d => d.x && d.x.length > 0)); }"""


def wait_map_ready(page, timeout: float = 60.0) -> None:
    """The map is drawn: the in-browser canvas (the default) or the server-drawn Plotly map."""
    page.wait_for_function(MAP_DRAWN_JS, timeout=timeout * 1000)
    wait_idle(page, timeout)


def map_use_server_drawn(page, timeout: float = 60.0) -> None:
    """Switch the Latent map to the server-drawn Plotly map (the toggle under the map), the pre-canvas path."""
    page.locator(".st-key-map_classic label").first.click()
    page.wait_for_selector('[data-testid="stMain"] .js-plotly-plot', timeout=timeout * 1000)
    page.wait_for_function(
        "() => { const gd = document.querySelector('[data-testid=\"stMain\"] .js-plotly-plot');"
        " return !!(gd && gd._fullData && gd._fullData.some(d => d.x && d.x.length > 0)); }",
        timeout=timeout * 1000)
    wait_idle(page, timeout)


def map_click_point(page, index: int | None = None, trace: int = 0, wait: bool = True) -> dict:
    """Click test point `index` (None: the clearest one) of one label's trace; returns its position,
    data and customdata (the test row)."""
    if index is None:
        index = clearest_point(page, 0, trace)
    pos = click_point(page, 0, trace, index)
    if wait:
        page.wait_for_timeout(200)
        wait_idle(page)
    return pos


def map_selection_text(page) -> str | None:
    """The clicked point's caption ('x: test #N · label L'), or None when no point is selected."""
    caps = page.locator('[data-testid="stMain"] [data-testid="stImageCaption"], '
                        '[data-testid="stMain"] [data-testid="stCaptionContainer"]').all_inner_texts()
    hits = [c for c in caps if c.startswith("x: test #")]
    return hits[0] if hits else None


def map_has_reconstruction(page) -> bool:
    """An image captioned x̂ (the paper's name for the reconstruction) is shown."""
    caps = page.locator('[data-testid="stMain"] [data-testid="stImageCaption"]').all_inner_texts()
    return any(c.strip().startswith("x̂") for c in caps)


def map_sliders(page):
    return page.locator('[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]')


def map_press_slider(page, k: int = 0, key: str = "ArrowRight") -> None:
    """One keyboard step on the k-th z slider (a step is 1/200 of its range)."""
    s = map_sliders(page).nth(k)
    s.focus()
    page.keyboard.press(key)


# Train (pages/train.py, ui/jobs_ui.py)

def train_start(page, epochs: int = 2, name: str = "e2e-run", timeout: float = 60.0, shown: bool = False) -> None:
    """Fill the New run form (digits, defaults otherwise) and press Start training; then wait for the page to be
    idle, or with `shown` for the run's status line."""
    wait_idle(page, timeout)  # a rerun after the previous start may still be collapsing the form's expander
    exp = page.locator('[data-testid="stExpander"]').filter(has_text="New run").first
    if not exp.locator("details").first.evaluate("d => d.open"):
        exp.locator("summary").first.click()
    ep = page.get_by_label("Epochs", exact=True)
    ep.fill(str(epochs))
    ep.press("Enter")
    wait_idle(page, timeout)
    nm = page.get_by_label("Run name", exact=True)
    nm.fill(name)
    nm.press("Enter")
    wait_idle(page, timeout)
    page.locator(".st-key-train_start button").first.click()
    page.wait_for_timeout(300)
    if shown:  # the run's own status line: while a run trains the poller reruns twice a second, so the page is
        wait_shown(page, name, timeout)  # seldom still for long, and waiting for quiet costs seconds per start
    else:
        wait_idle(page, timeout)
    errs = [t for t in _alert_texts(page) if "Fix the settings" in t]
    if errs:
        raise AssertionError(f"training form refused: {_alert_texts(page)}")


def wait_shown(page, name: str, timeout: float = 60.0) -> None:
    """Wait until the Train page's status line names run `name` (starting, an epoch, or its outcome), or the form
    says why it refused."""
    deadline = time.monotonic() + timeout
    main = page.locator('[data-testid="stMain"]')
    while time.monotonic() < deadline:
        text = main.inner_text() if main.count() else ""
        if f"{name}:" in text or "Fix the settings" in text:
            return
        page.wait_for_timeout(100)
    raise TimeoutError(f"run {name} not shown after {timeout:.0f} s; alerts: {_alert_texts(page)}")


def train_wait_done(page, timeout: float = 90.0) -> str:
    """Wait for the run's outcome box; returns its text, raises if it ended in anything but done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t in _alert_texts(page):
            if ": done" in t:
                return t
            if any(f": {s}" in t for s in ("failed", "diverged", "stopped")):
                raise AssertionError(f"run ended badly: {t}")
        page.wait_for_timeout(500)
    raise TimeoutError(f"run not done after {timeout:.0f} s; alerts: {_alert_texts(page)}")


# Compare (pages/compare.py)

def compare_ladder(page, timeout: float = 120.0) -> None:
    # by widget key (Streamlit puts st-key-<key> on the container): the button's wording changes, its key does not
    page.locator(".st-key-compare_ladder button").first.click()
    page.wait_for_timeout(300)
    wait_idle(page, timeout)


def compare_model_headers(page) -> list[str]:
    """The checkpoint name heading each column ('name' over 'KIND · z=D')."""
    return page.evaluate(r"""() => Array.from(document.querySelectorAll(
        '[data-testid="stMain"] [data-testid="stColumn"] [data-testid="stMarkdownContainer"]'))
        .map(e => e.innerText.trim()).filter(t => /\n\s*(PCA|AE|VAE) · z=\d+/.test(t))
        .map(t => t.split('\n')[0].trim())""")


# β sweep (pages/beta_sweep.py, ui/sweep_ui.py)

def sweep_start(page, betas: str = "0.5, 1, 2", epochs: int = 5, name: str = "walk", timeout: float = 60.0) -> None:
    exp = page.locator('[data-testid="stExpander"]').filter(has_text="New sweep").first
    if not exp.locator("details").first.evaluate("d => d.open"):
        exp.locator("summary").first.click()
    for label, value in (("β values", betas), ("Epochs", str(epochs)), ("Sweep name", name)):
        box = exp.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")
        wait_idle(page, timeout)
    page.locator(".st-key-beta_run button").first.click()
    page.wait_for_timeout(300)
    wait_idle(page, timeout)


def sweep_wait_done(page, timeout: float = 180.0) -> None:
    """Until no run of the sweep shows a progress bar (all ended) and the rate–distortion plane is drawn."""
    deadline = time.monotonic() + timeout
    page.wait_for_timeout(2500)  # the first poll must have drawn the progress lines
    while time.monotonic() < deadline:
        if page.locator('[data-testid="stMain"] [data-testid="stProgress"]').count() == 0 and plot_count(page):
            wait_idle(page, 30)
            return
        page.wait_for_timeout(1000)
    raise TimeoutError(f"sweep not finished after {timeout:.0f} s")


@contextlib.contextmanager
def served_browser(tmp_path: Path, env: dict | None = None):
    """A real server on its own runs folder and a headless Chromium: yields (server, browser, runs).

    A missing browser skips the test, or fails it under VAE_REQUIRE_BROWSER=1 (CI). The server's log tail is
    printed at the end, which pytest shows only when the test fails.
    """
    import pytest

    why = browser_missing_reason()
    if why:
        (pytest.fail if os.environ.get("VAE_REQUIRE_BROWSER") == "1" else pytest.skip)(f"no headless browser: {why}")
    from playwright.sync_api import sync_playwright

    runs = tmp_path / "runs"
    runs.mkdir()
    server = start_server(runs_dir=runs, log_path=tmp_path / "streamlit.log", env=env)
    try:
        with sync_playwright() as pw:
            browser = launch_browser(pw)
            try:
                yield server, browser, runs
            finally:
                print(f"streamlit log tail:\n{server.log_tail(3000)}")
                browser.close()
    finally:
        server.stop()
