"""The local backend of `python -m vae sweep`: each trial is a child process `python -m vae.trial`, up to
--max-parallel at once, with the host's cores split evenly between them (torch threads per trial)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from pathlib import Path

from vae.runs import STDERR_SUFFIX
from vae.trial import NOT_RUN, ROOT, cores, trial_record


def run_local(plan, todo: list[dict], record: Callable[[dict], None], stop: threading.Event) -> None:
    """Up to plan.max_parallel child processes at once (plan: a vae.sweep.SweepPlan), the cores split evenly."""
    parallel = min(plan.max_parallel, len(todo))
    threads = plan.train.threads or max(1, cores() // parallel)
    children: set[subprocess.Popen] = set()
    guard = threading.Lock()

    def one(trial: dict) -> None:
        if stop.is_set():
            record(trial_record(trial, "stopped", NOT_RUN))
            return
        record(trial_record(trial, "running"))
        trial = {**trial, "spec": {**trial["spec"], "train": {**trial["spec"]["train"], "threads": threads}}}
        ckpt = Path(trial["spec"]["checkpoint"])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        with open(ckpt.with_name(ckpt.stem + STDERR_SUFFIX), "wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "vae.trial", json.dumps(trial)], cwd=ROOT, env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        with guard:
            children.add(proc)
        out, _ = proc.communicate()
        with guard:
            children.discard(proc)
        try:
            rec = parse_child(trial, proc.returncode, out, ckpt)
        except Exception as e:  # a failed trial, whatever failed, never stops the others
            rec = trial_record(trial, "failed", f"{type(e).__name__}: {e}")
        record(rec)

    def forward_stop() -> None:  # SIGINT/SIGTERM of the sweep: each running trial stops between steps
        stop.wait()
        with guard:
            for proc in children:
                proc.terminate()

    threading.Thread(target=forward_stop, daemon=True).start()
    with ThreadPoolExecutor(parallel, thread_name_prefix="vae-trial") as ex:
        list(ex.map(one, todo))


def parse_child(trial: dict, code: int, out: bytes, ckpt: Path) -> dict:
    """The record a child printed, or a failed one with its exit and the last line it wrote to stderr."""
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        rec = json.loads(lines[-1])
        if isinstance(rec, dict) and rec.get("name") == trial["name"]:
            return rec
    except (IndexError, ValueError):
        pass
    try:
        with open(ckpt.with_name(ckpt.stem + STDERR_SUFFIX), "rb") as f:  # the last 4 KB: a child's stderr can be large
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            tail = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        tail = []
    why = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
    return trial_record(trial, "failed", f"the trial's process ended without a result ({why})"
                        + (f": {tail[-1][:300]}" if tail else ""))
