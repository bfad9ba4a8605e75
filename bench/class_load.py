"""A class on one laptop: N students as scripted websocket clients + 2 training runs; click → details, errors, memory.

Issue 15's classroom figure: "30 simulated students (browser contexts or a scripted websocket client) + 2 runs on this
machine: 0 errors; click → details p95 ≤ 1.5 s; server memory bounded". bench/load_test.py drives real Chromium
sessions, but 30 Chromium tabs on the server's own 2 cores measure mostly the tabs: in a classroom each student's
browser runs on the student's laptop. Here each student is a websocket client that speaks Streamlit's own protocol
(protobuf BackMsg / ForwardMsg on /_stcore/stream), as a browser tab would, at a fraction of a tab's CPU:

1. A teacher's Chromium starts the training runs from the Train page (so they run as a visitor's runs do: niced
   background jobs), opens the Latent map and clicks a dot once. The bench records the two messages the app's own
   JS sent: the page load and the click (a fragment rerun carrying the canvas's `select` event). Nothing of the
   protocol is written by hand.
2. Each student opens its own session with the page-load message, then clicks: the recorded click with another
   test row and a fresh nonce. Click → details is the time from sending it to the clicked image's own delta
   ("x: test #<row>") arriving AND its PNG fetched from the server's /media endpoint, as a browser would show it.
   Then the student thinks for a random `--think` seconds and clicks again (`--think 0,0`: at once, so the server
   is never idle: its throughput, the worst case).
3. Errors: any exception element in any student's stream, a closed socket, or a click with no details in 30 s.
   Server memory: peak RSS of the server process, and of the training children, sampled every 0.25 s.

    python bench/class_load.py                                # 30 students, 60 s, think 1-3 s, 2 runs
    python bench/class_load.py --students 30 --think 0,0      # no thinking: every answer is followed by a click
    git archive 0a46dba | (mkdir -p /tmp/before && tar -x -C /tmp/before)
    python bench/class_load.py --before /tmp/before           # before | after, same machine, same command
Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import canvas_helpers as cv  # noqa: E402
import e2e_helpers as e2e  # noqa: E402
from live_bench import start, stop_runs  # noqa: E402
from load_test import MemorySampler, pct, start_training_runs  # noqa: E402

DETAILS_TIMEOUT_S = 30.0


def record_messages(page, url: str) -> dict:
    """The page-load and click BackMsgs the app's JS sends on the Latent map (bytes), from a real click."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    sent: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda p: sent.append(p if isinstance(p, bytes) else p.encode())))
    page.goto(url, wait_until="domcontentloaded")  # a fresh socket, whose first message is the page load
    cv.wait_canvas(page)
    i = cv.clearest_point(page)
    pt = cv.screen_of_point(page, i)
    page.mouse.click(pt["x"], pt["y"])
    page.wait_for_timeout(1500)
    e2e.wait_idle(page)
    load = click = None
    for raw in sent:
        m = BackMsg()
        m.ParseFromString(raw)
        if m.WhichOneof("type") != "rerun_script":
            continue
        load = load or raw
        if any('"select"' in w.json_trigger_value for w in m.rerun_script.widget_states.widgets):
            click = raw
    if load is None or click is None:
        raise RuntimeError("did not see the page load and the canvas click go to the server")
    return {"load": load, "click": click}


def click_message(template: bytes, row: int, nonce: int) -> bytes:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    m = BackMsg()
    m.ParseFromString(template)
    for w in m.rerun_script.widget_states.widgets:
        if '"select"' in w.json_trigger_value:
            w.json_trigger_value = json.dumps([{"event": "select", "value": {"row": row, "nonce": nonce}}])
    del m.rerun_script.cached_message_hashes[:]  # this client caches nothing: send every message whole
    return m.SerializeToString()


def load_message(template: bytes) -> bytes:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    m = BackMsg()
    m.ParseFromString(template)
    del m.rerun_script.cached_message_hashes[:]
    return m.SerializeToString()


