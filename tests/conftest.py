"""Shared fixtures: tiny checkpoints trained in the test session, isolated run folders, clean Streamlit caches."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# jobs start as plain subprocesses in tests (and servers they start), unless a test asks for the warm worker:
# a worker per JobManager would import torch once more for every test that makes one
os.environ.setdefault("VAE_WARM_WORKER", "0")


def _train(out: Path, kind: str, latent_dim: int = 2, epochs: int = 1, beta: float = 1.0, data: str = "digits") -> Path:
    from vae.config import DataConfig, ModelConfig, TrainConfig
    from vae.run import run_training

    run_training(
        ModelConfig(kind=kind, latent_dim=latent_dim, hidden=(32,)),
        TrainConfig(epochs=epochs, batch_size=64, beta=beta, seed=0, threads=1),
        DataConfig(name=data),
        out,
        write_log=False,
    )
    return out


@pytest.fixture(scope="session")
def tiny_ckpts(tmp_path_factory) -> dict[str, Path]:
    """Tiny digits checkpoints: 'vae', 'ae', 'pca' (2-D) and 'vae8' (8-D); a couple of seconds in all."""
    d = tmp_path_factory.mktemp("ckpts")
    return {
        "vae": _train(d / "tiny-vae.safetensors", "vae", epochs=2),
        "ae": _train(d / "tiny-ae.safetensors", "ae"),
        "pca": _train(d / "tiny-pca.safetensors", "pca"),
        "vae8": _train(d / "tiny-vae8.safetensors", "vae", latent_dim=8),
    }


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    """Point the app's user-runs folder at a temp dir so tests never touch checkpoints/runs."""
    d = tmp_path / "runs"
    d.mkdir()
    monkeypatch.setenv("VAE_RUNS_DIR", str(d))
    return d


def as_run(path: Path, name: str | None = None) -> str:
    """Copy a checkpoint into the app's runs folder (VAE_RUNS_DIR) unless it is already in the store; its ID.

    Pages hold checkpoint IDs, never paths, so a test opens a file by putting it where the store can find it.
    """
    import os
    import shutil

    from vae.runs import RunStore, UnknownCheckpoint

    store = RunStore(os.environ.get("VAE_RUNS_DIR", ROOT / "checkpoints" / "runs"),
                     os.environ.get("VAE_DEMO_DIR", ROOT / "checkpoints" / "demos"))
    try:
        return store.checkpoint_id(path)
    except UnknownCheckpoint:
        dest = store.runs_root / ((name or Path(path).stem) + ".safetensors")
        if not dest.exists():
            store.runs_root.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, dest)
        return store.checkpoint_id(dest)


def plotly_array(v):
    """A Plotly JSON array as numpy: a list, or Plotly 6's typed-array form {'dtype', 'bdata' (base64)}."""
    import base64

    import numpy as np

    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


def open_map_tab(at, label: str):
    """Click a tab below the Latent map in AppTest: a rerun with that tab open (only the open tab's body runs)."""
    at.session_state["map_tab"] = label
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def read_as_shown(markdown: str) -> str:
    """Escaped Markdown (ui.common.md) as a visitor reads it: without the backslashes, and without the invisible word
    joiners that keep "x:" and "a@b" from becoming links."""
    return markdown.replace("\\", "").replace("&#8288;", "")


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    """Streamlit caches are global to the process; clear them so tests do not see each other's models."""
    yield
    if "streamlit" in sys.modules:
        import streamlit as st

        st.cache_data.clear()
        st.cache_resource.clear()
