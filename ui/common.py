"""Cached loaders, the current checkpoint and helpers shared by every page (images: ui/images.py; the sidebar:
ui/sidebar.py)."""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import streamlit as st

from vae.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from vae.config import DataConfig
from vae.data import DataSplit, config_from_info
from vae.data import load as load_data_split
from vae.errors import VaeError
from vae.runs import Row, RunStore, UnknownCheckpoint

ROOT = Path(__file__).resolve().parents[1]

def _leave_pages_v1_mode() -> None:
    """Route a fresh server's first deep link through app.py.

    Until some run has called st.navigation, Streamlit treats a `pages/` folder the old (v1) way and runs a
    deep-linked page file directly, without the router: no sidebar picker, no page config. This module is
    imported by every page, so on that first run we switch the flag off and rerun; the rerun goes through
    app.py and lands on the same page. Public API offers no switch for this (Streamlit 1.67).
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # pragma: no cover - a Streamlit without the v1 compatibility layer
        return
    if PagesManager.uses_pages_directory and get_script_run_ctx(suppress_warning=True) is not None:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_pages_v1_mode()

DEFAULT_DEMO = "digits-3-vae.safetensors"
STATE_KEY = "ckpt_id"  # the one value that crosses pages: the current checkpoint's ID (never a path)
SVG_POINTS = 3000  # small scatter plots are drawn as SVG, larger ones with WebGL
DEFAULT_ID = "demo/" + DEFAULT_DEMO.removesuffix(".safetensors")
# one colour per class label on every page, so a "3" is the same colour on the map, in Compare and in Train
LABEL_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                "#17becf")  # matplotlib's tab10
NO_LABEL_COLOR = "#9e9e9e"  # unlabeled points, and any category without a value


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|<>~$&])")
# GFM turns bare "http://x", "www.x" and "a@b.c" into links even when backslash-escaped: an invisible word joiner
# (U+2060) after the scheme's ":", between "www" and its dot, and before the "@" reads the same and leaves the
# autolink nothing to match
_AUTOLINK = re.compile(r"(?i)(?<=www)\.|[:@]")
_REFERENCES = {".": "&#8288;.", ":": ":&#8288;", "@": "&#8288;@"}  # 8288: an invisible word joiner


def md(text: object) -> str:
    """`text` as literal Markdown: every character Markdown or Streamlit would act on is backslash-escaped.

    That covers links and images (`[..](..)`, `![..](..)`), raw HTML, emphasis, headings, LaTeX (`$`), Streamlit's
    `:red[..]` and `:emoji:` directives, and bare URLs and e-mail addresses (`http://`, `www.`, `a@b.c` stop being
    links once `:`, the dot after `www` and `@` are escaped). Line breaks become spaces, so a string cannot start a block of its own.
    """
    escaped = _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
    return _AUTOLINK.sub(lambda m: _REFERENCES[m.group()], escaped)


def plain(text: object) -> str:
    """`text` for Plotly names, legends, hover templates and annotations.

    Plotly renders a subset of HTML there (`<a href>`, `<br>`, `<img>`-free but links and styles work) and expands
    `%{...}` in hover templates: both are neutralised with entities, which Plotly shows as the literal characters.
    """
    return html.escape(" ".join(str(text).split()), quote=True).replace("%", "&#37;")


def label_color(label: int) -> str:
    """The colour of integer class `label`; unlabeled (-1) points are grey."""
    return LABEL_COLORS[int(label) % len(LABEL_COLORS)] if int(label) >= 0 else NO_LABEL_COLOR


def demo_dir() -> Path:
    return Path(os.environ.get("VAE_DEMO_DIR", ROOT / "checkpoints" / "demos"))


def runs_dir() -> Path:
    """User runs; tests point this at a temp folder with VAE_RUNS_DIR."""
    return Path(os.environ.get("VAE_RUNS_DIR", ROOT / "checkpoints" / "runs"))


def store() -> RunStore:
    """The run store of the configured folders (cheap to build: it only holds the two paths)."""
    return RunStore(runs_dir(), demo_dir())


def is_demo(ckpt_id: str) -> bool:
    return RunStore.kind(ckpt_id) == "demo"


def figure_cache(fn):
    """Keep a built Plotly figure for the same arguments (hashed by value, arrays included).

    Building a figure validates every property in Python and was the largest repeat cost of a page switch
    (bench/page_profile.py). The cached figure is shared by every session: callers must not change it; build a
    new one (go.Figure(fig)) to add to it.
    """
    return st.cache_resource(max_entries=64, show_spinner=False)(fn)


def mtime(path: str | Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


@st.cache_resource(max_entries=8, show_spinner=False)
def _load_checkpoint(path: str, mtime_s: float) -> Checkpoint:  # mtime_s is hashed: a "_" name would not be
    return load_checkpoint(path)


def load_model(path: str | Path) -> Checkpoint:
    """Cached by path and modification time, so a rewritten checkpoint is reloaded."""
    return _load_checkpoint(str(path), mtime(path))


# No cache spinner on these two: a spinner is a transient element drawn from a timer thread, and the Train page's
# poller (a run_every fragment) calls them; a spinner racing a fragment's own deltas blanks the page. Pages show
# one spinner in their main script instead (current_checkpoint).
@st.cache_resource(max_entries=4, show_spinner=False)
def load_split_by_key(key: str) -> DataSplit:
    """The dataset split named by `split_key`; cached, so every page shares one copy of the tensors."""
    return load_data_split(DataConfig.from_dict(json.loads(key)))


def split_key(info: dict) -> str:
    """A hashable id of a checkpoint's dataset split (name, split rule, seed): the cache key for its data."""
    return json.dumps(config_from_info(info).to_dict(), sort_keys=True)


