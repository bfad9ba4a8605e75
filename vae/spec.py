"""The job spec: the JSON file a background run trains from (`python -m vae train --spec FILE`).

Written by the job manager (vae/jobs.py) and read by the CLI (vae/__main__.py); both import it from here, so the
CLI, the jobs and the warm worker form a line instead of a circle. It holds the configs' `to_dict()` and the
checkpoint path, so a new config field needs no change here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from vae.checkpoint import SUFFIX
from vae.config import ConfigError, DataConfig, ModelConfig, TrainConfig

SPEC_MAX_BYTES = 1024**2  # a job spec is a few hundred bytes; anything bigger is not ours


def job_spec(model: ModelConfig, train: TrainConfig, data: DataConfig, checkpoint: Path) -> dict:
    """The configs a background run trains with, as JSON: the same `to_dict()` that checkpoints store.

    One intra-op thread per job unless set: on 2 cores, 2 threads on these small matmuls were slower, not faster.
    """
    return {"model": model.to_dict(), "train": train.replace(threads=train.threads or 1).to_dict(),
            "data": data.to_dict(), "checkpoint": str(checkpoint)}


def read_job_spec(path: str | os.PathLike) -> tuple[ModelConfig, TrainConfig, DataConfig, Path]:
    """(model, train, data, checkpoint path) from a job spec file; ConfigError('spec', ...) for anything else."""
    try:
        with open(path, "rb") as f:
            raw = f.read(SPEC_MAX_BYTES + 1)
    except OSError as e:
        raise ConfigError("spec", f"cannot read {path}: {e.strerror or e}") from e
    if len(raw) > SPEC_MAX_BYTES:
        raise ConfigError("spec", f"{Path(path).name} is larger than {SPEC_MAX_BYTES} bytes")
    try:
        spec = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ConfigError("spec", f"{Path(path).name} is not JSON ({e})") from e
    if not isinstance(spec, dict) or not all(isinstance(spec.get(k), dict) for k in ("model", "train", "data")):
        raise ConfigError("spec", "expected an object with 'model', 'train' and 'data' objects and a 'checkpoint'")
    out = spec.get("checkpoint")
    if not isinstance(out, str) or not out.endswith(SUFFIX):
        raise ConfigError("spec", f"'checkpoint' must be a path ending in {SUFFIX}")
    try:
        configs = (ModelConfig.from_dict(spec["model"]), TrainConfig.from_dict(spec["train"]),
                   DataConfig.from_dict(spec["data"]))
    except TypeError as e:
        raise ConfigError("spec", str(e)) from e
    return (*configs, Path(out))
