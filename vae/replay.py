"""Training replay: the posterior means of a fixed, seeded test subset after every epoch, kept in the checkpoint,
so a 2-D latent space can be watched organising itself (as GAN Lab and WizMap play training back).

Stored as checkpoint tensors (vae/checkpoint.py REPLAY_PREFIX): 'mu' (E, N, D) float16, 'epochs' (E,) and 'rows'
(N,) float32 (test rows, exact below 2**24). Epochs are fractional for the snapshots a long epoch takes on the way
(vae/run.py, every WITHIN_EPOCH_S seconds). Bounded by settings.REPLAY_SIZE: past it, only the epochs on a
grid every 2, 4, ... epochs from the first stay, with the latest (`thin`), so a long run keeps an evenly thinned replay.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from vae import settings
from vae.errors import VaeError
from vae.explore import encode_dataset

MAX_POINTS = 2_000
SEED = 0  # the subset: the same test rows for every run of a dataset split
WITHIN_EPOCH_S = 20.0  # a long epoch is also recorded this often on its way (at a fractional epoch)
WITHIN_EPOCH_ENV = "VAE_REPLAY_WITHIN_EPOCH"  # "off": whole epochs only (scripts/make_demos.sh)
BYTES_PER_VALUE = 2  # float16


class ReplayError(VaeError, ValueError):
    """A checkpoint's replay tensors do not fit together; the message says how."""


@dataclass(frozen=True)
class Replay:
    mu: np.ndarray  # (E, N, D) posterior means after each recorded epoch
    epochs: np.ndarray  # (E,) float, ascending; whole at epoch ends
    rows: np.ndarray  # (N,) int, test rows

    def summary(self) -> dict:
        return {"epochs": [int(e) if e == int(e) else round(float(e), 3) for e in self.epochs],
                "points": int(self.rows.shape[0]),
                "dims": int(self.mu.shape[2]), "bytes": int(self.mu.size * BYTES_PER_VALUE)}


def within_epoch_s() -> float | None:
    """How often a long epoch is also recorded on its way: WITHIN_EPOCH_S, or never when VAE_REPLAY_WITHIN_EPOCH=off
    (the bundled demos, whose replay must not depend on how fast the machine that built them was)."""
    return None if os.environ.get(WITHIN_EPOCH_ENV, "").strip().lower() == "off" else WITHIN_EPOCH_S


def subset(n_test: int, points: int = MAX_POINTS, seed: int = SEED) -> np.ndarray:
    """min(points, n_test) test rows, drawn once with a seeded generator, sorted."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_test, min(points, n_test), replace=False))


def thin(epochs: list[float], per_epoch_bytes: int, budget: int, stride: int = 1) -> tuple[list[float], int]:
    """The recorded epochs to keep within `budget` bytes, and the grid's stride: all of them while they fit on the
    stride-1 grid; else those on a grid from the first epoch, every `stride` = 2, 4, ... epochs (the finest that
    fits, never finer than the stride passed in; snapshots within an epoch go first), and the latest.

    A grid kept from one record to the next, not "every other one dropped" at each: a replay thinned as it is
    recorded stays evenly spread (halving the list at each new epoch left long runs dense at the end and sparse at
    the start, where the codes move most)."""
    if stride == 1 and len(epochs) * per_epoch_bytes <= budget:
        return list(epochs), 1
    first, latest = epochs[0], epochs[-1]
    while True:
        keep = [e for e in epochs[:-1] if (e - first) % stride == 0] + [latest]
        if len(keep) <= 2 or len(keep) * per_epoch_bytes <= budget:
            return keep, stride
        stride *= 2


class Recorder:
    """Encodes the subset after each epoch; `tensors()` is what save_checkpoint(replay=...) stores."""

    def __init__(self, test_x: torch.Tensor, previous: dict[str, torch.Tensor] | None = None):
        self.rows = subset(test_x.shape[0])
        self.x = test_x[torch.as_tensor(self.rows, device=test_x.device)]
        self.frames: dict[float, np.ndarray] = {}
        self.stride = 1  # thin's grid, once the replay outgrew its budget (a resumed run finds it again)
        old = read(previous, test_x.shape[0]) if previous else None
        if old is not None and np.array_equal(old.rows, self.rows):  # a resumed run continues its replay
            self.frames = {float(e): m for e, m in zip(old.epochs, old.mu)}

    def record(self, model: torch.nn.Module, epoch: float) -> None:
        was_training = model.training
        mu, _ = encode_dataset(model, self.x)  # (N, D), in eval mode
        model.train(was_training)
        self.frames[float(epoch)] = mu.astype(np.float16)
        per_epoch = mu.size * BYTES_PER_VALUE
        keep, self.stride = thin(sorted(self.frames), per_epoch, settings.REPLAY_SIZE.value(), self.stride)
        self.frames = {e: self.frames[e] for e in keep}

    def summary(self) -> dict:
        """What `python -m vae info` shows (checkpoint metadata 'replay')."""
        return read(self.tensors()).summary()

    def tensors(self) -> dict[str, torch.Tensor]:
        epochs = sorted(self.frames)
        return {"mu": torch.from_numpy(np.stack([self.frames[e] for e in epochs])),
                "epochs": torch.tensor(epochs, dtype=torch.float64),  # fractions of an epoch stay exact
                "rows": torch.from_numpy(self.rows.astype(np.float32))}


def read(tensors: dict[str, torch.Tensor] | None, n_test: int | None = None) -> Replay | None:
    """The replay in a checkpoint's tensors (Checkpoint.replay), None when it has none; ReplayError when its
    parts disagree (a hostile or damaged file)."""
    if not tensors:
        return None
    if set(tensors) != {"mu", "epochs", "rows"}:
        raise ReplayError(f"replay tensors are {sorted(tensors)}, expected epochs, mu, rows")
    mu = tensors["mu"].to(torch.float32).numpy()
    epochs, rows = (tensors[k].to(torch.float64).numpy() for k in ("epochs", "rows"))
    if mu.ndim != 3 or epochs.shape != (mu.shape[0],) or rows.shape != (mu.shape[1],) or mu.shape[1] > MAX_POINTS:
        raise ReplayError(f"replay shapes do not fit together (mu {mu.shape}, epochs {epochs.shape}, rows {rows.shape})")
    if not (np.isfinite(mu).all() and np.isfinite(epochs).all() and np.isfinite(rows).all()):
        raise ReplayError("replay holds NaN or infinite values")
    if (epochs < 0).any() or (np.diff(epochs) <= 0).any() or (rows != np.round(rows)).any():
        raise ReplayError("replay epochs must be ascending and not negative, rows whole")
    if rows.size and (rows.min() < 0 or (n_test is not None and rows.max() >= n_test)):
        raise ReplayError(f"replay rows are outside the test split ({n_test} rows)")
    return Replay(mu=mu, epochs=epochs.astype(np.float64), rows=rows.astype(int))


# --- the replay as GIF frames (vae/gif.py encodes them) ------------------------------------------------------

# white, black (text), grey (no label), then the ten label colours of Matplotlib's tab10
PALETTE = [(255, 255, 255), (0, 0, 0), (150, 150, 150), (31, 119, 180), (255, 127, 14), (44, 160, 44),
           (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34),
           (23, 190, 207)]
WHITE, BLACK, GREY, FIRST_LABEL = 0, 1, 2, 3
MARGIN, DOT = 16, 1  # px around the plot (the epoch is written in the top one); a dot is (2·DOT + 1)² px


def colour_index(y: np.ndarray) -> np.ndarray:
    """Palette index per point: its label's colour (labels wrap after ten), grey when unlabelled (−1)."""
    y = np.asarray(y, dtype=np.int64)
    return np.where(y < 0, GREY, FIRST_LABEL + np.mod(y, 10)).astype(np.uint8)


