"""Training replay in the browser: the test subset's means after each recorded epoch (vae/replay.py records them in
the checkpoint), sent once to the page's player (ui/components/replay.py), which moves the points between epochs
with an epoch scrubber and a play button and sends nothing back per frame.

Used by the Train page's poller (a live run's replay grows as its checkpoint is rewritten) and the Latent map's
Training replay tab. Session key: `<key>_failed`, the browser's reason when the player could not start.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from ui import payload as P
from ui.colour import ColourBy
from ui.common import load_model, load_split, mtime
from ui.components import replay as RC
from vae import explore, wire
from vae.errors import VaeError
from vae.replay import ReplayError, read

MAX_BROWSER_BYTES = 2 * 1024**2  # float16 positions sent to the page; beyond it the recorded epochs are thinned
BYTES_PER_POSITION = 2 * 2  # x and y in float16
PLANES = ("dims", "pca")


def browser_epochs(n_epochs: int, n_points: int, budget: int = MAX_BROWSER_BYTES) -> np.ndarray:
    """Indices of the recorded epochs the page gets: all of them when they fit in `budget`, else evenly spaced ones,
    the first and the last always among them."""
    fit = max(2, budget // max(1, n_points * BYTES_PER_POSITION))
    if n_epochs <= fit:
        return np.arange(n_epochs)
    return np.unique(np.round(np.linspace(0, n_epochs - 1, fit)).astype(int))


def replay_plane(mu_last: np.ndarray, method: str, dims: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(origin, basis, axis names) of the plane the replay is drawn on: two latent dims (by default the two the last
    recorded epoch spreads most), or the last epoch's two principal axes."""
    d = mu_last.shape[1]
    if method == "pca" and d > 2:
        origin, basis = explore.latent_plane(mu_last, "pca")
        return origin, basis, ["PC1", "PC2"]
    if dims is None:
        dims = tuple(int(i) for i in np.argsort(-mu_last.var(0), kind="stable")[:2]) if d > 1 else (0, 0)
        dims = tuple(sorted(dims)) if d > 1 else dims
    origin, basis = explore.latent_plane(mu_last, "dims", dims=dims)
    return origin, basis, [f"z{dims[0] + 1}", f"z{dims[1] + 1}" if d > 1 else "label (jittered)"]


def positions(mu: np.ndarray, labels: np.ndarray, origin: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """(E, N, 2) float32 plane coordinates of every recorded epoch; a 1-D latent spreads the labels vertically."""
    xy = np.einsum("end,kd->enk", mu - origin, basis)  # (E, N, k)
    if xy.shape[2] == 1:
        jitter = labels + np.random.default_rng(0).uniform(-0.3, 0.3, len(labels))
        xy = np.concatenate([xy, np.broadcast_to(jitter[None, :, None], xy.shape)], axis=2)
    return xy.astype(np.float32)


@st.cache_resource(max_entries=8, show_spinner=False)
def _frames(path: str, mt: float, method: str, dims: tuple[int, int] | None) -> dict | None:
    """The replay as one part for the page, cached per checkpoint version and plane; None when the checkpoint has
    no (usable) replay."""
    try:
        ckpt = load_model(path)
        test = load_split(ckpt).test
        rep = read(ckpt.replay, len(test.y))
    except (ReplayError, VaeError, ValueError, OSError):
        return None
    if rep is None or not len(rep.epochs):
        return None
    keep = browser_epochs(len(rep.epochs), len(rep.rows))
    labels = test.y.numpy()[rep.rows]
    origin, basis, axes = replay_plane(rep.mu[-1], method, dims)
    xy = positions(rep.mu[keep], labels, origin, basis)  # (E', N, 2)
    lo, hi = xy.reshape(-1, 2).min(0), xy.reshape(-1, 2).max(0)
    pad = 0.05 * (hi - lo) + 1e-3
    f_lo, f_hi = xy.min(1), xy.max(1)  # (E', 2): each epoch's own extent, for "fit each epoch"
    f_pad = 0.05 * (f_hi - f_lo) + 1e-3
    colour = ColourBy.labels(test.y.numpy(), tuple(ckpt.data.get("classes") or ()))
    part = P.make_part({
        "n": int(len(rep.rows)), "epochs": [float(e) for e in rep.epochs[keep]],
        "xy": wire.encode_tensor(xy, "f16"),  # (E', N, 2); VaeOps.f32 reads it
        "codes": colour.for_rows(rep.rows).astype("u1" if len(colour.names) <= 256 else "<u2").tobytes(),
        "names": list(colour.names), "palette": list(colour.palette), "title": colour.title,
        "bounds": [float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])],
        "frame_bounds": np.column_stack([f_lo[:, 0] - f_pad[:, 0], f_hi[:, 0] + f_pad[:, 0], f_lo[:, 1] - f_pad[:, 1],
                                         f_hi[:, 1] + f_pad[:, 1]]).round(6).tolist(),
        "axes": axes})
    return {"part": part, "recorded": len(rep.epochs), "shown": len(keep), "points": len(rep.rows),
            "last": float(rep.epochs[-1])}


