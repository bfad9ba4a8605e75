"""β page with seeds (AppTest): a β × seed sweep folder as `python -m vae sweep` writes it, in the runs folder, shows
each β's median with its interquartile cross, every seed, and a table of every trial."""

from __future__ import annotations

import json
import statistics

import pytest
from streamlit.testing.v1 import AppTest

from test_page_beta_sweep import _plane
from vae.checkpoint import read_metadata
from vae.config import DataConfig, ModelConfig, TrainConfig

BETAS, SEEDS = (1.0, 4.0), (0, 1, 2)


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    """Independent of the page's numpy: the stdlib's linear-interpolation ('inclusive') quartiles."""
    q25, med, q75 = statistics.quantiles(sorted(values), n=4, method="inclusive")
    return q25, med, q75


@pytest.fixture
def seed_sweep(runs_dir):
    """2 β × 3 seeds of 1-epoch digits VAEs in runs/sweeps/seeds, made by the sweep module's own pieces in-process
    (the CLI runs the same `run_trial` in child processes)."""
    from vae.sweep import SweepFile, make_plan, trials
    from vae.trial import run_trial

    plan = make_plan(runs_dir / "sweeps" / "seeds", BETAS, SEEDS, ModelConfig(latent_dim=2, hidden=(32,)),
                     TrainConfig(epochs=1, batch_size=64, threads=1), DataConfig(name="digits"))
    plan.folder.mkdir(parents=True)
    grid = trials(plan)
    sweep = SweepFile(plan, grid)
    for t in grid:
        rec = run_trial(t)
        assert rec["status"] == "done", rec["message"]
        sweep.record(rec)
    return plan.folder


def _traces(at: AppTest) -> dict:
    return {t.get("name"): t for t in _plane(at)["data"]}


def test_plane_shows_median_and_interquartile_cross_over_seeds(seed_sweep):
    at = AppTest.from_file("../app.py", default_timeout=90)
    at.run()
    at.switch_page("pages/beta_sweep.py").run()
    at.selectbox(key="beta_pick").set_value("seeds").run()
    assert not at.exception, at.exception
    traces = _traces(at)
    runs, seeds = traces["runs"], traces["seeds"]
    assert runs["text"] == ["β=1", "β=4"]
    for i, beta in enumerate(BETAS):
        tests = [read_metadata(seed_sweep / f"beta-{beta:g}-seed-{s}.safetensors")["history"][-1]["test"]
                 for s in SEEDS]
        for axis, key, err in (("x", "kl", "error_x"), ("y", "recon", "error_y")):
            q25, med, q75 = _quartiles([t[key] for t in tests])
            assert runs[axis][i] == pytest.approx(med, rel=1e-9)
            assert runs[err]["array"][i] == pytest.approx(q75 - med, rel=1e-9, abs=1e-12)
            assert runs[err]["arrayminus"][i] == pytest.approx(med - q25, rel=1e-9, abs=1e-12)
        assert q75 > q25  # the seeds really differ: a cross with arms
    assert sorted(seeds["customdata"]) == sorted(f"sweep/seeds/beta-{b:g}-seed-{s}" for b in BETAS for s in SEEDS)
    (table,) = at.dataframe
    assert len(table.value) == len(BETAS) * len(SEEDS)
    assert list(table.value["seed"]) == [0, 1, 2, 0, 1, 2] and set(table.value["state"]) == {"done"}
    # six trials are one summary, not six coloured boxes pushing the plane off the screen
    assert not at.success and any(m.value.startswith("**6 trials**: 6 done") for m in at.markdown)


