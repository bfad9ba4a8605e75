"""Background training jobs: the CLI in a subprocess, state in files, a FIFO queue with a concurrency cap.

Each job is a spec file `<stem>.job.json` beside its checkpoint; the checkpoint and its `.log.jsonl`
come from `vae.run`. Status is derived from those files and the process table only, so any number of
readers (pages, a restarted server, a second server on the same folder) agree on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from vae.checkpoint import SUFFIX, atomic_write_bytes, run_path, sanitize_run_name
from vae.config import ConfigError, DataConfig, ModelConfig, TrainConfig
from vae.run import log_path_for, read_log

ROOT = Path(__file__).resolve().parents[1]  # the subprocess runs here so `-m vae` finds this package
JOB_SUFFIX = ".job.json"
STDERR_SUFFIX = ".stderr.txt"
SWEEPS = "sweeps"
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


@dataclass
class JobStatus:
    id: str  # checkpoint path relative to the runs root, without suffix, e.g. "my-run" or "sweeps/s/b0.5"
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

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def to_dict(self) -> dict:
        return asdict(self)


def cli_args(model: ModelConfig, train: TrainConfig, data: DataConfig) -> list[str]:
    """The `python -m vae train` flags that rebuild exactly these configs (the inverse of vae.__main__._configs)."""
    a = ["--data", data.name, "--test-fraction", repr(data.test_fraction), "--split-seed", str(data.split_seed),
         "--split", data.split,
         "--model", model.kind, "--arch", model.arch, "--latent-dim", str(model.latent_dim),
         "--hidden", ",".join(map(str, model.hidden)), "--channels", ",".join(map(str, model.channels)),
         "--likelihood", model.likelihood, "--sigma", repr(model.sigma),
         "--epochs", str(train.epochs), "--batch-size", str(train.batch_size), "--lr", repr(train.lr),
         "--beta", repr(train.beta), "--warmup-epochs", repr(train.warmup_epochs),
         "--capacity", "none" if train.capacity is None else repr(train.capacity),
         "--capacity-epochs", repr(train.capacity_epochs), "--seed", str(train.seed), "--device", train.device,
         # one intra-op thread per job: on 2 cores, 2 threads on these small matmuls were slower, not faster
         "--threads", str(train.threads or 1), "--log-every", str(train.log_every),
         "--grad-clip", "none" if train.grad_clip is None else repr(train.grad_clip)]
    if model.learn_sigma:
        a.append("--learn-sigma")
    if data.data_dir:
        a += ["--data-dir", data.data_dir]
    if data.limit is not None:
        a += ["--limit", str(data.limit)]
    if not data.download:
        a.append("--no-download")
    return a


def save_upload(root: str | os.PathLike, filename: str, blob: bytes) -> Path:
    """Keep an uploaded .npz under `<root>/data/`, named by its content hash, and check it loads (DataError if not)."""
    from vae.data import DataError, load

    if not filename.lower().endswith(".npz"):
        raise DataError(f"{filename}: upload an .npz file (array 'x': N×H×W, optional integer labels 'y')")
    try:
        stem = sanitize_run_name(Path(filename).stem)[:40]
    except ConfigError:
        stem = "upload"
    path = Path(root).resolve() / "data" / f"{stem}-{hashlib.sha256(blob).hexdigest()[:12]}.npz"
    if not path.exists():  # the same file uploaded twice is stored once
        atomic_write_bytes(path, blob)
    try:
        load(DataConfig(name=str(path)))
    except DataError:
        path.unlink(missing_ok=True)
        raise
    return path


def _proc_state(pid: int) -> str | None:
    """'alive', 'dead', or None when the platform cannot tell (no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return "dead" if Path("/proc/self").exists() else None
    except OSError:
        return None
    state = stat.rsplit(")", 1)[1].split()[0]  # the comm field may contain spaces; it ends at the last ')'
    return "dead" if state in ("Z", "X") else "alive"


def _proc_start(pid: int) -> str | None:
    """Start time in clock ticks: tells our process apart from a later one that reused its pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class JobManager:
    """Submit, list, stop and promote training jobs under one runs folder; safe to share between threads."""

    def __init__(self, root: str | os.PathLike, *, max_jobs: int | None = None, python: str = sys.executable,
                 background: bool = True):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_jobs = max_jobs or max_jobs_default()
        self.python = python
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen] = {}  # children we started, so we can reap them
        self._closed = threading.Event()
        self._thread = None
        if background:
            # promotion must not depend on anyone watching a page: a queued job starts when a slot frees
            self._thread = threading.Thread(target=self._loop, name="vae-jobs", daemon=True)
            self._thread.start()

    # ---- files -------------------------------------------------------------------------------------
    def _spec_path(self, job_id: str) -> Path:
        p = (self.root / (job_id + JOB_SUFFIX)).resolve()
        if self.root not in p.parents:
            raise ConfigError("job", f"{job_id!r} is not inside the runs folder")
        return p

    def _read_spec(self, job_id: str) -> dict | None:
        try:
            return json.loads(self._spec_path(job_id).read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def _write_spec(self, spec: dict) -> None:
        atomic_write_bytes(self._spec_path(spec["id"]), json.dumps(spec, indent=1).encode())

    def _job_ids(self) -> list[str]:
        paths = list(self.root.glob("*" + JOB_SUFFIX)) + list(self.root.glob(f"{SWEEPS}/*/*" + JOB_SUFFIX))
        return [str(p.relative_to(self.root))[: -len(JOB_SUFFIX)] for p in paths]

    @contextmanager
    def _file_lock(self):
        """Serialise promotion across processes (two servers on one folder must not start a job twice)."""
        with self._lock, open(self.root / ".jobs.lock", "a") as f:
            try:
                import fcntl

                fcntl.flock(f, fcntl.LOCK_EX)
            except ImportError:  # pragma: no cover - Windows: the thread lock still covers one server
                pass
            yield

    # ---- submit ------------------------------------------------------------------------------------
    def _reserve(self, folder: Path, name: str) -> Path:
        """A checkpoint path no other job or file uses: 'name', else 'name-2', 'name-3', ...

        Creating the spec with O_EXCL is the reservation, so two users submitting the same name at
        once get different paths.
        """
        base = sanitize_run_name(name)
        for i in range(1, 1000):
            stem = base if i == 1 else f"{base[:60]}-{i}"
            ckpt = run_path(folder, stem)
            if ckpt.exists() or log_path_for(ckpt).exists():
                continue
            try:
                fd = os.open(ckpt.with_name(ckpt.stem + JOB_SUFFIX), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            os.close(fd)
            return ckpt
        raise ConfigError("run_name", f"too many runs named {base!r}")

    def submit(self, model: ModelConfig, train: TrainConfig, data: DataConfig, name: str, *,
               sweep: str | None = None) -> JobStatus:
        """Queue a run; it starts at once when a slot is free. The name gets a suffix if it is taken."""
        folder = self.root / SWEEPS / sanitize_run_name(sweep) if sweep else self.root
        folder.mkdir(parents=True, exist_ok=True)
        ckpt = self._reserve(folder, name)
        job_id = str(ckpt.relative_to(self.root))[: -len(SUFFIX)]
        argv = [self.python, "-m", "vae", "train", *cli_args(model, train, data), "--out", str(ckpt), "--no-progress"]
        spec = {"id": job_id, "name": ckpt.stem, "checkpoint": str(ckpt), "argv": argv, "created": time.time(),
                "epochs": train.epochs if model.kind != "pca" else 1, "sweep": sweep,
                "beta": train.beta if model.kind == "vae" else None, "pid": None}
        self._write_spec(spec)
        self.tick()
        return self.status(job_id)

    # ---- run ---------------------------------------------------------------------------------------
    def _alive(self, spec: dict) -> bool:
        proc = self._procs.get(spec["id"])
        if proc is not None:
            return proc.poll() is None  # also reaps our own finished children (no zombies)
        pid = spec.get("pid")
        if not pid:
            return False
        state = _proc_state(pid)
        if state is None:  # no /proc: fall back to a signal-0 probe
            try:
                os.kill(pid, 0)
                return True
            except OSError:
                return False
        return state == "alive" and (spec.get("pid_start") in (None, _proc_start(pid)))

    def _launch(self, spec: dict) -> None:
        ckpt = Path(spec["checkpoint"])
        err = open(ckpt.with_name(ckpt.stem + STDERR_SUFFIX), "wb")
        try:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            proc = subprocess.Popen(spec["argv"], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, env=env, start_new_session=True)  # Ctrl-C in the server's terminal
        finally:                                                              # must not stop user runs
            err.close()
        self._procs[spec["id"]] = proc
        spec.update(pid=proc.pid, pid_start=_proc_start(proc.pid), started=time.time())
        self._write_spec(spec)

    def tick(self) -> None:
        """Start queued jobs, oldest first, while fewer than `max_jobs` run. Cheap; called often."""
        with self._file_lock():
            specs = [s for s in map(self._read_spec, self._job_ids()) if s]
            running = sum(1 for s in specs if s.get("pid") and self._alive(s))
            queued = sorted((s for s in specs if not s.get("pid") and not s.get("cancelled")), key=lambda s: s["created"])
            for spec in queued[: max(0, self.max_jobs - running)]:
                self._launch(spec)
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
        """Stop the promotion thread (running jobs carry on: they belong to the runs folder, not to us)."""
        self._closed.set()

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
                         float(min(1.0, fraction)), eta, position, spec["created"], spec.get("sweep"), spec.get("beta"))

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
    def stop(self, job_id: str) -> None:
        """SIGTERM a running job (the CLI stops between steps and keeps its last checkpoint); cancel a queued one."""
        with self._file_lock():
            spec = self._read_spec(job_id)
            if spec is None:
                raise KeyError(job_id)
            if not spec.get("pid"):
                spec["cancelled"] = True
                self._write_spec(spec)
            elif self._alive(spec):
                spec["stop_requested"] = time.time()  # a SIGTERM during start-up kills before the handler exists
                self._write_spec(spec)
                try:
                    os.kill(spec["pid"], signal.SIGTERM)
                except ProcessLookupError:  # it finished in the meantime
                    pass

    # ---- sweeps ------------------------------------------------------------------------------------
    def submit_sweep(self, name: str, betas: list[float], model: ModelConfig, train: TrainConfig,
                     data: DataConfig) -> str:
        """Queue one run per β with everything else shared; returns the sweep's (unique) folder name."""
        if not betas:
            raise ConfigError("betas", "list at least one β")
        configs = [train.replace(beta=float(b)) for b in betas]  # validates every β before anything is queued
        (self.root / SWEEPS).mkdir(parents=True, exist_ok=True)
        base = sanitize_run_name(name)
        for i in range(1, 1000):
            sweep = base if i == 1 else f"{base[:60]}-{i}"
            try:
                (self.root / SWEEPS / sweep).mkdir()  # mkdir is atomic: the folder is the reservation
                break
            except FileExistsError:
                continue
        else:
            raise ConfigError("sweep_name", f"too many sweeps named {base!r}")
        info = {"name": sweep, "created": time.time(), "betas": [c.beta for c in configs], "model": model.to_dict(),
                "train": train.to_dict(), "data": data.to_dict(), "jobs": []}
        for c in configs:
            info["jobs"].append(self.submit(model, c, data, f"beta-{c.beta:g}", sweep=sweep).id)
        atomic_write_bytes(self.root / SWEEPS / sweep / "sweep.json", json.dumps(info, indent=1).encode())
        return sweep

    def sweeps(self) -> list[dict]:
        """Every sweep's sweep.json, newest first."""
        out = []
        for p in (self.root / SWEEPS).glob("*/sweep.json"):
            try:
                out.append(json.loads(p.read_text()))
            except (OSError, json.JSONDecodeError):
                continue
        return sorted(out, key=lambda s: s.get("created", 0), reverse=True)
