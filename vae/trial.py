"""One sweep trial: a (β, seed) run through the one training path, then its final figures and MIG as a JSON record.

`run_trial` is what every backend runs: the local backend in a child process (`python -m vae.trial TRIAL_JSON`,
which prints the record as its last stdout line), Ray Tune inside its trainable. A trial never raises: whatever
goes wrong becomes status "failed" with a message, so one bad trial cannot stop the others.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from vae.config import DataConfig, ModelConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[1]  # children and Ray workers run here, so they import this package
NOT_RUN = "the sweep stopped before this trial started"
FINAL_KEYS = ("recon", "kl", "elbo")
MIG_KEYS = ("mig", "mig_no_shape", "mig_sampled", "mig_sampled_no_shape")  # vae/mig.py mig_report


def trial_record(trial: dict, status: str, message: str = "", **fields) -> dict:
    """The sweep.json entry of a trial: its identity from `trial`, its outcome from the rest."""
    base = {k: trial[k] for k in ("name", "beta", "seed", "checkpoint", "file")}
    return {**base, "status": status, "message": message, "final": None, "test": None,
            **{k: None for k in MIG_KEYS}, "wall_s": None, "epochs": 0, **fields}


def cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def run_trial(trial: dict, stop_event: threading.Event | None = None) -> dict:
    """Train trial["spec"] (a vae.jobs job spec) and return its record; never raises."""
    t0 = time.perf_counter()
    try:
        from vae.run import run_training
        from vae.spec import check_out

        spec = trial["spec"]
        model, train = ModelConfig.from_dict(spec["model"]), TrainConfig.from_dict(spec["train"])
        data, out = DataConfig.from_dict(spec["data"]), Path(spec["checkpoint"])
        check_out(out, None)  # never overwrite a file that is not one of our checkpoints
        summary = run_training(model, train, data, out, stop_event=stop_event)
        status, message = summary["status"], summary["message"] or ""
        if status == "diverged":  # the NaN guard stopped it: for a sweep that is a failed trial, with the reason
            status = "failed"
        final = summary["final"] or {}
        fields = {"final": {k: final.get(k) for k in FINAL_KEYS}, "test": final.get("test"),
                  "epochs": summary["epochs"]}
        if status == "done":
            fields.update(_mig(out, data, train.seed))
    except BaseException as e:  # a trial's failure is its record, never the sweep's end
        if isinstance(e, KeyboardInterrupt):
            return trial_record(trial, "stopped", "interrupted", wall_s=round(time.perf_counter() - t0, 3))
        return trial_record(trial, "failed", str(e) or type(e).__name__, wall_s=round(time.perf_counter() - t0, 3))
    return trial_record(trial, status, message, wall_s=round(time.perf_counter() - t0, 3), **fields)


def _mig(checkpoint: Path, data: DataConfig, seed: int) -> dict:
    """Both MIG estimators (vae/mig.py) where the dataset has known factors; {} elsewhere."""
    from vae import data as data_mod
    from vae.checkpoint import load_checkpoint
    from vae.mig import mig_report

    ckpt = load_checkpoint(checkpoint)
    split = data_mod.load(data)
    if split.test.factors is None or not ckpt.model.generative:
        return {}
    return {k: v for k, v in mig_report(ckpt.model, split, seed=seed).items() if k in MIG_KEYS}


def main(argv: list[str]) -> int:
    """The local backend's child: stop between steps on SIGINT/SIGTERM or when the sweep process is gone."""
    from vae.procs import stop_signals

    trial = json.loads(argv[0])
    stop = threading.Event()
    for sig in stop_signals():
        signal.signal(sig, lambda *_: stop.set())
    parent = os.getppid()

    def orphan_watch() -> None:  # a killed sweep must not leave trials writing into a folder it will rerun
        while not stop.wait(1.0):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=orphan_watch, daemon=True).start()
    record = run_trial(trial, stop)
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
