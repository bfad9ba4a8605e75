"""`python -m vae sweep`: a 2 × 2 digits grid of 1-epoch trials through the local backend and Ray Tune, resumed,
with a failing trial and a trial killed mid-way; checkpoints and sweep.json must agree."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vae.__main__ import main
from vae.checkpoint import read_metadata
from vae.runs import RunStore
from vae.trial import MIG_KEYS

ROOT = Path(__file__).resolve().parents[1]
GRID = ["--data", "digits", "--betas", "1,4", "--seeds", "0,1", "--epochs", "1", "--hidden", "32", "--threads", "1"]
NAMES = ["beta-1-seed-0", "beta-1-seed-1", "beta-4-seed-0", "beta-4-seed-1"]
JUNK = b"not a checkpoint: a file the sweep must not overwrite"


def _sweep(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vae", "sweep", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _trials(folder: Path) -> dict[str, dict]:
    return {t["name"]: t for t in json.loads((folder / "sweep.json").read_text())["trials"]}


def _plant_junk(folder: Path, name: str) -> None:
    (folder / f"{name}.safetensors").write_bytes(JUNK)


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    """β=1 seed 0 trained alone first; then the 2 × 2 grid with a junk file where β=4 seed 0's checkpoint goes."""
    folder = tmp_path_factory.mktemp("sweeps") / "grid"
    first = _sweep(*GRID[:3], "1", *GRID[4:5], "0", *GRID[6:], "--out", str(folder))
    assert first.returncode == 0, first.stderr
    before = (folder / "beta-1-seed-0.safetensors").stat().st_mtime_ns
    _plant_junk(folder, "beta-4-seed-0")
    grid = _sweep(*GRID, "--out", str(folder), "--max-parallel", "2")
    return folder, before, grid


def test_checkpoints_and_sweep_json_agree(local_grid):
    folder, _, _ = local_grid
    trials = _trials(folder)
    assert sorted(trials) == NAMES
    for name in ("beta-1-seed-0", "beta-1-seed-1", "beta-4-seed-1"):
        t = trials[name]
        meta = read_metadata(folder / t["file"])
        last = meta["history"][-1]
        assert t["status"] == "done" and meta["status"] == "done"
        assert (meta["train"]["beta"], meta["train"]["seed"]) == (t["beta"], t["seed"])
        assert t["final"] == {k: last[k] for k in ("recon", "kl", "elbo")}
        assert t["test"]["recon"] == last["test"]["recon"] and t["epochs"] == len(meta["history"]) == 1
        assert t["wall_s"] > 0 and t["mig"] is None  # digits has no known factors
        assert (folder / f"{name}.log.jsonl").exists()
    assert trials["beta-1-seed-0"]["final"] != trials["beta-4-seed-1"]["final"]


def test_failed_trial_is_marked_and_the_others_finish(local_grid):
    folder, _, grid = local_grid
    assert grid.returncode == 1  # not every trial is done
    bad = _trials(folder)["beta-4-seed-0"]
    assert bad["status"] == "failed" and "not a checkpoint of this app" in bad["message"]
    assert (folder / "beta-4-seed-0.safetensors").read_bytes() == JUNK  # refused, never overwritten
    assert sum(t["status"] == "done" for t in _trials(folder).values()) == 3
    summary = json.loads(grid.stdout.strip().splitlines()[-1])
    assert (summary["done"], summary["failed"]) == (3, 1)


def test_rerun_skips_done_trials(local_grid):
    folder, before, _ = local_grid
    assert (folder / "beta-1-seed-0.safetensors").stat().st_mtime_ns == before  # done in the first run: skipped


def test_folder_opens_as_a_sweep_of_the_run_store(local_grid, tmp_path):
    """Copied into a runs folder's sweeps/, every trial's ID resolves to its checkpoint."""
    folder, _, _ = local_grid
    runs = tmp_path / "runs"
    shutil.copytree(folder, runs / "sweeps" / folder.name)
    store = RunStore(runs)
    for t in _trials(folder).values():
        if t["status"] == "done":
            assert store.resolve(t["checkpoint"]).name == t["file"]
            assert store.checkpoint_id(store.resolve(t["checkpoint"])) == t["checkpoint"]


def _wait_for_line(log: Path, event: str, timeout: float = 120) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for line in log.read_text().splitlines() if log.exists() else []:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if row.get("event") == event:
                return row
        time.sleep(0.02)
    raise AssertionError(f"no {event!r} line in {log.name}")


