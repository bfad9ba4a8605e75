"""β × seed sweeps: a grid of trials (vae/trial.py) on a backend, recorded in the sweep folder's `sweep.json`.

The folder is laid out as the app's own sweeps (vae/jobs.py `submit_sweep`): `<folder>/<trial>.safetensors` with its
`.log.jsonl` beside it and `sweep.json` on top, so a sweep folder copied into the runs folder's `sweeps/` opens on the
β page with IDs `sweep/<folder>/<trial>`. Running the same sweep again trains only the trials whose checkpoint is
not a finished one of the same settings (Locatello et al., 2019: a β needs several seeds before it says anything).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path

from vae import settings
from vae.checkpoint import SUFFIX, CheckpointError, atomic_write_bytes, read_metadata
from vae.config import ConfigError, DataConfig, ModelConfig, TrainConfig
from vae.runs import SEGMENT
from vae.spec import job_spec
from vae.trial import FINAL_KEYS, NOT_RUN, trial_record

SWEEP_FILE = "sweep.json"
LOCK_FILE = ".sweep.lock"
BACKENDS = ("local", "ray")
STATES = ("queued", "running", "done", "failed", "stopped")  # a trial's status in sweep.json
RAY_ONLY = ("cpus_per_trial", "gpus_per_trial", "ray_address")  # SweepPlan fields the local backend has no use for
MAX_PARALLEL = 64  # processes of one machine; a cluster's width is Ray's to decide
SHARED_TRAIN = ("epochs", "batch_size", "lr", "objective", "warmup_epochs", "capacity", "capacity_epochs",
                "log_every", "grad_clip")  # what every trial of a sweep shares; β and seed vary, threads are the host's


@dataclass(frozen=True)
class SweepPlan:
    """Everything a sweep needs, validated: the grid, the shared configs, where it goes and how it runs."""

    folder: Path
    betas: tuple[float, ...]
    seeds: tuple[int, ...]
    model: ModelConfig
    train: TrainConfig
    data: DataConfig
    backend: str = "local"
    max_parallel: int | None = 1  # None: as many as Ray's resources allow (ray only)
    cpus_per_trial: int = 1  # ray: CPUs reserved per trial (also its torch threads)
    gpus_per_trial: float = 0.0  # ray: a fraction packs several trials onto one GPU
    ray_address: str | None = None  # None: RAY_ADDRESS if set, else a local instance

    @property
    def name(self) -> str:
        return self.folder.name


def make_plan(folder, betas, seeds, model: ModelConfig, train: TrainConfig, data: DataConfig, **run) -> SweepPlan:
    """A SweepPlan, or ConfigError naming the first bad field: nothing is trained before every trial is valid."""
    folder = Path(folder)
    grid = grid_configs(betas, seeds, train)
    betas, seeds = tuple(sorted({b for b, _, _ in grid})), tuple(sorted({s for _, s, _ in grid}))
    if model.kind != "vae":
        raise ConfigError("model", f"a β sweep trains VAEs; {model.kind!r} has no β")
    if not re.fullmatch(SEGMENT, folder.name):
        raise ConfigError("out", f"the folder name {folder.name[:70]!r} must be 1-64 letters, digits, '.', '_' or "
                                 "'-' (it becomes the sweep's name on the β page)")
    if folder.exists() and not folder.is_dir():
        raise ConfigError("out", f"{folder} is a file, not a folder")
    plan = SweepPlan(folder.resolve(), betas, seeds, model, train, data, **run)
    if plan.backend not in BACKENDS:
        raise ConfigError("backend", f"must be one of {', '.join(BACKENDS)}")
    ignored = [k for k in RAY_ONLY if k in run] if plan.backend == "local" else []
    if ignored:  # given and silently dropped, a researcher would believe the grid ran on a GPU or a cluster
        flag = "--" + ignored[0].replace("_", "-")
        raise ConfigError(ignored[0], f"{flag} is a Ray setting and does nothing with --backend local; add "
                                      "--backend ray, or leave it out")
    if (plan.max_parallel is not None or plan.backend == "local") and not 1 <= (plan.max_parallel or 0) <= MAX_PARALLEL:
        raise ConfigError("max_parallel", f"must be between 1 and {MAX_PARALLEL}")
    if plan.cpus_per_trial < 1:
        raise ConfigError("cpus_per_trial", "must be at least 1")
    if not 0.0 <= plan.gpus_per_trial <= 8.0:
        raise ConfigError("gpus_per_trial", "must be between 0 and 8")
    _check_folder(plan)
    return plan


def grid_configs(betas, seeds, train: TrainConfig) -> list[tuple[float, int, TrainConfig]]:
    """(β, seed, config) per trial, β-major in the order given, every config validated and the grid within its quotas (ConfigError).

    Each trial's name (`trial_name`) must be its own: two βs that print alike (1 and 1.0000001, 0.3 and 0.1 + 0.2)
    would train into one file and leave two records of one name, and a value given twice would do the same.
    """
    betas, seeds = [float(b) for b in betas], [int(s) for s in seeds]
    if not betas or not seeds:
        raise ConfigError("betas" if not betas else "seeds", "list at least one value")
    for field, values in (("betas", betas), ("seeds", seeds)):
        twice = next((v for i, v in enumerate(values) if v in values[:i]), None)
        if twice is not None:
            raise ConfigError(field, f"{twice!r} is given twice; list each value once")
    named: dict[str, float] = {}
    for b in betas:
        other = named.setdefault(trial_name(b, 0), b)
        if other != b:
            raise ConfigError("betas", f"{other!r} and {b!r} would both name trial {trial_name(b, seeds[0])}; give βs "
                                       "that differ in their first 6 significant digits")
    if len(betas) > settings.SWEEP_VALUES.value():
        raise ConfigError("betas", f"{len(betas)} values; a sweep may have at most {settings.SWEEP_VALUES.shown()} "
                                   f"({settings.SWEEP_VALUES.env})")
    n, limit = len(betas) * len(seeds), settings.SWEEP_TRIALS.value()
    if n > limit:
        raise ConfigError("seeds", f"{len(betas)} β × {len(seeds)} seeds = {n} trials; a sweep may have at most "
                                   f"{limit} ({settings.SWEEP_TRIALS.env})")
    return [(b, s, train.replace(beta=b, seed=s)) for b in betas for s in seeds]  # each validates (β >= 0, ...)


def trial_name(beta: float, seed: int) -> str:
    return f"beta-{beta:g}-seed-{seed}"


def trials(plan: SweepPlan) -> list[dict]:
    """One JSON-able trial per (β, seed), in grid order; each carries the job spec that `run_trial` trains."""
    out = []
    for b in plan.betas:
        for s in plan.seeds:
            name = trial_name(b, s)
            ckpt = plan.folder / (name + SUFFIX)
            spec = job_spec(plan.model, plan.train.replace(beta=b, seed=s), plan.data, ckpt)
            out.append({"name": name, "beta": b, "seed": s, "checkpoint": f"sweep/{plan.name}/{name}",
                        "file": ckpt.name, "spec": spec})
    return out


# ---- the folder and sweep.json ------------------------------------------------------------------------------------


def read_sweep(folder: str | os.PathLike) -> dict | None:
    """A folder's sweep.json (app or CLI sweep), or None when it has none or it does not parse."""
    try:
        info = json.loads((Path(folder) / SWEEP_FILE).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _shared(model: dict, train: dict, data: dict) -> dict:
    return {"model": model, "train": {k: train.get(k) for k in SHARED_TRAIN}, "data": data}


def _check_folder(plan: SweepPlan) -> None:
    """A folder that already holds a sweep must hold this one: same model, data and shared training settings."""
    if not plan.folder.is_dir():
        return
    info = read_sweep(plan.folder)
    if info is None:
        if any(p for p in plan.folder.iterdir() if not p.name.startswith(".")):
            raise ConfigError("out", f"{plan.folder} has files but no {SWEEP_FILE}; give a new or empty folder")
        return
    old = _shared(info.get("model") or {}, info.get("train") or {}, info.get("data") or {})
    new = _shared(plan.model.to_dict(), plan.train.to_dict(), plan.data.to_dict())
    diff = [k for part in ("model", "train", "data") for k in sorted(set(old[part]) | set(new[part]))
            if old[part].get(k) != new[part].get(k)]
    if diff:
        raise ConfigError("out", f"{plan.folder.name} holds a sweep with other settings ({', '.join(diff[:6])}); "
                                 "rerun it with the same flags, or give a new folder")


def is_running(folder: str | os.PathLike) -> bool:
    """Whether a sweep process holds the folder now (its lock is released when that process ends, however)."""
    import fcntl

    try:
        with open(Path(folder) / LOCK_FILE, "rb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def is_done(trial: dict, folder: Path) -> bool:
    """Whether the trial's checkpoint is a finished run of exactly this trial (β, seed, epochs)."""
    try:
        meta = read_metadata(folder / trial["file"])
    except (CheckpointError, OSError):
        return False
    train, want = meta.get("train") or {}, trial["spec"]["train"]
    return meta.get("status") == "done" and all(train.get(k) == want[k] for k in ("beta", "seed", "epochs"))


class SweepFile:
    """sweep.json of one running sweep: the trials' records, rewritten atomically after each change."""

    def __init__(self, plan: SweepPlan, grid: list[dict]):
        self.path = plan.folder / SWEEP_FILE
        old = read_sweep(plan.folder) or {}
        kept = {t["name"]: t for t in old.get("trials") or [] if isinstance(t, dict) and "name" in t}
        self._lock = threading.Lock()
        self.info = {"name": plan.name, "created": old.get("created", time.time()), "kind": "cli",
                     "backend": plan.backend, "betas": sorted({*old.get("betas", []), *plan.betas}),
                     "seeds": sorted({*old.get("seeds", []), *plan.seeds}), "model": plan.model.to_dict(),
                     "train": plan.train.to_dict(), "data": plan.data.to_dict(), "jobs": [],
                     "trials": [kept.get(t["name"]) or trial_record(t, "stopped", NOT_RUN) for t in grid]
                     + [t for n, t in kept.items() if n not in {g["name"] for g in grid}]}

    def record(self, rec: dict) -> None:
        with self._lock:
            rows = self.info["trials"]
            i = next((i for i, t in enumerate(rows) if t["name"] == rec["name"]), None)
            if i is None:
                rows.append(rec)
            else:
                rows[i] = rec
            self.info["updated"] = time.time()
            atomic_write_bytes(self.path, json.dumps(self.info, indent=1).encode())

    def get(self, name: str) -> dict | None:
        return next((t for t in self.info["trials"] if t["name"] == name), None)


# ---- running ------------------------------------------------------------------------------------------------------


def run_sweep(plan: SweepPlan, *, stop: threading.Event | None = None,
              on_record: Callable[[dict], None] | None = None) -> dict:
    """Train every trial that is not done yet; returns sweep.json's content. Only one sweep per folder at a time."""
    from vae import data as data_mod

    stop = stop or threading.Event()
    data_mod.load(plan.data)  # a missing dataset fails once, here, and a download happens once, not per trial
    plan.folder.mkdir(parents=True, exist_ok=True)
    with _folder_lock(plan.folder):
        grid = trials(plan)
        sweep = SweepFile(plan, grid)
        todo = [t for t in grid if not is_done(t, plan.folder)]
        for t in grid:  # a done trial whose record was lost (a crash before sweep.json was written) keeps its run
            if t not in todo and (sweep.get(t["name"]) or {}).get("status") != "done":
                sweep.record(_record_from_checkpoint(t, plan.folder))

        def record(rec: dict) -> None:
            sweep.record(rec)
            if on_record is not None:
                on_record(rec)

        if todo:
            for t in todo:
                sweep.record(trial_record(t, "queued"))
            if plan.backend == "ray":
                from vae.sweep_ray import run_ray

                run_ray(plan, todo, record, stop)
            else:
                from vae.sweep_local import run_local

                run_local(plan, todo, record, stop)
        else:
            sweep.record(sweep.info["trials"][0])  # rewritten, so sweep.json always exists after a run
        return sweep.info


def _record_from_checkpoint(trial: dict, folder: Path) -> dict:
    """A done trial's record rebuilt from its checkpoint (its MIG is left to the β page, which measures it)."""
    meta = read_metadata(folder / trial["file"])
    last = (meta.get("history") or [{}])[-1]
    return trial_record(trial, "done", "", final={k: last.get(k) for k in FINAL_KEYS}, test=last.get("test"),
                        epochs=len(meta.get("history") or []))


class _folder_lock:
    """An exclusive, non-blocking lock on the sweep folder: a second sweep into it is refused, not interleaved."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK_FILE

    def __enter__(self):
        import fcntl

        self.f = open(self.path, "a+b")
        try:
            fcntl.flock(self.f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.f.close()
            raise ConfigError("out", f"another sweep is running in {self.path.parent}; wait for it or stop it") from None
        return self

    def __exit__(self, *exc):
        self.f.close()
