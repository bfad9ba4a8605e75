"""Limits a server operator may change: each has a default and an environment variable, read when used.

Read at call time (not import time), so a test or a server started with a different environment sees its own.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

MB = 1024**2


@dataclass(frozen=True)
class Limit:
    env: str
    default: int
    unit: str  # what the number counts, for messages: "MB", "uploads", "values", ...
    scale: int = 1  # the env var's unit in bytes (MB) or 1

    def value(self) -> int:
        """The configured limit (in bytes when `scale` is MB, where a fraction such as 0.5 is allowed); a malformed or
        non-finite setting keeps the default, a negative one is 0."""
        raw = os.environ.get(self.env, "").strip()
        try:
            n = float(raw) if raw else float(self.default)
        except ValueError:
            n = float(self.default)
        if not math.isfinite(n):
            n = float(self.default)
        return int(max(0.0, n) * self.scale)

    def shown(self) -> str:
        n = self.value() / self.scale
        return f"{int(n) if n == int(n) else round(n, 3)} {self.unit}"


# datasets: decoded float32 images of one dataset in memory (a 400 KB file may declare gigabytes)
DATASET_MEMORY = Limit("VAE_MAX_DATASET_MB", 2048, "MB", MB)
NPZ_FILE = Limit("VAE_MAX_NPZ_FILE_MB", 1024, "MB", MB)
# uploads and the runs folder
UPLOAD_SIZE = Limit("VAE_MAX_UPLOAD_MB", 64, "MB", MB)  # one checkpoint or dataset upload
UPLOADS = Limit("VAE_MAX_UPLOADS", 200, "uploads")  # checkpoints and datasets uploaded, in all
RUNS_FOLDER = Limit("VAE_MAX_RUNS_MB", 4096, "MB", MB)  # everything under the runs folder
# queue
SWEEP_VALUES = Limit("VAE_MAX_SWEEP", 12, "β values")
SWEEP_TRIALS = Limit("VAE_MAX_SWEEP_TRIALS", 60, "trials")  # β × seed grids of `python -m vae sweep`
QUEUE_PER_SESSION = Limit("VAE_MAX_QUEUED_PER_SESSION", 8, "queued runs")
# the Compare page's IWAE NLL (vae/iwae_budget.py): k fitted to this many seconds per checkpoint, at most IWAE_MAX_K
IWAE_SECONDS = Limit("VAE_IWAE_SECONDS", 5, "s per checkpoint")
IWAE_MAX_K = Limit("VAE_IWAE_MAX_K", 50, "importance samples")
# imported ONNX models (vae/onnx_safe.py): checked on the file's bytes before any tensor is built
ONNX_FILE = Limit("VAE_MAX_ONNX_MB", 64, "MB", MB)  # one encoder or decoder file
ONNX_NODES = Limit("VAE_MAX_ONNX_NODES", 2000, "nodes")  # a small VAE has tens; 100,000 is an attack
ONNX_WEIGHTS = Limit("VAE_MAX_ONNX_WEIGHTS", 16_000_000, "weights")  # numbers declared by all tensors of one file
# a result of the shape arithmetic evaluated on import (Concat, Gather, Mod, ... of constants: vae/onnx_fold.py),
# counted from its inputs' shapes before it is computed, and one attribute's list (a Constant's value_ints): shapes
# are short, while a 4 MB file can ask for gigabytes (Concat of one 1M-float weight 4,000 times)
ONNX_FOLDED = Limit("VAE_MAX_ONNX_FOLDED", 4096, "numbers")
ONNX_OPSET_MIN = Limit("VAE_ONNX_MIN_OPSET", 11, "(opset)")  # the op semantics vae/onnx_graph.py reads
ONNX_OPSET_MAX = Limit("VAE_ONNX_MAX_OPSET", 25, "(opset)")
# an op program's activations, in numbers per image: a batch of 2,048 images of this size is 512 MB of float32
PROGRAM_ACTIVATION = Limit("VAE_MAX_ACTIVATION", 65_536, "numbers per image")


def single_user() -> bool:
    """VAE_SINGLE_USER=1: one trusted user (a teacher's laptop); anyone may stop any run."""
    return os.environ.get("VAE_SINGLE_USER", "").strip().lower() in ("1", "true", "yes", "on")
# GIF export (vae/gif.py): frames per GIF, pixels per frame side, and frames × width × height in all
GIF_FRAMES = Limit("VAE_MAX_GIF_FRAMES", 120, "frames")
GIF_SIDE = Limit("VAE_MAX_GIF_SIDE", 1024, "px per frame side")
GIF_PIXELS = Limit("VAE_MAX_GIF_MPIXELS", 40, "million pixels (frames × width × height)", 1_000_000)
# training replay (vae/replay.py): the recorded posterior means in one checkpoint
REPLAY_SIZE = Limit("VAE_MAX_REPLAY_MB", 4, "MB", MB)