def _long_trials(folder: Path) -> list[str]:
    """A 2-trial grid whose trials last long enough to be hit between their first checkpoint and their end."""
    return [*GRID[:5], "0", "--epochs", "6", "--batch-size", "8", "--hidden", "256,256", "--threads", "1",
            "--out", str(folder)]


def test_ctrl_c_stops_the_running_trial_between_steps_and_starts_no_other(tmp_path):
    folder = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "vae", "sweep", *_long_trials(folder)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_line(folder / "beta-1-seed-0.log.jsonl", "checkpoint")
    proc.send_signal(signal.SIGINT)  # the sweep process only: it asks its running trial to stop
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    first, second = _trials(folder)["beta-1-seed-0"], _trials(folder)["beta-4-seed-0"]
    assert first["status"] == "stopped" and 1 <= first["epochs"] < 6, first
    assert read_metadata(folder / "beta-1-seed-0.safetensors")["status"] == "stopped"  # its last epoch is kept
    assert second["status"] == "stopped" and "before this trial started" in second["message"]
    assert not (folder / "beta-4-seed-0.safetensors").exists()


def test_a_trial_killed_midway_is_rerun_and_done_ones_are_not(tmp_path):
    folder = tmp_path / "killed"
    args = _long_trials(folder)
    proc = subprocess.Popen([sys.executable, "-m", "vae", "sweep", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    log = folder / "beta-1-seed-0.log.jsonl"
    start = _wait_for_line(log, "start")
    _wait_for_line(log, "checkpoint")  # epoch 1 is on disk, marked running
    os.kill(start["pid"], signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    killed = _trials(folder)["beta-1-seed-0"]
    assert killed["status"] == "failed" and "signal 9" in killed["message"], err
    assert read_metadata(folder / "beta-1-seed-0.safetensors")["status"] == "running"
    assert _trials(folder)["beta-4-seed-0"]["status"] == "done"
    done_mtime = (folder / "beta-4-seed-0.safetensors").stat().st_mtime_ns

    again = _sweep(*args)
    assert again.returncode == 0, again.stderr
    assert {t["status"] for t in _trials(folder).values()} == {"done"}
    assert read_metadata(folder / "beta-1-seed-0.safetensors")["status"] == "done"
    assert len(read_metadata(folder / "beta-1-seed-0.safetensors")["history"]) == 6
    assert (folder / "beta-4-seed-0.safetensors").stat().st_mtime_ns == done_mtime  # not trained again


@pytest.mark.parametrize("args, field", [
    (["--betas", "1,-4"], "beta"),
    (["--betas", "1", "--lr", "0"], "lr"),
    (["--betas", "1", "--model", "ae"], "model"),
    (["--betas", "1", "--backend", "slurm"], "backend"),
    (["--betas", "1", "--max-parallel", "0"], "max_parallel"),
    (["--betas", "1", "--data", "no-such-data"], "data"),
    (["--betas", "1,1.0000001"], "betas"),  # both would be trial beta-1-seed-0: one file, two records
    (["--betas", "0.3,0.30000000000000004"], "betas"),  # 0.3 and 0.1 + 0.2
    (["--betas", "1,4,1"], "betas"),
    (["--betas", "1", "--seeds", "0,1,0"], "seeds"),
    (["--betas", "1", "--cpus-per-trial", "2"], "cpus_per_trial"),  # Ray's: ignored by the local backend
    (["--betas", "1", "--gpus-per-trial", "0.5"], "gpus_per_trial"),
    (["--betas", "1", "--ray-address", "ray://head:10001"], "ray_address"),
])
def test_bad_flags_are_refused_before_any_trial(tmp_path, capsys, args, field):
    folder = tmp_path / "bad"
    assert main(["sweep", *args, "--epochs", "1", "--out", str(folder)]) == 2
    assert f"invalid {field}" in capsys.readouterr().err
    assert not list(folder.glob("*.safetensors")) and not (folder / "sweep.json").exists()


def test_clashing_trial_names_and_ray_only_flags_are_named_in_one_line(tmp_path, capsys):
    assert main(["sweep", "--betas", "0.3,0.30000000000000004", "--seeds", "2", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "0.3 and 0.30000000000000004" in err and "beta-0.3-seed-2" in err and err.count("\n") == 1
    assert main(["sweep", "--betas", "1", "--gpus-per-trial", "0.5", "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert "--gpus-per-trial" in err and "--backend local" in err and err.count("\n") == 1
    assert not (tmp_path / "c").exists() and not (tmp_path / "g").exists()


def test_a_diverged_trial_is_marked_failed_with_the_reason(tmp_path):
    """The NaN guard's "diverged" is, for a sweep, a failed trial whose message says why (and what to try)."""
    folder = tmp_path / "diverged"
    res = _sweep(*GRID[:3], "1", *GRID[4:5], "0", *GRID[6:], "--lr", "100", "--out", str(folder))
    assert res.returncode == 1, res.stderr
    t = _trials(folder)["beta-1-seed-0"]
    assert t["status"] == "failed" and "training diverged" in t["message"] and "lower learning rate" in t["message"]
    assert json.loads(res.stdout.strip().splitlines()[-1])["failed"] == 1


def test_sweep_json_holds_mig_where_the_data_has_factors(tmp_path):
    """A 1-epoch trial on 300 shapes images: both MIG estimators, with and without shape, in [0, 1]."""
    folder = tmp_path / "shapes"
    res = _sweep("--data", "shapes", "--limit", "300", "--betas", "1", "--seeds", "0", "--epochs", "1", "--hidden",
                 "32", "--latent-dim", "3", "--threads", "1", "--out", str(folder))
    assert res.returncode == 0, res.stderr
    t = _trials(folder)["beta-1-seed-0"]
    assert t["status"] == "done"
    for key in MIG_KEYS:
        assert isinstance(t[key], float) and 0 <= t[key] <= 1, (key, t[key])


def test_grid_quota(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VAE_MAX_SWEEP_TRIALS", "3")
    assert main(["sweep", "--betas", "1,4", "--seeds", "0,1", "--out", str(tmp_path / "q")]) == 2
    assert "at most 3 (VAE_MAX_SWEEP_TRIALS)" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()


def test_a_folder_of_another_sweep_is_refused(local_grid, capsys):
    folder, _, _ = local_grid
    before = (folder / "sweep.json").read_bytes()
    assert main(["sweep", *GRID[:-4], "--hidden", "64", "--out", str(folder)]) == 2
    assert "other settings (hidden)" in capsys.readouterr().err
    assert (folder / "sweep.json").read_bytes() == before


@pytest.mark.slow
def test_ray_backend_matches_local_bit_for_bit(local_grid, tmp_path):
    """The same grid through a local Ray instance: the same records, bit-identical weights per (β, seed), and
    the junk-blocked trial failed while the others finished."""
    pytest.importorskip("ray.tune")
    local, _, _ = local_grid
    folder = tmp_path / "ray-grid"
    folder.mkdir()
    _plant_junk(folder, "beta-4-seed-0")
    (folder / "sweep.json").write_text(json.dumps({**json.loads((local / "sweep.json").read_text()), "trials": []}))
    res = _sweep(*GRID, "--out", str(folder), "--backend", "ray", "--cpus-per-trial", "1",
                 "--max-parallel", "2")
    assert res.returncode == 1, res.stderr[-2000:]
    trials = _trials(folder)
    assert trials["beta-4-seed-0"]["status"] == "failed" and "not a checkpoint" in trials["beta-4-seed-0"]["message"]
    for name in ("beta-1-seed-0", "beta-1-seed-1", "beta-4-seed-1"):
        assert trials[name]["status"] == "done"
        assert trials[name]["final"] == _trials(local)[name]["final"]
        ours, theirs = load_file(folder / f"{name}.safetensors"), load_file(local / f"{name}.safetensors")
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert not (folder / ".tune").exists()  # Tune's own state is removed when the sweep ends
    # resumed through Ray: only the trial whose checkpoint was removed trains again (and the junk-blocked one fails
    # again); the finished ones are not touched
    (folder / "beta-1-seed-1.safetensors").unlink()
    kept = {n: (folder / f"{n}.safetensors").stat().st_mtime_ns for n in ("beta-1-seed-0", "beta-4-seed-1")}
    again = _sweep(*GRID, "--out", str(folder), "--backend", "ray", "--cpus-per-trial", "1", "--max-parallel", "2")
    assert again.returncode == 1, again.stderr[-2000:]
    assert {n: (folder / f"{n}.safetensors").stat().st_mtime_ns for n in kept} == kept
    trials = _trials(folder)
    assert trials["beta-1-seed-1"]["status"] == "done" and trials["beta-4-seed-0"]["status"] == "failed"
    ours, theirs = load_file(folder / "beta-1-seed-1.safetensors"), load_file(local / "beta-1-seed-1.safetensors")
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert (folder / "beta-4-seed-0.safetensors").read_bytes() == JUNK
