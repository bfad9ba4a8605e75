"""Process start, liveness and stop through psutil: the same code path on Linux, macOS and Windows."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from vae import procs

ROOT = Path(__file__).resolve().parents[1]
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def _wait_dead(pid, created, guard_s=20.0):
    deadline = time.monotonic() + guard_s
    while procs.is_alive(pid, created) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not procs.is_alive(pid, created)


def test_start_probe_and_terminate_a_detached_child(tmp_path):
    proc, created = procs.start(SLEEPER, cwd=tmp_path, stderr_path=tmp_path / "err.txt")
    try:
        assert created == pytest.approx(psutil.Process(proc.pid).create_time())
        assert procs.is_alive(proc.pid, created)
        assert psutil.Process(proc.pid).nice() >= psutil.Process().nice() + 1  # lower priority than the server
        assert procs.terminate(proc.pid, created)
        proc.wait(20)
        assert not procs.is_alive(proc.pid, created)
        assert not procs.terminate(proc.pid, created)  # nothing left to stop
    finally:
        proc.kill()


def test_a_reused_pid_is_not_our_process(tmp_path):
    """The pid of a run that ended can belong to someone else later: the create time tells them apart."""
    me, my_created = procs.current()
    assert procs.is_alive(me, my_created)
    assert not procs.is_alive(me, my_created - 3600)  # same pid, another start time: not the process we started
    assert not procs.terminate(me, my_created - 3600)  # and never signalled


def test_an_unreaped_child_reads_as_ended(tmp_path):
    """A zombie (exited, not yet waited for) must not keep a run 'running' forever."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    created = psutil.Process(proc.pid).create_time()
    deadline = time.monotonic() + 20
    while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert not procs.is_alive(proc.pid, created)
    finally:
        proc.wait()


@pytest.mark.parametrize("pid", [None, 0, -1, True, "123", 2**40])
def test_bad_pids_from_a_spec_file_are_not_alive(pid):
    assert not procs.is_alive(pid, None)
    assert not procs.kill(pid, None)


def test_liveness_never_reads_proc_itself(monkeypatch, tmp_path):
    """The platform-neutral path: no /proc parsing in our code; what psutil says is the whole verdict.

    A fake psutil stands in for a platform's process table, so the decision logic is checked without Linux.
    """
    import re

    for name in ("procs.py", "jobs.py", "runs.py"):
        assert not re.search(r"[\"']/proc", (ROOT / "vae" / name).read_text()), name  # no "/proc..." path literal

    class FakeProcess:
        table = {41: (100.0, "running"), 42: (200.0, "zombie"), 43: "denied"}

        def __init__(self, pid):
            if pid not in self.table:
                raise psutil.NoSuchProcess(pid)
            if self.table[pid] == "denied":
                raise psutil.AccessDenied(pid)
            self.pid = pid

        def create_time(self):
            return self.table[self.pid][0]

        def status(self):
            return self.table[self.pid][1]

    monkeypatch.setattr(procs.psutil, "Process", FakeProcess)
    assert procs.is_alive(41, 100.0) and procs.is_alive(41, 100.4)  # within the clock-drift tolerance
    assert not procs.is_alive(41, 150.0)  # reused pid
    assert not procs.is_alive(42, 200.0)  # zombie
    assert not procs.is_alive(43, None)  # someone else's process
    assert not procs.is_alive(44, None)  # gone


def test_stop_signals_include_the_windows_break():
    import signal

    assert signal.SIGTERM in procs.stop_signals() and signal.SIGINT in procs.stop_signals()
    if hasattr(signal, "SIGBREAK"):  # pragma: no cover - Windows
        assert signal.SIGBREAK in procs.stop_signals()
