"""Background jobs: life cycle, stop, queue with a cap, a SIGKILLed run, names that collide or escape."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from vae.checkpoint import load_checkpoint
from vae.config import ConfigError, DataConfig, ModelConfig, TrainConfig
from vae.jobs import JobManager
from vae.spec import job_spec, read_job_spec

MODEL = ModelConfig(kind="vae", latent_dim=2, hidden=(32,))
DATA = DataConfig(name="digits")
GUARD_S = 180  # only a guard against hangs; nothing asserts on time


def _train(epochs: int, **kw) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=64, seed=0, **kw)


def _wait(mgr: JobManager, job_id: str, until) -> object:
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        s = mgr.status(job_id)
        if until(s):
            return s
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached the expected state; last: {mgr.status(job_id)}")


@pytest.fixture
def mgr(tmp_path):
    m = JobManager(tmp_path / "runs", max_jobs=1)
    yield m
    m.close()
    for s in m.jobs():  # never leave training processes behind
        if s.active:
            m.stop(s.id)
    for s in m.jobs():
        if s.state == "running":
            _wait(m, s.id, lambda st: not st.active)


def test_job_spec_rebuilds_the_same_configs(tmp_path):
    model = ModelConfig(kind="ae", arch="conv", latent_dim=5, hidden=(64, 32), channels=(8, 16), likelihood="gaussian",
                        sigma=0.2, learn_sigma=True)
    train = TrainConfig(epochs=7, batch_size=33, lr=3e-4, beta=0.25, warmup_epochs=2.5, capacity=3.0, seed=11,
                        threads=2, grad_clip=1.5)
    data = DataConfig(name="digits", test_fraction=0.3, split_seed=4, split="tail", limit=100, download=False)
    path = tmp_path / "j.job.json"
    path.write_text(json.dumps(job_spec(model, train, data, tmp_path / "j.safetensors")))
    assert read_job_spec(path) == (model, train, data, tmp_path / "j.safetensors")


def test_job_spec_carries_every_config_field():
    """A field added to a config reaches the background run with no second place to edit (no hand-written argv)."""
    import dataclasses

    spec = job_spec(MODEL, _train(1), DATA, Path("x.safetensors"))
    for key, cls in (("model", ModelConfig), ("train", TrainConfig), ("data", DataConfig)):
        assert set(spec[key]) == {f.name for f in dataclasses.fields(cls)}


def test_job_spec_defaults_to_one_thread():
    assert job_spec(MODEL, _train(1), DATA, Path("x.safetensors"))["train"]["threads"] == 1


@pytest.mark.parametrize("text, why", [("[]", "expected an object"), ("{" * 100_000, "not JSON"),
                                       ('{"model": {}, "train": {}, "data": {}, "checkpoint": "/etc/passwd"}', "ending"),
                                       ('{"model": {"kind": "x"}, "train": {}, "data": {}, "checkpoint": "a.safetensors"}',
                                        "kind")])
def test_bad_job_specs_are_one_line_errors(tmp_path, capsys, text, why):
    from vae.__main__ import main

    path = tmp_path / "bad.job.json"
    path.write_text(text)
    assert main(["train", "--spec", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and why in err and err.count("\n") == 1


def test_completed_run_writes_a_loadable_checkpoint(mgr):
    job = mgr.submit(MODEL, _train(2), DATA, "done-run")
    assert job.state == "running" and job.name == "done-run"
    s = _wait(mgr, job.id, lambda st: not st.active)
    assert s.state == "done", s.message
    assert (s.epoch, s.epochs, s.fraction) == (2, 2, 1.0)
    ckpt = load_checkpoint(s.checkpoint)
    assert len(ckpt.history) == 2 and ckpt.model_config.latent_dim == 2
    assert Path(s.checkpoint).parent == mgr.root
    assert [h["epoch"] for h in mgr.history(job.id)] == [1, 2]


def test_stop_ends_with_status_stopped_and_keeps_the_checkpoint(mgr):
    job = mgr.submit(MODEL, _train(2000), DATA, "long")
    _wait(mgr, job.id, lambda st: st.epoch >= 1)  # progress lines appear while it runs
    assert mgr.status(job.id).state == "running"
    mgr.stop(job.id)
    s = _wait(mgr, job.id, lambda st: not st.active)
    assert s.state == "stopped", s.message
    ckpt = load_checkpoint(s.checkpoint)
    assert 1 <= len(ckpt.history) < 2000


def test_queue_cap_one_runs_the_second_job_after_the_first(mgr):
    a = mgr.submit(MODEL, _train(2000), DATA, "first")
    b = mgr.submit(MODEL, _train(1), DATA, "second")
    assert mgr.status(a.id).state == "running"
    s = mgr.status(b.id)
    assert s.state == "queued" and s.queue_position == 1
    mgr.stop(a.id)
    # nobody calls tick(): the manager's own thread must promote the queued job
    s = _wait(mgr, b.id, lambda st: st.state not in ("queued", "running"))
    assert s.state == "done", s.message
    assert mgr.status(a.id).state == "stopped"
    load_checkpoint(s.checkpoint)


def test_cancelling_a_queued_job_never_starts_it(mgr):
    a = mgr.submit(MODEL, _train(2000), DATA, "busy")
    b = mgr.submit(MODEL, _train(1), DATA, "cancel-me")
    mgr.stop(b.id)
    mgr.stop(a.id)
    _wait(mgr, a.id, lambda st: not st.active)
    mgr.tick()
    s = mgr.status(b.id)
    assert s.state == "stopped" and "cancelled" in s.message
    assert not Path(s.checkpoint).exists()


def test_sigkilled_run_is_failed_and_its_last_checkpoint_loads(mgr):
    job = mgr.submit(MODEL, _train(2000), DATA, "killed")
    _wait(mgr, job.id, lambda st: st.epoch >= 1)
    pid = json.loads((mgr.root / "killed.job.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    s = _wait(mgr, job.id, lambda st: not st.active)
    assert s.state == "failed" and "exited unexpectedly" in s.message
    assert len(load_checkpoint(s.checkpoint).history) >= 1
    # a fresh manager (a restarted server) reads the same verdict from the files alone
    other = JobManager(mgr.root, background=False)
    assert other.status(job.id).state == "failed"


def test_state_survives_a_new_manager(mgr):
    job = mgr.submit(MODEL, _train(2000), DATA, "survivor")
    other = JobManager(mgr.root, background=False)
    assert other.status(job.id).state == "running"
    other.stop(job.id)  # a restarted server can stop a run it did not start
    assert _wait(mgr, job.id, lambda st: not st.active).state == "stopped"


@pytest.fixture
def idle(tmp_path, monkeypatch):
    """A manager that never launches anything: naming tests need no training."""
    mgr = JobManager(tmp_path / "runs", background=False)
    mgr.max_jobs = 0  # every job stays queued
    return mgr


def test_run_names_never_collide(idle):
    (idle.root / "taken.safetensors").write_bytes(b"")  # e.g. a run trained from the CLI
    names = [idle.submit(MODEL, _train(1), DATA, n).name for n in ("same", "same", "same", "taken")]
    assert names == ["same", "same-2", "same-3", "taken-2"]
    assert all(s.state == "queued" for s in idle.jobs())
    assert [s.queue_position for s in idle.jobs()] == [4, 3, 2, 1]  # newest first, FIFO positions


@pytest.mark.parametrize("name", ["../escape", "../../etc/passwd", "/abs/path", "a/../../b"])
def test_run_names_stay_inside_the_runs_folder(idle, name):
    s = idle.submit(MODEL, _train(1), DATA, name)
    assert Path(s.checkpoint).resolve().parent == idle.root
    assert "/" not in s.name and not s.name.startswith(".")


@pytest.mark.parametrize("name", ["", "../..", "///"])
def test_empty_run_names_are_refused(idle, name):
    with pytest.raises(ConfigError) as e:
        idle.submit(MODEL, _train(1), DATA, name)
    assert e.value.field == "run_name"


def test_sweep_validates_every_beta_before_queueing(idle):
    with pytest.raises(ConfigError) as e:
        idle.submit_sweep("s", [1.0, -1.0], MODEL, _train(1), DATA)
    assert e.value.field == "beta"
    assert idle.jobs() == [] and idle.sweeps() == []


def test_sweep_names_are_unique(idle):
    assert idle.submit_sweep("my sweep", [0.5], MODEL, _train(1), DATA) == "my-sweep"
    assert idle.submit_sweep("my sweep", [1.0], MODEL, _train(1), DATA) == "my-sweep-2"
    assert [s["name"] for s in idle.sweeps()] == ["my-sweep-2", "my-sweep"]


def test_sweep_runs_one_checkpoint_per_beta(tmp_path):
    mgr = JobManager(tmp_path / "runs", max_jobs=2)  # both βs at once: the test waits for one start-up, not two
    try:
        name = mgr.submit_sweep("s", [2.0, 0.5], MODEL, _train(1), DATA)
        (info,) = mgr.sweeps()
        assert info["name"] == name and info["betas"] == [2.0, 0.5]
        jobs = mgr.jobs(sweep=name)
        assert [j.beta for j in jobs] == [2.0, 0.5] and all(j.state == "running" for j in jobs)
        for j in jobs:
            s = _wait(mgr, j.id, lambda st: not st.active)
            assert s.state == "done", s.message
            assert load_checkpoint(s.checkpoint).train_config.beta == j.beta
            assert Path(s.checkpoint).parent == mgr.root / "sweeps" / name
    finally:
        mgr.close()


def test_uploaded_npz_is_kept_under_the_runs_folder_and_validated(tmp_path):
    import io

    import numpy as np

    from vae.runs import RunStore
    from vae.uploads import UploadError, save_dataset_upload

    store = RunStore(tmp_path)
    buf = io.BytesIO()
    np.savez(buf, x=np.random.default_rng(0).integers(0, 256, (20, 12, 12), dtype=np.uint8), y=np.arange(20) % 3)
    path = save_dataset_upload(store, "../../my data.npz", buf.getvalue())
    assert path.parent == (tmp_path / "data").resolve() and path.suffix == ".npz"
    assert save_dataset_upload(store, "my data.npz", buf.getvalue()) == path  # same bytes, same file
    bad = io.BytesIO()
    np.savez(bad, images=np.zeros((4, 8, 8)))  # no array named 'x'
    with pytest.raises(UploadError, match="'x'"):
        save_dataset_upload(store, "bad.npz", bad.getvalue())
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [path.name]