def load_split(ckpt: Checkpoint) -> DataSplit:
    """The checkpoint's own dataset and split (the same images it was tested on)."""
    return load_split_by_key(split_key(ckpt.data))


@st.cache_data(max_entries=16, show_spinner=False)
def _encode_test(path: str, mtime_s: float) -> dict[str, np.ndarray | None]:
    from vae.explore import encode_dataset

    ckpt = load_model(path)
    split = load_split(ckpt)
    mu, logvar = encode_dataset(ckpt.model, split.test.x)
    return {"mu": mu, "logvar": logvar, "y": split.test.y.numpy()}


def encode_test(path: str | Path) -> dict[str, np.ndarray | None]:
    """Posterior means, log-variances and labels of the test split: {'mu', 'logvar', 'y'}."""
    return _encode_test(str(path), mtime(path))


def checkpoint_rows() -> list[Row]:
    """Bundled demos, then user runs, then the runs of β sweeps: (id, path, metadata or None, error or None)."""
    return store().rows()


def label(ckpt_id: str) -> str:
    return RunStore.label(ckpt_id)


def current_id() -> str | None:
    """The chosen checkpoint's ID; defaults to the bundled VAE demo so a first visit shows something at once."""
    st_ = store()
    chosen = st.session_state.get(STATE_KEY)
    if chosen and st_.exists(chosen):
        return chosen
    if st_.exists(DEFAULT_ID):
        return DEFAULT_ID
    rows = [r for r in st_.rows() if r.meta is not None]
    return rows[0].id if rows else None


def current_path() -> Path | None:
    """The current checkpoint's file, resolved inside the store's folders."""
    ckpt_id = current_id()
    try:
        return store().resolve(ckpt_id) if ckpt_id else None
    except UnknownCheckpoint:  # deleted a moment ago
        return None


def set_current(ckpt_id: str) -> None:
    """Make `ckpt_id` the current checkpoint on every page; UnknownCheckpoint if it names no checkpoint."""
    store().resolve(ckpt_id)
    st.session_state[STATE_KEY] = ckpt_id


def resolve(ckpt_id: str) -> Path:
    """An ID (e.g. from a widget or a chart's customdata) to its file; UnknownCheckpoint otherwise."""
    return store().resolve(ckpt_id)


class Opened(NamedTuple):
    """A checkpoint as pages hold it: its run-store ID, its file and that file's mtime (what caches key on)."""

    id: str
    path: Path
    mtime: float


def open_id(ckpt_id: str) -> Opened:
    """The one place a page turns a checkpoint ID into a file: UnknownCheckpoint when it names none."""
    path = resolve(ckpt_id)
    return Opened(ckpt_id, path, mtime(path))


def opened(ckpt_id: str | None) -> Opened | None:
    """open_id, or None when the ID names no checkpoint (not written yet, deleted, malformed) or is None."""
    try:
        return open_id(ckpt_id) if ckpt_id else None
    except UnknownCheckpoint:
        return None


def current_checkpoint() -> tuple[Opened, Checkpoint]:
    """The current checkpoint, loaded with its dataset; shows a message and stops the page when there is none, it is
    broken, or its dataset no longer loads (an uploaded .npz deleted since, MNIST offline)."""
    ref = opened(current_id())
    if ref is None:
        st.info("No checkpoint yet. Train one on the **Train** page, or upload one on **Checkpoints**.")
        st.stop()
    path = ref.path
    try:
        ckpt = load_model(path)
    except CheckpointError as e:
        st.error(f"Cannot open this checkpoint: {md(e)}")
        st.stop()
    with st.spinner("Loading the dataset and encoding the test set…"):  # drawn only if it takes over 0.5 s
        current_data(ckpt)  # cached; every page that shows a checkpoint encodes its test set
        encode_test(path)
    return ref, ckpt


def current_data(ckpt: Checkpoint) -> DataSplit:
    try:
        return load_split(ckpt)
    except (VaeError, ValueError, TypeError) as e:  # a stored dataset id that no longer resolves
        st.error(f"The dataset of this checkpoint cannot be loaded: {md(e)}")
        st.stop()