class Student:
    def __init__(self, idx: int, base: str, msgs: dict, rows: int, think: tuple[float, float], errors: list[str]):
        self.idx, self.base, self.msgs, self.rows, self.think, self.errors = idx, base, msgs, rows, think, errors
        self.rng = random.Random(idx)
        self.latencies: list[float] = []
        self.open_s: float | None = None

    async def _until(self, ws, want_row: int | None, deadline: float) -> str | None:
        """Read until the script (or fragment) run finishes; the media URL of the 'x: test #row' image, if seen."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        url = None
        while True:
            raw = await asyncio.wait_for(ws.recv(), timeout=max(0.1, deadline - time.monotonic()))
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            kind = msg.WhichOneof("type")
            if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                el = msg.delta.new_element
                what = el.WhichOneof("type")
                if what == "exception":
                    self.errors.append(f"student {self.idx}: {el.exception.type}: {el.exception.message[:200]}")
                elif what == "imgs" and want_row is not None and url is None:
                    for im in el.imgs.imgs:
                        if im.caption.startswith(f"x: test #{want_row},"):
                            url = im.url
            elif kind == "script_finished":
                return url

    async def run(self, t_end: float) -> None:
        from websockets.asyncio.client import connect

        nonce = 1000 * self.idx
        try:
            async with connect(self.base.replace("http", "ws") + "/_stcore/stream", subprotocols=["streamlit"],
                               max_size=None, open_timeout=60) as ws:
                t0 = time.perf_counter()
                await ws.send(load_message(self.msgs["load"]))
                await self._until(ws, None, time.monotonic() + 120)
                self.open_s = time.perf_counter() - t0
                while time.monotonic() < t_end:
                    row, nonce = self.rng.randrange(self.rows), nonce + 1
                    t0 = time.perf_counter()
                    await ws.send(click_message(self.msgs["click"], row, nonce))
                    url = await self._until(ws, row, time.monotonic() + DETAILS_TIMEOUT_S)
                    if url is None:
                        self.errors.append(f"student {self.idx}: clicked row {row}, no details shown")
                        continue
                    if url.startswith("/"):  # the browser fetches the image before it is on screen
                        await asyncio.to_thread(lambda u=url: urllib.request.urlopen(self.base + u, timeout=30).read())
                    self.latencies.append(time.perf_counter() - t0)
                    await asyncio.sleep(self.rng.uniform(*self.think))
        except Exception as e:  # a closed socket, a timeout: an error of the class, not a crash of the bench
            self.errors.append(f"student {self.idx}: {type(e).__name__}: {e}")


async def class_session(base: str, msgs: dict, n: int, rows: int, duration: float, think, errors) -> list[Student]:
    students = [Student(i, base, msgs, rows, think, errors) for i in range(n)]
    t_end = time.monotonic() + duration
    await asyncio.gather(*(s.run(t_end) for s in students))
    return students


def measure(root: Path, args, port: int) -> dict:
    """One tree's class: its own server (README's start command of that tree), runs folder and teacher."""
    from playwright.sync_api import sync_playwright

    think = tuple(float(v) for v in args.think.split(","))
    runs = Path(tempfile.mkdtemp(prefix="vae-class-"))
    server, _ = start(root, runs, port, env={"VAE_MAX_JOBS": str(max(1, args.train_runs))})  # all runs train at once
    sampler = MemorySampler(server.proc.pid)
    sampler.start()
    errors: list[str] = []
    out: dict = {}
    try:
        with sync_playwright() as pw:
            browser = e2e.launch_browser(pw)
            teacher = e2e.new_page(browser, errors)
            e2e.open_app(teacher, server)
            start_training_runs(teacher, args.train_runs, args.train_epochs)
            msgs = record_messages(teacher, server.url)
            rows = teacher.evaluate("() => window.__vaeCanvas.n")
            rss_before = sampler.now_kb() / 1024
            spy = None
            if args.spy:  # a sampling profiler outside the server process (if installed: pip install py-spy)
                import subprocess

                spy = subprocess.Popen(["py-spy", "record", "-p", str(server.proc.pid), "-d", str(int(args.duration)),
                                        "-r", "50", "--format", "raw", "-o", args.spy], stdout=subprocess.DEVNULL)
            trend: list[int] = []  # server RSS every 10 s of the class: bounded memory is a plateau here
            with ThreadPoolExecutor(2) as pool:  # its own event loop: Playwright's sync API holds this thread's
                job = pool.submit(asyncio.run, class_session(server.url, msgs, args.students, rows, args.duration,
                                                             think, errors))
                while not job.done():
                    trend.append(round(sampler.now_kb() / 1024))
                    try:
                        job.result(timeout=10)
                    except TimeoutError:
                        pass
                students = job.result()
            if spy is not None:
                spy.wait(60)
            lat = [x for s in students for x in s.latencies]
            opens = [s.open_s for s in students if s.open_s is not None]
            out["sessions opened"] = f"{len(opens)} of {args.students}"
            if opens:
                out["open → first page p50 / max (s)"] = f"{statistics.median(opens):.2f} / {max(opens):.2f}"
            out["clicks answered"] = len(lat)
            if lat:
                out["click → details p50 / p95 / max (s)"] = f"{pct(lat, 0.5):.2f} / {pct(lat, 0.95):.2f} / {max(lat):.2f}"
            out["server RSS before / peak (MB)"] = f"{rss_before:.0f} / {sampler.peak_server_kb / 1024:.0f}"
            out["server RSS every 10 s (MB)"] = " ".join(map(str, trend))
            out["training children peak RSS (MB)"] = round(sampler.peak_children_kb / 1024)
            errors += [f"teacher: {e}" for e in e2e.streamlit_errors(teacher)]
            states = []
            for log in sorted(runs.glob("load-*.log.jsonl")):
                from vae.run import read_log

                events = read_log(log)
                ends = [e for e in events if e.get("event") == "end"]
                states.append(f"{log.name.split('.')[0]}: " + (ends[-1].get("status") if ends else
                              f"epoch {sum(e.get('event') == 'epoch' for e in events)}"))
            out["training runs at the end of the class"] = ", ".join(states)
            stop_runs(runs)
            browser.close()
    finally:
        sampler.stop_event.set()
        sampler.join()
        out["server alive"] = server.proc.poll() is None
        server.stop()
    out["errors"] = len(errors)
    for e in errors[:10]:
        print("ERROR", e)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of clicking (bounded)")
    ap.add_argument("--think", default="1,3", help="seconds between a student's clicks: uniform in LO,HI")
    ap.add_argument("--train-runs", type=int, default=2)
    ap.add_argument("--train-epochs", type=int, default=10_000, help="the runs train through the whole class; the "
                    "bench stops them at its end")
    ap.add_argument("--before", type=Path, help="an older tree to measure first, in the same command")
    ap.add_argument("--port", type=int, default=8650)
    ap.add_argument("--spy", help="also write a py-spy sample (collapsed stacks) of the server during the class here")
    args = ap.parse_args()
    if (why := e2e.browser_missing_reason()):
        print(f"cannot run: {why}")
        return 2
    trees = ([("before", args.before)] if args.before else []) + [("after", ROOT)]
    res = {label: measure(root, args, args.port + 10 * i) for i, (label, root) in enumerate(trees)}
    print(f"\n{args.students} students, {args.duration:.0f} s, think {args.think} s, {args.train_runs} runs training\n")
    print("| figure | " + " | ".join(res) + " |")
    print("|---|" + "---|" * len(res))
    for k in res[trees[-1][0]]:
        print(f"| {k} | " + " | ".join(str(r.get(k, "n/a")) for r in res.values()) + " |")
    import os

    print(f"\nload average at the end: {tuple(round(v, 2) for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