def positions(rep: Replay, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Means at `frames` evenly spaced moments from the first recorded epoch to the last, moving linearly between
    recorded epochs: (mu (F, N, D), epoch (F,) fractional)."""
    t = np.linspace(0.0, len(rep.epochs) - 1.0, frames)  # in recorded-epoch index units
    lo = np.minimum(np.floor(t).astype(int), len(rep.epochs) - 2)
    w = (t - lo)[:, None, None]
    mu = (1 - w) * rep.mu[lo] + w * rep.mu[lo + 1]
    return mu, (1 - w[:, 0, 0]) * rep.epochs[lo] + w[:, 0, 0] * rep.epochs[lo + 1]


def pixel(xy: np.ndarray, lo: np.ndarray, hi: np.ndarray, side: int) -> np.ndarray:
    """Integer pixel (column, row) of points xy (..., 2) on a side×side frame; y grows upwards."""
    f = (np.asarray(xy, dtype=np.float64) - lo) / np.maximum(hi - lo, 1e-12)
    col = MARGIN + f[..., 0] * (side - 1 - 2 * MARGIN)
    row = side - 1 - MARGIN - f[..., 1] * (side - 1 - 2 * MARGIN)
    return np.stack([np.round(col), np.round(row)], -1).astype(int)


def frames(rep: Replay, labels, n: int, *, dims=(0, 1), side: int = 400) -> list[np.ndarray]:
    """n palette-index frames (side, side) of the chosen two dims' means, coloured by label, with the epoch
    written at the top left; the axes hold still (one scale for both), fitted to every recorded epoch."""
    from PIL import Image, ImageDraw

    if rep.mu.shape[0] < 2:
        raise ValueError("a replay GIF needs at least two recorded epochs")
    mu, epoch = positions(rep, n)
    xy = mu[..., list(dims)]  # (F, N, 2)
    lo, hi = xy.reshape(-1, 2).min(0), xy.reshape(-1, 2).max(0)
    half = (hi - lo).max() / 2  # one scale on both axes, so the clusters keep their shape
    lo, hi = (lo + hi) / 2 - half, (lo + hi) / 2 + half
    px = pixel(xy, lo, hi, side)
    colour = colour_index(labels)
    out = []
    for k in range(n):
        a = np.full((side, side), WHITE, np.uint8)
        for (c, r), col in zip(px[k], colour):
            a[max(r - DOT, 0) : r + DOT + 1, max(c - DOT, 0) : c + DOT + 1] = col
        im = Image.fromarray(a, "P")
        ImageDraw.Draw(im).text((4, 2), f"epoch {epoch[k]:.1f}", fill=BLACK)
        out.append(np.asarray(im))
    return out