def test_mig_against_beta_draws_median_band_and_seeds():
    from ui.sweep_figures import mig_figure

    pairs = [(1.0, 0.10), (1.0, 0.30), (1.0, 0.20), (4.0, 0.05), (4.0, 0.45), (4.0, 0.15), (4.0, 0.25)]
    named = {t.name: t for t in mig_figure(pairs).data}
    assert list(named["median"].x) == [1.0, 4.0]
    for i, beta in enumerate((1.0, 4.0)):
        q25, med, q75 = _quartiles([m for b, m in pairs if b == beta])
        assert named["median"].y[i] == pytest.approx(med)
        assert named["IQR"].y[i] == pytest.approx(q25) and named["IQR top"].y[i] == pytest.approx(q75)
    assert named["IQR"].fill == "tonexty"  # the band fills down to the 25th percentile from the 75th
    assert sorted(zip(named["seeds"].x, named["seeds"].y)) == sorted(pairs)


def test_single_seed_sweeps_keep_one_point_per_beta():
    from ui.sweep_figures import rd_figure

    pts = [{"beta": b, "rate": r, "distortion": d, "id": f"sweep/s/beta-{b:g}", "state": "done"}
           for b, r, d in ((1.0, 5.0, 30.0), (4.0, 1.0, 40.0))]
    named = {t.name: t for t in rd_figure(pts).data}
    assert "seeds" not in named and named["runs"].error_x.array is None
    assert list(named["runs"].x) == [5.0, 1.0]


def test_trial_points_of_a_copied_folder_are_checked_and_killed_trials_read_stopped(tmp_path):
    from vae.sweep_points import trial_points

    folder = tmp_path / "copied"
    folder.mkdir()
    trials = [{"name": "a", "beta": 1.0, "seed": 0, "status": "running", "file": "beta-1-seed-0.safetensors"},
              {"name": "b", "beta": "1; rm -rf", "seed": 0, "status": "done", "file": "x.safetensors"},
              {"name": "c", "beta": 2.0, "seed": 0, "status": "done", "file": "../../etc/passwd"},
              {"name": "d", "beta": 2.0, "seed": 0, "status": "done", "file": "d.safetensors", "epochs": "many"},
              {"name": "e", "beta": 3.0, "seed": 0, "status": "<b>x</b>", "file": "e.safetensors", "test": [1]},
              "not an object"]
    (folder / "sweep.json").write_text(json.dumps({"name": "other-name", "trials": trials}))
    pt, odd = trial_points(folder)
    assert pt["state"] == "stopped" and "run it again" in pt["message"]
    assert pt["path"] == str(folder / "beta-1-seed-0.safetensors")
    assert odd["state"] == "failed" and odd["rate"] is None  # an unknown status and a malformed test entry


def test_the_form_queues_a_beta_by_seed_grid_with_the_cli_names(runs_dir, monkeypatch):
    """The β page's form goes through the sweep module's grid: 2 β × 2 seeds, named as the CLI names trials."""
    monkeypatch.setenv("VAE_MAX_JOBS", "1")
    monkeypatch.setenv("VAE_SINGLE_USER", "1")  # so the test may stop the runs the page's session queued
    at = AppTest.from_file("../app.py", default_timeout=90)
    at.run()
    at.switch_page("pages/beta_sweep.py").run()
    at.text_input(key="beta_list").set_value("4, 1")
    at.text_input(key="beta_seeds").set_value("0, 1")
    at.number_input(key="beta_epochs").set_value(1)
    at.text_input(key="beta_name").set_value("grid")
    at.button(key="beta_run").click().run()
    assert not at.exception and not at.error
    from ui.jobs_ui import job_manager

    jobs = job_manager().jobs(sweep="grid")
    try:
        assert sorted(j.name for j in jobs) == ["beta-1-seed-0", "beta-1-seed-1", "beta-4-seed-0", "beta-4-seed-1"]
        assert sorted((j.beta, j.seed) for j in jobs) == [(1.0, 0), (1.0, 1), (4.0, 0), (4.0, 1)]
    finally:
        for j in jobs:
            job_manager().stop(j.id)
    at.text_input(key="beta_seeds").set_value("0, x").run()
    at.button(key="beta_run").click().run()
    assert any("whole numbers" in e.value for e in at.error)