def frames(path: str, method: str = "dims", dims: tuple[int, int] | None = None, mt: float | None = None) -> dict | None:
    """The replay for the page, cached per checkpoint version `mt` (default: the file's mtime now)."""
    return _frames(str(path), mtime(path) if mt is None else mt, method if method in PLANES else "dims",
                   None if dims is None else (int(dims[0]), int(dims[1])))


def _failed(key: str) -> None:
    ev = (st.session_state.get(key) or {}).get("failed")
    st.session_state[f"{key}_failed"] = str((ev or {}).get("message", "unknown error"))[:300]


def _need_static(key: str) -> None:
    ev = (st.session_state.get(key) or {}).get("need_static")
    P.forget((ev if isinstance(ev, dict) else {}).get("keys"))


def replay_ui(path, *, key: str, method: str = "dims", dims: tuple[int, int] | None = None, start: str = "last",
              empty: str = "This run has no training replay: it was trained before runs recorded one.",
              mt: float | None = None) -> bool:
    """Exactly one element (the player, or a caption saying why there is none), so the Train page's poller keeps
    its layout. Returns whether the player is shown."""
    got = frames(path, method, dims, mt) if path else None
    if got is None:
        st.caption(empty)
        return False
    if not RC.available() or st.session_state.get(f"{key}_failed"):
        st.caption("The replay player cannot run in this page ("
                   + str(st.session_state.get(f"{key}_failed") or "no components v2") + "); the Latent map's Export tab "
                   "has the replay as a GIF.")
        return False
    thinned = "" if got["shown"] == got["recorded"] else f", {got['shown']} of them sent to this page"
    title = (f"Training replay: the posterior means μ of {got['points']:,} test images after each of "
             f"{got['recorded']} recorded epochs{thinned}. Drag the epoch slider or press Play: it runs in your "
             "browser. “Fixed axes” keeps one scale for every epoch; off, the view follows the codes.")
    data = {"frames": got["part"], "frames_key": got["part"].key, "title": title, "start": start}
    RC.player(P.payload(data), key=key, on_failed=lambda: _failed(key), on_need_static=lambda: _need_static(key))
    return True


def train_slot(s) -> None:
    """The Train page poller's replay slot for the shown run (a vae.jobs.JobStatus, or None): one element."""
    from pathlib import Path

    if s is None or not Path(s.checkpoint).exists():
        st.caption("The training replay (the latent codes moving, epoch by epoch) fills in after the first epoch.")
        return
    replay_ui(s.checkpoint, key="train_replay", mt=_live_version(s.checkpoint) if s.active else None)


LIVE_EVERY_S = 5.0  # a live run's player gets the grown replay at most this often
K_LIVE = "train_replay_version"


def _live_version(path: str) -> float:
    """The checkpoint version a live run's player shows: the newest at most every LIVE_EVERY_S. Each epoch rewrites
    the checkpoint (several a second on small data), and each new version re-sends the whole replay to the page."""
    import time

    now, mt = time.monotonic(), mtime(path)
    last = st.session_state.get(K_LIVE)
    if isinstance(last, dict) and last.get("path") == path and now - last["at"] < LIVE_EVERY_S:
        return last["mt"]
    st.session_state[K_LIVE] = {"path": path, "mt": mt, "at": now}
    return mt


MAP_KEY = "map_replay"


def map_tab(path: str, view) -> None:
    """The Latent map's Training replay tab, on the map's plane (`view`: ui.map.state.View); its keys belong to the
    map's checkpoint (ui.map.state.scoped). It runs only while its tab is open (ui/map/tabs.py), so a map visit
    does not send the replay (a demo's is 287 KB)."""
    from ui.map.state import scoped

    key, _ = scoped(MAP_KEY, f"{MAP_KEY}_failed")
    replay_ui(path, key=key, method=view.method, dims=view.dims)
