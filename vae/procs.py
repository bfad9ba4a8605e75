"""Start, probe and stop background processes the same way on Linux, macOS and Windows (through psutil, not /proc).

A process is named by (pid, create_time): a pid alone can be reused by an unrelated process after ours ends,
the pair cannot.
"""

from __future__ import annotations

import os
import signal
import subprocess

import psutil

CREATE_TIME_TOLERANCE_S = 1.0  # boot time as seen by different processes can drift by a clock adjustment
NICENESS = 10  # training yields to the web server and the browser on a 2-core laptop; they stay responsive


def lower_priority(pid: int) -> None:
    """Raise a POSIX process's niceness by NICENESS (at most 19); not permitted or already gone: left as it is."""
    try:
        p = psutil.Process(pid)
        p.nice(min(19, p.nice() + NICENESS))
    except (psutil.Error, OSError):
        pass


def start(argv: list[str], *, cwd: str | os.PathLike, stderr_path: str | os.PathLike,
          env: dict[str, str] | None = None) -> tuple[subprocess.Popen, float]:
    """Start `argv` detached from the caller's terminal, at a lower priority; (the Popen, its create_time).

    Detached: Ctrl-C in the server's terminal must not stop user runs. On Windows a new process group gets the
    same effect, and CTRL_BREAK_EVENT is how `terminate` asks it to stop.
    """
    kwargs: dict = {}
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.BELOW_NORMAL_PRIORITY_CLASS
    else:
        kwargs["start_new_session"] = True
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                env=env, **kwargs)
    try:
        p = psutil.Process(proc.pid)
        created = p.create_time()
        if os.name != "nt":
            lower_priority(proc.pid)
    except psutil.NoSuchProcess:  # it ended already (e.g. a bad argument): nothing left to probe
        created = 0.0
    return proc, created


def _process(pid: object, create_time: object) -> psutil.Process | None:
    """The live process (pid, create_time) names, or None when it ended or the pid now belongs to another."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    try:
        p = psutil.Process(pid)
        if isinstance(create_time, (int, float)) and abs(p.create_time() - create_time) > CREATE_TIME_TOLERANCE_S:
            return None  # the pid was reused
        if p.status() == psutil.STATUS_ZOMBIE:  # exited, only waiting for its parent to reap it
            return None
        return p
    except psutil.NoSuchProcess:  # includes ZombieProcess
        return None
    except psutil.AccessDenied:  # another user's process: it exists, but it cannot be ours
        return None


def is_alive(pid: object, create_time: object) -> bool:
    """Whether the process (pid, create_time) is still running."""
    return _process(pid, create_time) is not None


def terminate(pid: object, create_time: object) -> bool:
    """Ask the process to stop (SIGTERM; CTRL_BREAK_EVENT on Windows). False if it was not running."""
    p = _process(pid, create_time)
    if p is None:
        return False
    try:
        if os.name == "nt":  # pragma: no cover - Windows only: TerminateProcess would give it no chance to save
            os.kill(p.pid, signal.CTRL_BREAK_EVENT)
        else:
            p.terminate()
        return True
    except (psutil.NoSuchProcess, ProcessLookupError):
        return False


def kill(pid: object, create_time: object) -> bool:
    """End the process at once. False if it was not running."""
    p = _process(pid, create_time)
    if p is None:
        return False
    try:
        p.kill()
        return True
    except psutil.NoSuchProcess:
        return False


def current() -> tuple[int, float]:
    """(pid, create_time) of this process, for a log line that lets others tell whether it still runs."""
    p = psutil.Process()
    return p.pid, p.create_time()


def stop_signals() -> tuple[int, ...]:
    """The signals a run treats as 'stop after this step and keep the checkpoint'."""
    names = ("SIGINT", "SIGTERM", "SIGBREAK")  # SIGBREAK: Windows' CTRL_BREAK_EVENT
    return tuple(getattr(signal, n) for n in names if hasattr(signal, n))