def test_an_app_sweep_on_data_with_factors_shows_each_trials_mig(runs_dir, monkeypatch):
    """A β × seed sweep of the job queue (what the β page's form submits) on 300 shapes images: the trials table
    gives each trial the MIG its checkpoint measures (binned means, test split), as a CLI sweep's table does."""
    import time

    import torch

    from ui.jobs_ui import job_manager
    from vae import data as data_mod
    from vae.checkpoint import load_checkpoint
    from vae.metrics import dataset_factor_scores

    monkeypatch.setenv("VAE_MAX_JOBS", "2")
    data = DataConfig(name="shapes", limit=300)
    mgr = job_manager()
    name = mgr.submit_sweep("factors", [1.0], ModelConfig(latent_dim=3, hidden=(32,)),
                            TrainConfig(epochs=1, batch_size=64, threads=1), data, seeds=[0, 1])
    deadline = time.monotonic() + 300  # a guard against hangs only; nothing asserts on time
    while any(j.active for j in mgr.jobs(sweep=name)) and time.monotonic() < deadline:
        time.sleep(0.5)
    jobs = sorted(mgr.jobs(sweep=name), key=lambda j: j.seed)
    assert [j.state for j in jobs] == ["done", "done"], [j.message for j in jobs]
    at = AppTest.from_file("../app.py", default_timeout=120)
    at.run()
    at.switch_page("pages/beta_sweep.py").run()
    at.selectbox(key="beta_pick").set_value(name).run()
    assert not at.exception, at.exception
    (table,) = at.dataframe
    test = data_mod.load(data).test
    with torch.no_grad():
        want = [dataset_factor_scores(load_checkpoint(j.checkpoint).model, test).mig for j in jobs]
    assert list(table.value["seed"]) == [0, 1]
    assert list(table.value["MIG"]) == pytest.approx(want, abs=1e-9)
    assert all(0 <= m <= 1 for m in want)


def _progress_app() -> None:
    from ui.sweep_ui import progress_lines

    base = {"epochs": 10, "message": "", "fraction": 0.0, "epoch": 0}
    progress_lines([{**base, "beta": 1.0, "seed": s, "state": "done", "epoch": 10, "fraction": 1.0} for s in (0, 1)]
                   + [{**base, "beta": 2.0, "seed": 0, "state": "running", "epoch": 4, "fraction": 0.42},
                      {**base, "beta": 2.0, "seed": 1, "state": "failed", "message": "NaN at *step* 3"},
                      {**base, "beta": 4.0, "seed": 0, "state": "queued"}])


def test_a_grid_in_progress_lists_every_trial_that_is_not_done_in_one_element():
    at = AppTest.from_function(_progress_app, default_timeout=30).run()
    assert not at.exception, at.exception
    (block,) = at.markdown
    lines = block.value.split("  \n")
    assert lines[0] == "**5 trials**: 2 done · 1 failed · 1 queued · 1 running"
    assert any("β=2, seed 0: running, epoch 4/10 (42%)" in ln for ln in lines)
    assert any("β=2, seed 1: failed" in ln and "\\*step\\*" in ln for ln in lines)  # the message escaped
    assert not any("seed 0: done" in ln or "seed 1: done" in ln for ln in lines[1:])


def test_a_cli_trial_without_mig_in_sweep_json_gets_its_checkpoints(tmp_path, monkeypatch):
    """A trial stopped after its last epoch but before its MIG was written is rebuilt on resume without MIG: the
    table then shows the checkpoint's, as the MIG plot beside it does, and never invents one."""
    import ui.sweep_ui as S

    ckpt = tmp_path / "beta-1-seed-0.safetensors"
    ckpt.write_bytes(b"stands in for a checkpoint")
    monkeypatch.setattr(S, "mig_of", lambda path: 0.25 if path == str(ckpt) else None)
    done = {"state": "done", "path": str(ckpt), "mig": None}
    assert S._cli_mig(done) == 0.25
    assert S._cli_mig({**done, "mig": 0.5}) == 0.5  # sweep.json's own figure wins
    assert S._cli_mig({**done, "state": "stopped"}) is None
    assert S._cli_mig({**done, "path": str(tmp_path / "gone.safetensors")}) is None
