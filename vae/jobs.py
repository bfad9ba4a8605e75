"""Background training jobs: the CLI in a subprocess, state in files, a FIFO queue with a concurrency cap.

A job is named by its checkpoint's run-store ID ("run/my-run", "sweep/s/beta-0.5": vae/runs.py, the one ID scheme),
so a page opens a job's checkpoint with the ID it already holds. Each job is a spec file `<stem>.job.json` (vae/spec.py) beside its checkpoint, holding the configs' `to_dict()`; the run is
`python -m vae train --spec <that file>`, so a new config field needs no change here. The checkpoint and its
`.log.jsonl` come from `vae.run`. Liveness is (pid, create_time) through psutil, on every platform. Status is derived from those files and the process table only, so any number of
readers (pages, a restarted server, a second server on the same folder) agree on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from vae import procs, settings, worker
from vae.checkpoint import SUFFIX, atomic_write_bytes
from vae.config import ConfigError, DataConfig, ModelConfig, TrainConfig
from vae.errors import VaeError
from vae.run import log_path_for, read_log
from vae.runs import JOB_SUFFIX, STDERR_SUFFIX, SWEEPS, RunStore, UnknownCheckpoint
from vae.spec import job_spec

ROOT = Path(__file__).resolve().parents[1]  # the subprocess runs here so `-m vae` finds this package
ACTIVE = ("queued", "running")
TERMINAL = ("done", "stopped", "diverged", "failed")
POLL_S = 1.0  # how often the daemon thread promotes queued jobs; starting a job costs ~3 s of imports anyway


def max_jobs_default() -> int:
    """Concurrent runs: env VAE_MAX_JOBS, else 1.

    On 2 cores (bench/job_cap.py) two runs at once finish ~25 % sooner in total, but each trains ~40 % slower and
    no core is left for the Streamlit server; one run at a time keeps a live class demo responsive.
    """
    try:
        return max(1, int(os.environ.get("VAE_MAX_JOBS", "1")))
    except ValueError:
        return 1


def owner_hash(secret: str) -> str:
    """The owner id kept for a visitor's secret (ui/owner.py): its SHA-256, so job files never hold the secret."""
    return hashlib.sha256(f"vae-owner:{secret}".encode()).hexdigest()


class NotOwner(VaeError, PermissionError):
    """A stop or cancel from a session that did not start the run."""


@dataclass
class JobStatus:
    id: str  # its checkpoint's run-store ID, e.g. "run/my-run" or "sweep/s/b0.5": what pages open
    name: str
    checkpoint: str
    state: str  # queued | running | done | stopped | diverged | failed
    message: str
    epoch: int  # epochs finished
    epochs: int
    fraction: float  # 0..1 of optimizer steps
    eta_s: float | None
    queue_position: int | None  # 1-based among queued jobs
    created: float
    sweep: str | None
    beta: float | None
    seed: int | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def to_dict(self) -> dict:
        return asdict(self)


