"""The run store: the one owner of the runs folder (checkpoint IDs, listing, naming, reservations, rename/delete,
"is it training?").

A checkpoint ID names a file without being a path: "demo/<stem>" (bundled demos), "run/<stem>" (user runs and
uploads) and "sweep/<sweep>/<stem>" (β-sweep runs). Strings that come from a browser are only ever passed to
`RunStore.resolve`, which checks them against a strict pattern and looks only inside the store's own folders.

Several server processes may share one runs folder: every decision "is this name free?" and the write that takes
the name happen under one file lock (`RunStore.lock`), and the write itself is exclusive (O_EXCL or a hard link),
so two stores can never hand out the same name, and an upload can never take the path of a queued run.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NamedTuple

from vae import procs
from vae.checkpoint import SUFFIX, CheckpointError, read_metadata, sanitize_run_name
from vae.config import ConfigError
from vae.errors import VaeError
from vae.locks import create_exclusive, folder_lock, link_exclusive

SWEEPS = "sweeps"
DATA = "data"  # uploaded .npz datasets
LOG_SUFFIX = ".log.jsonl"
JOB_SUFFIX = ".job.json"
STDERR_SUFFIX = ".stderr.txt"
SIDE_SUFFIXES = (LOG_SUFFIX, JOB_SUFFIX, STDERR_SUFFIX)  # files a run keeps beside its checkpoint
LOCK_NAME = ".store.lock"
CACHE = ".cache"  # figures computed once per checkpoint content (vae/iwae_budget.py); hidden from every listing
STAGING_PREFIX = ".upload-"  # uploads being checked (vae/uploads.py): not kept yet, so no quota counts them
MAX_TRIES = 1000  # name, name-2, ... name-999
SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}"  # no leading dot: neither "..", "." nor hidden files
ID_PATTERN = re.compile(rf"(?:demo|run)/{SEGMENT}|sweep/{SEGMENT}/{SEGMENT}")
MAX_ID_CHARS = 3 * 64 + 10


class RunStoreError(VaeError):
    """Something the runs folder refuses; the message is meant for the user."""

    def __str__(self) -> str:  # KeyError's str() would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownCheckpoint(RunStoreError, KeyError):
    """A checkpoint ID that is malformed, or names no file in the store."""


class Row(NamedTuple):
    id: str
    path: Path
    meta: dict | None
    error: str | None


def is_valid_id(ckpt_id: object) -> bool:
    return isinstance(ckpt_id, str) and len(ckpt_id) <= MAX_ID_CHARS and ID_PATTERN.fullmatch(ckpt_id) is not None


class RunStore:
    """Bundled demos (read-only) and the runs folder (user runs, uploads, sweeps), addressed by checkpoint ID."""

    def __init__(self, runs_root: str | os.PathLike, demo_root: str | os.PathLike | None = None):
        self.runs_root = Path(runs_root).resolve()
        # no demo folder (e.g. the job manager's own store): an empty folder name that can never exist
        self.demo_root = Path(demo_root).resolve() if demo_root is not None else self.runs_root / ".no-demos"
        self.sweeps_root = self.runs_root / SWEEPS
        self.data_root = self.runs_root / DATA

    # ---- IDs ---------------------------------------------------------------------------------------
    def checkpoint_id(self, path: str | os.PathLike) -> str:
        """The ID of a checkpoint file inside the store; UnknownCheckpoint for any other path."""
        p = Path(path).resolve()
        if p.suffix == SUFFIX:
            if p.parent == self.demo_root:
                ckpt_id = f"demo/{p.stem}"
            elif p.parent == self.runs_root:
                ckpt_id = f"run/{p.stem}"
            elif p.parent.parent == self.sweeps_root:
                ckpt_id = f"sweep/{p.parent.name}/{p.stem}"
            else:
                ckpt_id = ""
            if is_valid_id(ckpt_id):
                return ckpt_id
        raise UnknownCheckpoint(f"{Path(path).name} is not a checkpoint of this app's folders")

    def path_of(self, ckpt_id: str) -> Path:
        """Where an ID's file lives (whether or not it exists yet); UnknownCheckpoint for a malformed ID."""
        if not is_valid_id(ckpt_id):
            raise UnknownCheckpoint("not a checkpoint ID (expected demo/<name>, run/<name> or sweep/<sweep>/<name>)")
        kind, *parts = ckpt_id.split("/")
        folder = {"demo": self.demo_root, "run": self.runs_root}.get(kind) or self.sweeps_root / parts[0]
        path = folder / (parts[-1] + SUFFIX)
        # the pattern already rules out separators and dot-dot; this keeps a symlinked sweep folder from leading out
        if path.resolve().parent != folder.resolve() or not _inside(folder.resolve(), self._roots()):
            raise UnknownCheckpoint(f"{ckpt_id}: not inside the checkpoints folders")
        return path

    def resolve(self, ckpt_id: str) -> Path:
        """The file of an existing checkpoint ID; UnknownCheckpoint if the ID is malformed or names nothing."""
        path = self.path_of(ckpt_id)
        if not path.is_file():
            raise UnknownCheckpoint(f"{ckpt_id}: no such checkpoint")
        return path

    def exists(self, ckpt_id: str) -> bool:
        try:
            self.resolve(ckpt_id)
            return True
        except UnknownCheckpoint:
            return False

    @staticmethod
    def label(ckpt_id: str) -> str:
        """'demo · name', 'run · name', 'sweep · sweep/name' for pickers (plain text: no Markdown in it)."""
        kind, _, rest = str(ckpt_id).partition("/")
        return f"{kind} · {rest}"

    @staticmethod
    def kind(ckpt_id: str) -> str:
        return str(ckpt_id).partition("/")[0]

    @staticmethod
    def stem(ckpt_id: str) -> str:
        return str(ckpt_id).rsplit("/", 1)[-1]

    def _roots(self) -> tuple[Path, ...]:
        return (self.demo_root, self.runs_root)

    # ---- listing -----------------------------------------------------------------------------------
    def sweep_dirs(self) -> list[Path]:
        if not self.sweeps_root.is_dir():
            return []
        return sorted(p for p in self.sweeps_root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def rows(self) -> list[Row]:
        """Bundled demos, then user runs, then sweep runs, each group newest first: (id, path, meta, error)."""
        out: list[Row] = []
        for folder in [self.demo_root, self.runs_root, *self.sweep_dirs()]:
            group = []
            for path in _files(folder):
                try:
                    ckpt_id = self.checkpoint_id(path)
                except UnknownCheckpoint:  # a name no ID can carry (e.g. made by hand): not ours to show
                    continue
                meta, error = read_listed(path)
                group.append(Row(ckpt_id, path, meta, error))
            out += sorted(group, key=lambda r: _mtime(r.path), reverse=True)
        return out

    list = rows

    # ---- layout ------------------------------------------------------------------------------------
    @staticmethod
    def side_files(checkpoint: str | os.PathLike) -> list[Path]:
        """The log, job spec and captured stderr that live beside a checkpoint."""
        p = Path(checkpoint)
        stem = p.name[: -len(SUFFIX)] if p.name.endswith(SUFFIX) else p.name
        return [p.with_name(stem + s) for s in SIDE_SUFFIXES]

    @classmethod
    def log_path(cls, checkpoint: str | os.PathLike) -> Path:
        return cls.side_files(checkpoint)[0]

    @classmethod
    def job_path(cls, checkpoint: str | os.PathLike) -> Path:
        return cls.side_files(checkpoint)[1]

    def cache_path(self, kind: str, key: str) -> Path:
        """Where a computed figure of kind `kind`, named by the hex digest `key`, is kept."""
        if not (re.fullmatch(r"[a-z]{1,16}", kind) and re.fullmatch(r"[0-9a-f]{64}", key)):
            raise ValueError(f"not a cache name: {kind[:20]!r}/{key[:70]!r}")
        return self.runs_root / CACHE / kind / f"{key}.json"

    def _taken(self, checkpoint: Path) -> bool:
        return checkpoint.exists() or any(p.exists() for p in self.side_files(checkpoint))

    # ---- naming and reservations -------------------------------------------------------------------
    def lock(self) -> AbstractContextManager[None]:
        """Exclusive across threads and processes sharing this runs folder (reentrant within a thread)."""
        self.runs_root.mkdir(parents=True, exist_ok=True)
        return folder_lock(self.runs_root / LOCK_NAME)

    def unique(self, folder: Path, name: str, take: Callable[[Path], bool], field: str = "run_name") -> Path:
        """The one naming loop: 'name', 'name-2', ... until `take(checkpoint)` claims a free one; under the lock.

        `take` must create its file exclusively (O_EXCL or a hard link) and return False if it lost the race.
        """
        base = sanitize_run_name(name)
        with self.lock():
            for i in range(1, MAX_TRIES):
                stem = base if i == 1 else f"{base[:60]}-{i}"
                ckpt = folder / (stem + SUFFIX)
                if not self._taken(ckpt) and take(ckpt):
                    return ckpt
        raise ConfigError(field, f"too many runs named {base!r}")

    def reserve_run(self, name: str, sweep: str | None = None) -> Path:
        """A checkpoint path for a queued run: its job spec is created empty (O_EXCL), which reserves the name."""
        folder = self.sweeps_root / sweep if sweep else self.runs_root
        folder.mkdir(parents=True, exist_ok=True)
        return self.unique(folder, name, lambda ckpt: create_exclusive(self.job_path(ckpt)))

    def reserve_sweep(self, name: str) -> str:
        """A new sweep folder name: mkdir is the reservation."""
        base = sanitize_run_name(name)
        self.sweeps_root.mkdir(parents=True, exist_ok=True)
        with self.lock():
            for i in range(1, MAX_TRIES):
                sweep = base if i == 1 else f"{base[:60]}-{i}"
                try:
                    (self.sweeps_root / sweep).mkdir()
                    return sweep
                except FileExistsError:
                    continue
        raise ConfigError("sweep_name", f"too many sweeps named {base!r}")

    def claim(self, src: Path, name: str, check: Callable[[], None] | None = None) -> str:
        """Move a checked file into the runs folder under a free name (never a queued run's); its ID.

        `check` (a quota: it raises to refuse) runs under the same lock as the naming, so two claims at once
        cannot both pass it.
        """
        with self.lock():
            if check is not None:
                check()
            dest = self.unique(self.runs_root, name, lambda ckpt: link_exclusive(src, ckpt))
        src.unlink(missing_ok=True)
        return self.checkpoint_id(dest)

    # ---- is it training? ---------------------------------------------------------------------------
    def is_training(self, checkpoint: str | os.PathLike) -> bool:
        """True while a process writes this checkpoint: by (pid, create_time), from its job spec or its log."""
        try:
            spec = json.loads(self.job_path(checkpoint).read_text() or "{}")
        except (OSError, ValueError):
            spec = {}
        if isinstance(spec, dict) and spec.get("pid"):
            return procs.is_alive(spec.get("pid"), spec.get("pid_create"))
        start = _first_line(self.log_path(checkpoint))  # a run started from the CLI has a log but no job spec
        return bool(start) and start.get("event") == "start" and procs.is_alive(start.get("pid"), start.get("pid_create"))

    # ---- rename and delete -------------------------------------------------------------------------
    def _own_run(self, ckpt_id: str) -> Path:
        """The file of a user run that may be changed; RunStoreError with the reason otherwise."""
        path = self.resolve(ckpt_id)
        if self.kind(ckpt_id) == "demo":
            raise RunStoreError(f"{path.stem} is a bundled demo and cannot be renamed or deleted")
        if self.kind(ckpt_id) != "run":
            raise RunStoreError(f"{path.stem} belongs to a β sweep; it is kept with its sweep")
        if self.is_training(path):
            raise RunStoreError(f"{path.stem} is still being trained; stop the run first")
        return path

    def rename(self, ckpt_id: str, new_name: str) -> str:
        """Rename a user run and its log; the new ID. Never overwrites: a taken name is refused."""
        path = self._own_run(ckpt_id)
        try:
            stem = sanitize_run_name(new_name)
        except ConfigError as e:
            raise RunStoreError(f"new name: {e}") from e
        if stem == path.stem:
            return ckpt_id
        dest = self.runs_root / (stem + SUFFIX)
        with self.lock():
            if self._taken(dest) or not link_exclusive(path, dest):
                raise RunStoreError(f"a run named {stem} already exists")
            path.unlink(missing_ok=True)
            log = self.log_path(path)
            if log.exists():
                os.replace(log, self.log_path(dest))
            for p in self.side_files(path)[1:]:  # the job record names the old path: the run lives on as a file
                p.unlink(missing_ok=True)
        return self.checkpoint_id(dest)

    def delete(self, ckpt_id: str) -> None:
        """Delete a user run (valid or not) and its side files."""
        path = self._own_run(ckpt_id)
        with self.lock():
            for p in (path, *self.side_files(path)):
                p.unlink(missing_ok=True)

    # ---- quotas ------------------------------------------------------------------------------------
    def folder_bytes(self) -> int:
        """Bytes kept under the runs folder; uploads still being checked (staging folders) do not count yet."""
        total = 0
        for dirpath, dirs, files in os.walk(self.runs_root):
            dirs[:] = [d for d in dirs if not d.startswith(STAGING_PREFIX)]
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    pass
        return total

    def upload_count(self) -> int:
        """Uploaded datasets, plus checkpoints in the runs folder that no run of this app wrote (no log)."""
        datasets = len(list(self.data_root.glob("*.npz"))) if self.data_root.is_dir() else 0
        return datasets + sum(1 for p in _files(self.runs_root) if not self.log_path(p).exists())


def _first_line(path: Path) -> dict | None:
    try:
        with open(path, "rb") as f:
            line = f.readline(64 * 1024)
        row = json.loads(line)
        return row if isinstance(row, dict) else None
    except (OSError, ValueError):
        return None


def read_listed(path: Path) -> tuple[dict | None, str | None]:
    """(metadata, None) or (None, reason) for a listed file; cached by path, size and modification time.

    Every page run lists the folder: a header is parsed and checked once per version of the file, not per visit.
    """
    try:
        st = path.stat()
    except OSError as e:
        return None, f"{path.name}: cannot read file ({e.strerror or e})"
    return _read_listed(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=2048)
def _read_listed(path: str, mtime_ns: int, size: int) -> tuple[dict | None, str | None]:
    try:
        return read_metadata(path), None
    except CheckpointError as e:
        return None, str(e)


def _files(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.glob("*" + SUFFIX) if p.is_file() and not p.name.startswith(".")]
    except OSError:
        return []


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
