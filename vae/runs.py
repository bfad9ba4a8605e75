"""The run store: the one owner of the runs folder (checkpoint IDs, listing, naming, reservations, uploads, rename/delete).

A checkpoint ID names a file without being a path: "demo/<stem>" (bundled demos), "run/<stem>" (user runs and
uploads) and "sweep/<sweep>/<stem>" (β-sweep runs). Strings that come from a browser are only ever passed to
`RunStore.resolve`, which checks them against a strict pattern and looks only inside the store's own folders.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import NamedTuple

from vae.checkpoint import SUFFIX, CheckpointError, read_metadata

SWEEPS = "sweeps"
SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}"  # no leading dot: neither "..", "." nor hidden files
ID_PATTERN = re.compile(rf"(?:demo|run)/{SEGMENT}|sweep/{SEGMENT}/{SEGMENT}")
MAX_ID_CHARS = 3 * 64 + 10


class RunStoreError(Exception):
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

    def __init__(self, runs_root: str | os.PathLike, demo_root: str | os.PathLike):
        self.runs_root = Path(runs_root).resolve()
        self.demo_root = Path(demo_root).resolve()
        self.sweeps_root = self.runs_root / SWEEPS

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
