"""Drive the in-browser latent canvas and the Compare z plane (ui/components/*.js); shared by tests and bench/.

The components expose `window.__vaeCanvas` / `window.__vaeZPlane` (their state and timings) for exactly this.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import e2e_helpers as e2e


def wait_canvas(page, timeout: float = 60.0) -> None:
    page.wait_for_function("() => window.__vaeCanvas && window.__vaeCanvas.n > 0 && window.__vaeCanvas.w > 0",
                           timeout=timeout * 1000)
    e2e.wait_idle(page, timeout)


def screen_of_point(page, i: int) -> dict:
    """Page coordinates of map point i (its position in the canvas's arrays), and its test row."""
    return page.evaluate("""(i) => { const c = window.__vaeCanvas; c.overlayCv.scrollIntoView({block: 'center'});
        const r = c.overlayCv.getBoundingClientRect(); const [px, py] = c.toScreen(c.xy[2*i], c.xy[2*i+1]);
        return {x: r.left + px, y: r.top + py, row: c.rows[i]}; }""", i)


def clearest_point(page) -> int:
    """The point farthest (on screen) from every other point: a click is sure to hit it."""
    return page.evaluate("""() => { const c = window.__vaeCanvas; const s = [];
        for (let i = 0; i < c.n; i++) s.push(c.toScreen(c.xy[2*i], c.xy[2*i+1]));
        let best = 0, bd = -1;
        for (let i = 0; i < c.n; i++) { const [x, y] = s[i]; if (x < 20 || y < 20 || x > c.w - 20 || y > c.h - 20) continue;
          let m = Infinity; for (let j = 0; j < c.n; j++) if (j !== i) m = Math.min(m, Math.hypot(s[j][0]-x, s[j][1]-y));
          if (m > bd) { bd = m; best = i; } }
        return best; }""")


def empty_spots(page, n: int = 8, margin_px: float = 14.0) -> list[dict]:
    """n page positions on the map at least margin_px from every dot, spread over the map."""
    return page.evaluate("""([n, margin]) => { const c = window.__vaeCanvas; c.overlayCv.scrollIntoView({block: 'center'});
        const r = c.overlayCv.getBoundingClientRect(); const out = [];
        for (let gy = 1; gy < 12; gy++) for (let gx = 1; gx < 12; gx++) {
          const px = c.w * gx / 12, py = c.h * gy / 12;
          if (c.nearest(px, py, margin) < 0) out.push({x: r.left + px, y: r.top + py});
        }
        const step = Math.max(1, Math.floor(out.length / n));
        return out.filter((_, k) => k % step === 0).slice(0, n); }""", [n, margin_px])


def canvas_hash(page, which: str = "hoverCv", owner: str = "__vaeCanvas", index: int | None = None) -> str:
    """A digest of one canvas's pixels (the hover image, the reconstruction, a Compare column)."""
    data = page.evaluate("""([owner, which, index]) => { const o = window[owner];
        const cv = index === null ? o[which] : o.models[index].cv;
        return cv.toDataURL('image/png'); }""", [owner, which, index])
    return hashlib.sha1(data.encode()).hexdigest()


def count_sent_frames(page) -> dict:
    """Live counters of websocket frames the page sends and bytes it receives (attach before the page loads)."""
    counter = {"sent": 0, "received_bytes": 0}

    def watch(ws):
        ws.on("framesent", lambda _payload: counter.__setitem__("sent", counter["sent"] + 1))
        ws.on("framereceived", lambda payload: counter.__setitem__("received_bytes", counter["received_bytes"] + len(payload)))

    page.on("websocket", watch)
    return counter


def pad_box(page) -> dict:
    return page.evaluate("""() => { const c = window.__vaeCanvas; c.padCv.scrollIntoView({block: 'center'});
        const r = c.padCv.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; }""")


def drawn_centre(page):
    return page.evaluate("() => { const q = window.__vaeCanvas.drawnQ; return q ? q.centre : null; }")


def draw_stroke(page, points: list[tuple[float, float]], on_step=None) -> list:
    """Press on the pad at the first of `points` (fractions of its size), move through the rest, release.
    Returns on_step(i)'s values after each move (e.g. the live ellipse centre)."""
    box = pad_box(page)
    xy = [(box["x"] + fx * box["w"], box["y"] + fy * box["h"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    seen = []
    for i, p in enumerate(xy[1:]):
        page.mouse.move(*p, steps=3)
        if on_step:
            seen.append(on_step(i))
    page.mouse.up()
    return seen


def plane_box(page) -> dict:
    return page.evaluate("""() => { const p = window.__vaeZPlane; p.cv.scrollIntoView({block: 'center'});
        const r = p.cv.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; }""")


def colour_checkpoint(d) -> Path:
    """A tiny VAE on 8x8 RGB images (red, green or blue squares on black, from an .npz in `d`): a colour dataset."""
    import numpy as np

    from conftest import _train

    d = Path(d)
    rng = np.random.default_rng(0)
    x = np.zeros((240, 8, 8, 3), np.uint8)
    for i in range(len(x)):
        r, c = rng.integers(0, 5, 2)
        x[i, r : r + 3, c : c + 3] = [(255, 0, 0), (0, 255, 0), (0, 0, 255)][i % 3]
    np.savez(d / "squares.npz", x=x, y=np.arange(len(x)) % 3)
    return _train(d / "tiny-colour.safetensors", "vae", data=str(d / "squares.npz"))


def wait_new_static(page, old_key: str | None, timeout: float = 60.0) -> None:
    """After a checkpoint or view change: the canvas holds a different static payload, drawn."""
    page.wait_for_function("(k) => { const c = window.__vaeCanvas; return c && c.staticKey && c.staticKey !== k"
                           " && c.n > 0 && c.colourKey; }", arg=old_key, timeout=timeout * 1000)
    e2e.wait_idle(page, timeout)


def choose_radio(page, label: str) -> None:
    """Click the radio option whose text is `label` in the main area."""
    page.locator('[data-testid="stMain"] [data-testid="stRadio"] label').filter(has_text=label).first.click()
    page.wait_for_timeout(200)
