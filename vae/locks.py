"""Exclusive file operations for a folder that several server processes share: one lock per lock file, held across
processes (flock) and threads (an RLock: flock is per process), reentrant within a thread; and taking a name only
when it is free (O_EXCL, or a hard link), so two processes can never both get it."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_THREAD_LOCKS: dict[str, threading.RLock] = {}  # flock is per process: threads of one server also need a lock
_HELD = threading.local()  # lock files this thread holds: a nested folder_lock() must not flock again


@contextmanager
def folder_lock(lock_path: Path) -> Iterator[None]:
    """Exclusive across the threads and processes that lock `lock_path`; released when the block ends or the
    process dies."""
    key = str(lock_path)
    held = _HELD.__dict__.setdefault("paths", set())
    if key in held:
        yield
        return
    with _THREAD_LOCKS.setdefault(key, threading.RLock()), open(lock_path, "a+b") as f:
        _lock_file(f)  # released when the file closes, also if this process dies
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)


def create_exclusive(path: Path) -> bool:
    """Create `path` empty, failing (False) if anything has that name already: the name is then taken."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        return True
    except FileExistsError:
        return False


def link_exclusive(src: Path, dest: Path) -> bool:
    """Give `src` a second name `dest`, failing (False) instead of overwriting; atomic on every platform we run on."""
    try:
        os.link(src, dest)
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: an exclusive create keeps the name, then a copy fills it
        if not create_exclusive(dest):
            return False
        import shutil

        shutil.copyfile(src, dest)
        return True


def _lock_file(f) -> None:
    try:
        import fcntl

        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
