"""An IWAE NLL (Burda et al., 2016) within a time budget, computed once per checkpoint and kept by the run store.

k, the number of importance samples, is the largest that fits `settings.IWAE_SECONDS` per checkpoint at a cost per
sample measured on this machine (so a conv model on 2,560 images gets fewer samples than an MLP on 359), never more
than `settings.IWAE_MAX_K`. The figure is kept in a side file named by the checkpoint's content hash, the test split
and the seed, so every visitor and every later visit reads it instead of computing it again; it always says its k.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from vae import settings
from vae.checkpoint import atomic_write_bytes
from vae.metrics import iwae_nll
from vae.runs import RunStore

CACHE_KIND = "iwae"
PROBE_K, PROBE_N = 8, 128  # the cost probe: 8 samples for each of the first 128 images
MAX_SIDE_BYTES = 4096  # a kept figure is ~150 bytes; anything larger is not ours
_LOCKS: dict[str, threading.Lock] = {}  # one per side file: sessions of this server compute a figure once
_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class IwaeFigure:
    nll: float  # -log p(x) upper bound, mean nats per image
    k: int  # importance samples per image
    n: int  # test images
    seconds: float  # what computing it took

    def shown(self) -> str:
        return f"{self.nll:.2f} (k={self.k})"


def choose_k(cost_s: float, n_images: int, budget_s: float, k_max: int) -> int:
    """The largest k in 1..k_max whose estimated time k · n_images · cost_s fits in budget_s (at least 1)."""
    if not (math.isfinite(cost_s) and cost_s > 0) or n_images < 1 or k_max < 1:
        raise ValueError(f"need cost > 0, n_images >= 1 and k_max >= 1, got {cost_s}, {n_images}, {k_max}")
    fits = math.floor(budget_s / (cost_s * n_images) * (1 + 1e-9))  # 1e-9: k · n · cost == budget still fits
    return max(1, min(k_max, fits))


@torch.no_grad()
def sample_cost(model, x: torch.Tensor, k: int, *, seed: int = 0) -> float:
    """Seconds per importance sample per image of an IWAE pass with k samples on the first PROBE_N images."""
    probe = x[:PROBE_N]
    t0 = time.perf_counter()
    iwae_nll(model, probe, k=k, seed=seed)
    return max(time.perf_counter() - t0, 1e-9) / (k * len(probe))


def fit_k(model, x: torch.Tensor, budget_s: float, k_max: int, *, seed: int = 0) -> int:
    """k for `x` within budget_s, from a probe at PROBE_K and, if that suggests another k, one more probe there.

    The cost of a sample falls as k grows (larger decoder batches), so it is measured at the k that is used;
    the probes' own time counts against the budget.
    """
    t0 = time.perf_counter()
    k = choose_k(sample_cost(model, x, PROBE_K, seed=seed), len(x), budget_s, k_max)
    if k != PROBE_K:
        k = choose_k(sample_cost(model, x, k, seed=seed), len(x), budget_s - (time.perf_counter() - t0), k_max)
    return k


@functools.lru_cache(maxsize=256)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def content_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a checkpoint file, hashed once per version of the file (path, size and modification time)."""
    st = os.stat(path)
    return _digest(str(path), st.st_mtime_ns, st.st_size)


def _side_file(store: RunStore, checkpoint: str | os.PathLike, split: str, seed: int) -> Path:
    key = hashlib.sha256(f"{content_hash(checkpoint)}|{split}|{int(seed)}".encode()).hexdigest()
    return store.cache_path(CACHE_KIND, key)


def read_kept(store: RunStore, checkpoint: str | os.PathLike, split: str, seed: int) -> IwaeFigure | None:
    """The figure kept for this checkpoint's content, test split and seed; None if there is none (or it is not ours)."""
    try:
        with open(_side_file(store, checkpoint, split, seed), "rb") as f:
            text = f.read(MAX_SIDE_BYTES + 1)
        if len(text) > MAX_SIDE_BYTES:
            return None
        raw = json.loads(text)
        fig = IwaeFigure(float(raw["nll"]), int(raw["k"]), int(raw["n"]), float(raw["seconds"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return fig if math.isfinite(fig.nll) and fig.k >= 1 and fig.n >= 1 else None


def compute(store: RunStore, checkpoint: str | os.PathLike, model, x: torch.Tensor, split: str, *, seed: int = 0,
            cost_s: float | None = None, on_batch: Callable[[int, int], None] | None = None) -> IwaeFigure | None:
    """The IWAE NLL of `model` on `x` with k fitted to the budget, kept for later; None for a model without a prior.

    `cost_s` (seconds per sample per image) is measured here (fit_k) unless given; `on_batch(done, total)` reports
    progress.
    """
    if not model.generative:
        return None
    side = _side_file(store, checkpoint, split, seed)
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(str(side), threading.Lock())
    with lock:  # a class opening the same pair at once: one session computes, the others wait and read it
        kept = read_kept(store, checkpoint, split, seed)
        if kept is not None:
            return kept
        budget, k_max = settings.IWAE_SECONDS.value(), max(1, settings.IWAE_MAX_K.value())
        k = fit_k(model, x, budget, k_max, seed=seed) if cost_s is None else choose_k(cost_s, len(x), budget, k_max)
        t0 = time.perf_counter()
        nll = iwae_nll(model, x, k=k, seed=seed, on_batch=on_batch)
        fig = IwaeFigure(float(nll), k, int(len(x)), round(time.perf_counter() - t0, 3))
        if math.isfinite(fig.nll):
            try:
                atomic_write_bytes(side, json.dumps(asdict(fig)).encode())
            except OSError:  # a full or read-only runs folder: the figure is shown, and computed again next time
                pass
    return fig
