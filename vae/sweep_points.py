"""A sweep folder (an app or CLI sweep's sweep.json, maybe copied in from a cluster) as the β page draws it: one
point per trial with its state, progress, test rate and distortion, and MIG where the data has factors."""

from __future__ import annotations

import os
import re
from pathlib import Path

from vae.runs import SEGMENT
from vae.sweep import STATES, SWEEP_FILE, is_running, read_sweep


def trial_points(folder: str | os.PathLike) -> list[dict]:
    """The trials of a CLI sweep folder as the β page draws them: state, progress, test rate and distortion.

    A trial still "queued" or "running" in sweep.json while no process holds the folder was cut short (the
    sweep was killed): it reads "stopped", and running the same sweep again trains it.
    """
    folder = Path(folder)
    info = read_sweep(folder) or {}
    live = is_running(folder)
    train = info.get("train") if isinstance(info.get("train"), dict) else {}
    trials = info.get("trials") if isinstance(info.get("trials"), list) else []
    out = []
    for t in trials:
        if not (isinstance(t, dict) and isinstance(t.get("file"), str) and re.fullmatch(SEGMENT, t["file"])
                and isinstance(t.get("beta"), (int, float)) and not isinstance(t.get("beta"), bool)):
            continue  # a copied-in sweep.json is input like any other: a trial names a file of this folder only
        try:
            out.append(_point(folder, t, train, live))
        except (TypeError, ValueError, AttributeError):  # a field of the wrong type: that trial is not shown
            continue
    return out


def _point(folder: Path, t: dict, train: dict, live: bool) -> dict:
    from vae.run import log_path_for, read_log

    path = folder / t["file"]
    rows = read_log(log_path_for(path))
    epochs = [r for r in rows if r.get("event") == "epoch"]
    last = next((r for r in reversed(rows) if r.get("event") in ("step", "epoch")), None)
    test = (epochs[-1].get("test") if epochs else None) or t.get("test")
    test = test if isinstance(test, dict) else {}
    seed = t.get("seed") if isinstance(t.get("seed"), int) and not isinstance(t.get("seed"), bool) else None
    state, message = str(t.get("status")), str(t.get("message") or "")[:500]
    if state not in STATES:
        state, message = "failed", f"unknown status {state[:20]!r} in {SWEEP_FILE}"
    if state in ("queued", "running") and not live:
        state, message = "stopped", "the sweep process ended before this trial finished; run it again"
    total = int(train.get("epochs") or len(epochs) or 1)
    fraction = 1.0 if state == "done" else (last["step"] / last["total_steps"] if last and last.get("total_steps")
                                            else 0.0)
    return {"beta": float(t["beta"]), "seed": seed, "state": state, "message": message,
            "epoch": len(epochs) or int(t.get("epochs") or 0), "epochs": total, "fraction": float(fraction),
            "path": str(path), "rate": _num(test.get("kl")), "distortion": _num(test.get("recon")),
            "mig": _num(t.get("mig"))}


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
