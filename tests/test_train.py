"""The training loop: learning, determinism, schedules, NaN guard, stop event and exact resume."""

from __future__ import annotations

import math
import threading

import pytest
import torch

import vae.train as train_mod
from vae.checkpoint import load_checkpoint, read_metadata
from vae.config import ConfigError, DataConfig, ModelConfig, TrainConfig
from vae.data import load
from vae.model import build_model
from vae.run import log_path_for, read_log, run_training

MODEL = ModelConfig(hidden=(32,))
DATA = DataConfig()


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 2, "batch_size": 64, "threads": 1, "seed": 0, **kw})


@pytest.fixture(scope="module")
def digits_x():
    return load(DATA).train.x


def _fresh(seed=0, cfg=MODEL):
    torch.manual_seed(seed)
    return build_model(cfg)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_smoke_training_lowers_the_loss(digits_x):
    model = _fresh()
    result = train_mod.train(model, digits_x, _cfg(epochs=4))
    losses = [h["loss"] for h in result.history]
    assert result.status == "done" and [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    assert losses[-1] < losses[0] - 5, losses  # nats per image on 64-pixel digits
    h = result.history[-1]
    assert h["kl"] >= 0 and math.isclose(h["elbo"], -(h["recon"] + h["kl"]), rel_tol=1e-6)
    assert math.isclose(sum(h["kl_per_dim"]), h["kl"], rel_tol=1e-4)


def test_same_seed_same_weights(digits_x):
    a, b, c = _fresh(), _fresh(), _fresh()
    train_mod.train(a, digits_x, _cfg())
    train_mod.train(b, digits_x, _cfg())
    train_mod.train(c, digits_x, _cfg(seed=1))
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert any(not torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())


def test_warmup_and_capacity_schedules(digits_x, monkeypatch):
    seen = []
    real = train_mod.elbo_terms

    def spy(*args, **kw):
        seen.append((kw["beta"], kw["capacity"]))
        return real(*args, **kw)

    monkeypatch.setattr(train_mod, "elbo_terms", spy)
    n_steps = math.ceil(len(digits_x) / 64)
    train_mod.train(_fresh(), digits_x, _cfg(epochs=3, beta=4.0, warmup_epochs=2.0, capacity=10.0, capacity_epochs=1.0))
    assert len(seen) == 3 * n_steps
    for step, (beta, capacity) in enumerate(seen):
        progress = step / n_steps  # epochs done when this step starts
        assert beta == pytest.approx(4.0 * min(1.0, progress / 2.0))
        assert capacity == pytest.approx(10.0 * min(1.0, progress))
    assert seen[0] == (0.0, 0.0) and seen[-1] == (4.0, 10.0)


def test_nan_guard_from_the_start(digits_x):
    model = _fresh()
    start = _weights(model)
    result = train_mod.train(model, digits_x, _cfg(lr=100.0))
    assert result.status == "diverged" and result.history == []
    assert "step" in result.message and "initial values" in result.message
    for k, v in model.state_dict().items():
        assert torch.equal(v, start[k]), k


def test_nan_guard_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "run.safetensors"
    run_training(MODEL, _cfg(epochs=2), DATA, out)
    good = load_checkpoint(out)
    summary = run_training(MODEL, _cfg(epochs=6, lr=50.0), DATA, out, resume=out)
    assert summary["status"] == "diverged", summary
    assert "at step" in summary["message"] and "epoch 2" in summary["message"]
    after = load_checkpoint(out)
    assert after.meta["status"] == "diverged" and "at step" in after.meta["message"]
    assert len(after.history) == 2
    for k, v in after.model.state_dict().items():
        assert torch.isfinite(v).all() and torch.equal(v, good.model.state_dict()[k]), k
    assert after.optimizer_state.keys() == good.optimizer_state.keys()  # Adam's moments survive for a resume
    assert read_log(log_path_for(out))[-1]["status"] == "diverged"


def test_stop_event_keeps_finished_epochs(tmp_path):
    out = tmp_path / "stop.safetensors"
    stop = threading.Event()
    steps_per_epoch = math.ceil(len(load(DATA).train) / 64)

    def callback(p):
        if p.kind == "step" and p.step >= steps_per_epoch + 3:  # a few steps into epoch 2
            stop.set()

    summary = run_training(MODEL, _cfg(epochs=5, log_every=1), DATA, out, stop_event=stop, callback=callback)
    assert summary["status"] == "stopped" and summary["epochs"] == 1
    ckpt = load_checkpoint(out)
    assert [h["epoch"] for h in ckpt.history] == [1] and ckpt.meta["status"] == "stopped"
    events = [r["event"] for r in read_log(log_path_for(out))]
    assert events[0] == "start" and events[-1] == "end" and events.count("checkpoint") == 1


def test_resume_matches_an_uninterrupted_run(tmp_path):
    straight, part = tmp_path / "straight.safetensors", tmp_path / "part.safetensors"
    run_training(MODEL, _cfg(epochs=4), DATA, straight)
    run_training(MODEL, _cfg(epochs=2), DATA, part)
    first = load_checkpoint(part)
    assert first.optimizer_state and all(torch.isfinite(v).all() for v in first.optimizer_state.values())
    summary = run_training(MODEL, _cfg(epochs=4), DATA, part, resume=part)
    assert summary["status"] == "done" and summary["epochs"] == 4
    a, b = load_checkpoint(straight), load_checkpoint(part)
    assert [h["epoch"] for h in b.history] == [1, 2, 3, 4]
    assert b.history[:2] == first.history
    # bit-identical only if weights, Adam's moments and step count, and the random stream were all restored
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    for k, v in a.optimizer_state.items():
        assert torch.equal(v, b.optimizer_state[k]), k


def test_resume_without_adam_state_differs(tmp_path):
    """Guards the test above: dropping the optimizer state must change the result."""
    straight, part = tmp_path / "straight.safetensors", tmp_path / "part.safetensors"
    run_training(MODEL, _cfg(epochs=3), DATA, straight)
    run_training(MODEL, _cfg(epochs=2), DATA, part, save_optimizer=False)
    run_training(MODEL, _cfg(epochs=3), DATA, part, resume=part)
    a, b = load_checkpoint(straight).model.state_dict(), load_checkpoint(part).model.state_dict()
    assert any(not torch.equal(v, b[k]) for k, v in a.items())


def test_resume_refuses_another_dataset(tmp_path):
    import numpy as np

    out = tmp_path / "r.safetensors"
    run_training(MODEL, _cfg(epochs=1), DATA, out)
    npz = tmp_path / "other.npz"
    np.savez(npz, x=np.zeros((20, 8, 8), np.uint8))
    with pytest.raises(ConfigError) as e:
        run_training(MODEL, _cfg(epochs=2), DataConfig(name=str(npz)), out, resume=out)
    assert e.value.field == "resume"
    assert read_log(log_path_for(out))[-1]["status"] == "failed"


def test_batch_larger_than_data(digits_x):
    with pytest.raises(ConfigError) as e:
        train_mod.train(_fresh(), digits_x[:10], _cfg(batch_size=64))
    assert e.value.field == "batch_size"


def test_pca_and_ae_train(tmp_path):
    s = run_training(MODEL.replace(kind="pca"), _cfg(), DATA, tmp_path / "p.safetensors")
    assert s["status"] == "done" and s["epochs"] == 1
    s = run_training(MODEL.replace(kind="ae"), _cfg(), DATA, tmp_path / "a.safetensors")
    assert s["status"] == "done" and s["final"]["kl"] == 0
    meta = read_metadata(tmp_path / "a.safetensors")
    assert meta["status"] == "done" and meta["data"]["name"] == "digits"


def test_progress_callback_and_log(tmp_path):
    reports = []
    out = tmp_path / "cb.safetensors"
    run_training(MODEL, _cfg(epochs=2, log_every=5), DATA, out, callback=reports.append)
    epochs = [p for p in reports if p.kind == "epoch"]
    steps = [p for p in reports if p.kind == "step"]
    assert [p.epoch for p in epochs] == [1, 2] and steps and all(p.step % 5 == 0 for p in steps)
    assert epochs[-1].test is not None and epochs[-1].test["kl"] >= 0
    rows = read_log(log_path_for(out))
    assert [r["event"] for r in rows][:2] == ["start", "data"] and rows[-1]["status"] == "done"
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