class JobManager:
    """Submit, list, stop and promote training jobs under one runs folder; safe to share between threads."""

    def __init__(self, root: str | os.PathLike, *, max_jobs: int | None = None, python: str = sys.executable,
                 background: bool = True, warm: bool | None = None):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.store = RunStore(self.root)  # naming, reservations and the lock shared with every other process
        self.max_jobs = max_jobs or max_jobs_default()
        self.python = python
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen] = {}  # children we started, so we can reap them
        self._closed = threading.Event()
        self._thread = None
        # a warm worker (vae/worker.py) saves each job torch's import; it starts importing now, in its own process
        self._worker = None
        if warm if warm is not None else worker.enabled():
            self._worker = worker.WarmWorker(python, ROOT)
            self._worker.start()
        if background:
            # promotion must not depend on anyone watching a page: a queued job starts when a slot frees
            self._thread = threading.Thread(target=self._loop, name="vae-jobs", daemon=True)
            self._thread.start()

    # ---- files -------------------------------------------------------------------------------------
    def _spec_path(self, job_id: str) -> Path:
        try:  # the store checks the ID's form and keeps it inside its folders
            return RunStore.job_path(self.store.path_of(job_id))
        except UnknownCheckpoint as e:
            raise ConfigError("job", f"{job_id!r} is not a run of this runs folder") from e

    def _read_spec(self, job_id: str) -> dict | None:
        """The spec of a job, its "id" the one it was read by (a spec written before IDs were the store's keeps
        its old "id" on disk; its place in the folder is what names it)."""
        try:
            spec = json.loads(self._spec_path(job_id).read_text())
        except (OSError, json.JSONDecodeError, ConfigError):
            return None
        return {**spec, "id": job_id} if isinstance(spec, dict) else None

    def _write_spec(self, spec: dict) -> None:
        atomic_write_bytes(self._spec_path(spec["id"]), json.dumps(spec, indent=1).encode())

    def _job_ids(self) -> list[str]:
        paths = list(self.root.glob("*" + JOB_SUFFIX)) + list(self.root.glob(f"{SWEEPS}/*/*" + JOB_SUFFIX))
        ids = []
        for p in paths:
            try:
                ids.append(self.store.checkpoint_id(p.with_name(p.name[: -len(JOB_SUFFIX)] + SUFFIX)))
            except UnknownCheckpoint:  # a hand-made spec whose name no ID can hold: not a job of this folder
                pass
        return ids

    # ---- submit ------------------------------------------------------------------------------------
    def submit(self, model: ModelConfig, train: TrainConfig, data: DataConfig, name: str, *,
               owner: str | None = None) -> JobStatus:
        """Queue a run; it starts at once when a slot is free. The name gets a suffix if it is taken.

        `owner` (a browser session) may stop or cancel it later; its queued and running jobs are capped.
        """
        with self.store.lock():  # check and reserve in one step: two submits at once cannot both see a free place
            self._check_quota(owner, 1, "run_name")
            job_id = self._enqueue(model, train, data, name, None, owner)
        self.tick()  # outside the lock: it may wait for the warm worker first
        return self.status(job_id)

    def _enqueue(self, model: ModelConfig, train: TrainConfig, data: DataConfig, name: str, sweep: str | None,
                 owner: str | None) -> str:
        ckpt = self.store.reserve_run(name, sweep)
        job_id = self.store.checkpoint_id(ckpt)
        spec = {"id": job_id, "name": ckpt.stem, "created": time.time(), **job_spec(model, train, data, ckpt),
                "epochs": train.epochs if model.kind != "pca" else 1, "sweep": sweep,
                "beta": train.beta if model.kind == "vae" else None, "pid": None, "owner": owner}
        self._write_spec(spec)
        return job_id

    def _check_quota(self, owner: str | None, n_new: int, field: str) -> None:
        """Refuse runs beyond the session's share of the queue, or when the runs folder is full.

        Call it under the store's lock, with the job specs written before the lock is released: a spec reserved
        but not yet written names no owner, so a check outside the lock would not count it.
        """
        if self.store.folder_bytes() >= settings.RUNS_FOLDER.value():
            raise ConfigError(field, f"the runs folder is full ({settings.RUNS_FOLDER.shown()}, "
                                     f"{settings.RUNS_FOLDER.env}); delete some runs on the Checkpoints page first")
        if owner is None:
            return
        limit = settings.QUEUE_PER_SESSION.value()
        mine = sum(1 for s in map(self._read_spec, self._job_ids()) if s and s.get("owner") == owner
                   and not s.get("cancelled") and (not s.get("pid") or self._alive(s)))
        if mine + n_new > limit:
            raise ConfigError(field, f"you have {mine} runs queued or running and may have at most {limit} "
                                     f"({settings.QUEUE_PER_SESSION.env}); wait for some to finish or stop them")

    # ---- run ---------------------------------------------------------------------------------------
    def _alive(self, spec: dict) -> bool:
        proc = self._procs.get(spec["id"])
        if proc is not None:
            return proc.poll() is None  # also reaps our own finished children (no zombies)
        return procs.is_alive(spec.get("pid"), spec.get("pid_create"))

    def _launch(self, spec: dict) -> tuple[int, float]:
        """Start the training process of a queued spec; (pid, create_time). The one place a run is started."""
        ckpt = Path(spec["checkpoint"])
        argv = [self.python, "-m", "vae", "train", "--spec", str(self._spec_path(spec["id"])), "--no-progress"]
        stderr, env = ckpt.with_name(ckpt.stem + STDERR_SUFFIX), {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self._worker is not None:  # the same argv, forked from the warm worker; None: start it cold instead
            started = self._worker.launch(argv, cwd=ROOT, stderr_path=stderr, env=env)
            if started is not None:
                return started
        proc, created = procs.start(argv, cwd=ROOT, stderr_path=stderr, env=env)
        self._procs[spec["id"]] = proc
        return proc.pid, created

    def tick(self) -> None:
        """Start queued jobs, oldest first, while fewer than `max_jobs` run. Cheap; called often."""
        if self._worker is not None:  # wait for a worker still importing torch here, outside the store's lock, which
            self._worker.ready(worker.STARTUP_WAIT_S)  # every server process's uploads and renames also take
        with self.store.lock():
            specs = [s for s in map(self._read_spec, self._job_ids()) if s]
            running = sum(1 for s in specs if s.get("pid") and self._alive(s))
            queued = sorted((s for s in specs if not s.get("pid") and not s.get("cancelled")), key=lambda s: s["created"])
            for spec in queued[: max(0, self.max_jobs - running)]:
                pid, created = self._launch(spec)
                spec.update(pid=pid, pid_create=created, started=time.time())
                self._write_spec(spec)
            for job_id, proc in list(self._procs.items()):
                if proc.poll() is not None:
                    del self._procs[job_id]

    def _loop(self) -> None:
        while not self._closed.wait(POLL_S):
            try:
                self.tick()
            except Exception:  # a transient file error must not kill promotion for the server's lifetime
                pass

    def close(self) -> None:
        """Stop the promotion thread and the warm worker (running jobs carry on: they belong to the runs folder)."""
        self._closed.set()
        if self._worker is not None:
            self._worker.close()

    # ---- read --------------------------------------------------------------------------------------
    def status(self, job_id: str) -> JobStatus:
        spec = self._read_spec(job_id)
        if spec is None:
            raise KeyError(job_id)
        return self._status(spec, self._queue())

    def _queue(self) -> list[str]:
        specs = [s for s in map(self._read_spec, self._job_ids()) if s and not s.get("pid") and not s.get("cancelled")]
        return [s["id"] for s in sorted(specs, key=lambda s: s["created"])]

    def _status(self, spec: dict, queue: list[str]) -> JobStatus:
        # liveness before the log: a run that writes its end line and exits in between must read "done", not "died"
        alive = bool(spec.get("pid")) and self._alive(spec)
        rows = read_log(log_path_for(spec["checkpoint"])) if spec.get("pid") else []
        epochs = [r for r in rows if r.get("event") == "epoch"]
        last = next((r for r in reversed(rows) if r.get("event") in ("step", "epoch")), None)
        end = next((r for r in reversed(rows) if r.get("event") == "end"), None)
        n_epochs = spec.get("epochs", 0)
        fraction = (last["step"] / last["total_steps"]) if last and last.get("total_steps") else 0.0
        eta = last.get("eta_s") if last else None
        position = None
        if spec.get("cancelled"):
            state, message = "stopped", "cancelled before it started"
        elif not spec.get("pid"):
            state, message = "queued", ""
            position = queue.index(spec["id"]) + 1 if spec["id"] in queue else None
        elif end is not None:
            state, message = end.get("status", "failed"), end.get("message") or ""
        elif alive:
            state, message = "running", ""
        elif spec.get("stop_requested"):
            state, message = "stopped", "stopped by request before training began"
        else:
            state, message = "failed", self._died_message(spec)
        if state == "done":
            fraction, eta = 1.0, 0.0
        return JobStatus(spec["id"], spec["name"], spec["checkpoint"], state, message, len(epochs), n_epochs,
                         float(min(1.0, fraction)), eta, position, spec["created"], spec.get("sweep"), spec.get("beta"),
                         (spec.get("train") or {}).get("seed"))

    def _died_message(self, spec: dict) -> str:
        ckpt = Path(spec["checkpoint"])
        tail = ""
        try:
            lines = ckpt.with_name(ckpt.stem + STDERR_SUFFIX).read_text(errors="replace").strip().splitlines()
            tail = lines[-1] if lines else ""
        except OSError:
            pass
        kept = " The last finished epoch's checkpoint is kept." if ckpt.exists() else ""
        return f"process exited unexpectedly{': ' + tail if tail else ''}.{kept}"

    def jobs(self, *, sweep: str | None = None) -> list[JobStatus]:
        """Every job, newest first (only one sweep's jobs when `sweep` is given, in submission order)."""
        queue = self._queue()
        specs = [s for s in map(self._read_spec, self._job_ids()) if s and (sweep is None or s.get("sweep") == sweep)]
        specs.sort(key=lambda s: s["created"], reverse=sweep is None)
        return [self._status(s, queue) for s in specs]

    def history(self, job_id: str) -> list[dict]:
        """The per-epoch lines of a job's log so far (recon, kl, elbo, kl_per_dim, test, ...)."""
        spec = self._read_spec(job_id)
        return [r for r in read_log(log_path_for(spec["checkpoint"])) if r.get("event") == "epoch"] if spec else []

    # ---- stop --------------------------------------------------------------------------------------
    def can_stop(self, job_id: str, by: str | None) -> bool:
        """Whether session `by` may stop or cancel the job: the session that started it, or anyone in single-user
        mode (VAE_SINGLE_USER=1), or anyone for a job started without an owner (the CLI, a script)."""
        spec = self._read_spec(job_id)
        return spec is not None and (settings.single_user() or spec.get("owner") in (None, by))

    def stop(self, job_id: str, by: str | None = None) -> None:
        """SIGTERM a running job (the CLI stops between steps and keeps its last checkpoint); cancel a queued one.

        NotOwner if session `by` did not start it (see `can_stop`).
        """
        with self.store.lock():
            spec = self._read_spec(job_id)
            if spec is None:
                raise KeyError(job_id)
            if not (settings.single_user() or spec.get("owner") in (None, by)):
                raise NotOwner(f"{spec['name']} was started by another visitor; only they can stop it")
            if not spec.get("pid"):
                spec["cancelled"] = True
                self._write_spec(spec)
            elif self._alive(spec):
                spec["stop_requested"] = time.time()  # a SIGTERM during start-up kills before the handler exists
                self._write_spec(spec)
                procs.terminate(spec["pid"], spec.get("pid_create"))  # False: it finished in the meantime

    # ---- sweeps ------------------------------------------------------------------------------------
    def submit_sweep(self, name: str, betas: list[float], model: ModelConfig, train: TrainConfig,
                     data: DataConfig, *, owner: str | None = None, seeds: list[int] | None = None) -> str:
        """Queue one run per (β, seed) with everything else shared; returns the sweep's (unique) folder name.

        The grid, its quotas and its run names are those of `python -m vae sweep` (vae/sweep.py); one seed keeps
        the short names `beta-<β>`.
        """
        from vae.sweep import grid_configs, trial_name

        grid = grid_configs(betas, seeds if seeds else [train.seed], train)  # all validated before any is queued
        several = len({s for _, s, _ in grid}) > 1
        configs = [c for _, _, c in grid]
        with self.store.lock():  # the quota check and every reservation in one step, as in submit()
            self._check_quota(owner, len(configs), "betas")
            sweep = self.store.reserve_sweep(name)
            info = {"name": sweep, "created": time.time(), "betas": list(dict.fromkeys(c.beta for c in configs)),
                    "seeds": list(dict.fromkeys(c.seed for c in configs)), "model": model.to_dict(), "train": train.to_dict(),
                    "data": data.to_dict(), "jobs": []}
            for c in configs:  # queued all at once, then one promotion pass: submitting is linear in the count
                run = trial_name(c.beta, c.seed) if several else f"beta-{c.beta:g}"
                info["jobs"].append(self._enqueue(model, c, data, run, sweep, owner))
            atomic_write_bytes(self.root / SWEEPS / sweep / "sweep.json", json.dumps(info, indent=1).encode())
        self.tick()
        return sweep

    def sweeps(self) -> list[dict]:
        """Every sweep's sweep.json (the app's, or one `python -m vae sweep` wrote), newest first, each named by its
        folder: a sweep folder copied in under another name is known by the name it has here."""
        out = []
        for p in (self.root / SWEEPS).glob("*/sweep.json"):
            try:
                info = json.loads(p.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(info, dict):
                out.append({**info, "name": p.parent.name})
        return sorted(out, key=lambda s: s.get("created", 0) if isinstance(s.get("created"), (int, float)) else 0,
                      reverse=True)
