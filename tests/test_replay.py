"""Training replay (vae/replay.py): the recorded means are a re-encode of the seeded subset with each epoch's
weights, a resumed run continues its replay, the stored size is bounded, and damaged replays are refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vae import replay as R
from vae.checkpoint import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def three_epochs(tmp_path_factory):
    """A 3-epoch run made of three 1-epoch legs (resume), with a copy of the checkpoint after each epoch."""
    from vae.config import DataConfig, ModelConfig, TrainConfig
    from vae.run import run_training

    d = tmp_path_factory.mktemp("replay")
    out, copies = d / "run.safetensors", []
    for epochs in (1, 2, 3):
        run_training(ModelConfig(kind="vae", latent_dim=2, hidden=(32,)),
                     TrainConfig(epochs=epochs, batch_size=64, seed=0, threads=1), DataConfig(name="digits"), out,
                     resume=out if epochs > 1 else None, write_log=False)
        copies.append(shutil.copy(out, d / f"epoch{epochs}.safetensors"))
    return out, copies


def test_recorded_means_are_each_epochs_encode(three_epochs):
    from vae import data as D

    out, copies = three_epochs
    ck = load_checkpoint(out)
    test_x = D.load(D.config_from_info(ck.data)).test.x
    rep = R.read(ck.replay, len(test_x))
    assert list(rep.epochs) == [1, 2, 3]
    rows = np.sort(np.random.default_rng(0).choice(len(test_x), min(2000, len(test_x)), replace=False))
    np.testing.assert_array_equal(rep.rows, rows)
    for e, path in enumerate(copies):
        model = load_checkpoint(path).model
        with torch.no_grad():
            mu = model.encode(test_x[torch.as_tensor(rows)]).mu.numpy()  # (N, 2)
        np.testing.assert_allclose(rep.mu[e], mu, rtol=2e-3, atol=2e-3, err_msg=f"epoch {e + 1}")  # float16
    assert not np.allclose(rep.mu[0], rep.mu[2], atol=1e-2)  # training moved the codes


def test_info_reports_the_replay(three_epochs):
    out, _ = three_epochs
    r = subprocess.run([sys.executable, "-m", "vae", "info", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)["replay"]
    assert info["epochs"] == [1, 2, 3] and info["points"] == 359 and info["dims"] == 2
    assert info["bytes"] == 3 * 359 * 2 * 2


@pytest.mark.parametrize("name,points,epochs", [
    ("digits-2-ae", 359, 200), ("digits-3-vae", 359, 200), ("digits-4-beta2-vae", 359, 200),
    ("digits-5-vae-z8", 359, 51), ("digits-6-beta4-vae-collapsed", 359, 200),
    ("shapes-1-vae-b1", 2000, 11), ("shapes-2-vae-b4", 2000, 11), ("shapes-3-tcvae-b1", 2000, 11),
    ("shapes-4-tcvae-b4", 2000, 11)])
def test_bundled_demos_carry_their_replay_within_the_demo_bound(name, points, epochs):
    """scripts/make_demos.sh rebuilt them with their replay in 0.45 MB (VAE_MAX_REPLAY_MB=0.45) of whole epochs, so
    each file stays within a bundled demo's 1 MB: every epoch of the 2-D digits demos, evenly thinned for the z = 8
    and shapes demos, the first and last epochs kept."""
    path = ROOT / f"checkpoints/demos/{name}.safetensors"
    ck = load_checkpoint(path)
    rep = R.read(ck.replay, ck.data["n_test"])
    last = ck.train_config.epochs
    assert rep is not None and len(rep.epochs) == epochs and rep.epochs[0] == 1 and rep.epochs[-1] == last
    assert (rep.epochs == np.round(rep.epochs)).all()  # whole epochs: nothing timed by the clock
    assert rep.mu.shape[1] == points and rep.mu.size * R.BYTES_PER_VALUE <= 0.45 * 1024**2
    assert path.stat().st_size <= 1024**2


def test_thinning_keeps_the_replay_within_its_budget():
    kept, stride = R.thin(list(range(1, 101)), 1000, 10_000)
    assert len(kept) <= 10 and kept[0] == 1 and kept[-1] == 100 and kept == sorted(set(kept))
    assert R.thin([1, 2, 3], 1000, 10_000) == ([1, 2, 3], 1)
    gaps = np.diff(kept[:-1])
    assert gaps.min() == gaps.max() == stride  # evenly spread, bar the latest


def test_a_replay_thinned_as_it_is_recorded_stays_evenly_spread():
    """What the Recorder does, one epoch at a time: the grid only coarsens, so the kept epochs stay on it."""
    kept, stride = [], 1
    for e in range(1, 201):
        kept, stride = R.thin(kept + [e], 5744, int(0.45 * 1024**2), stride)  # the z = 8 digits demo
        assert len(kept) * 5744 <= 0.45 * 1024**2
    assert stride == 4 and kept == list(range(1, 200, 4)) + [200]
    kept, stride = [], 1
    for e in [1, 1.5, 2, 2.5, 3, 4]:  # snapshots within an epoch go first
        kept, stride = R.thin(kept + [e], 1000, 4500, stride)
    assert kept == [1, 2, 3, 4]


def test_recorder_stays_within_the_size_limit(monkeypatch):
    monkeypatch.setenv("VAE_MAX_REPLAY_MB", "1")
    from vae.config import ModelConfig
    from vae.model import build_model

    model = build_model(ModelConfig(kind="vae", latent_dim=64, hidden=(8,), input_shape=(1, 8, 8)))
    rec = R.Recorder(torch.rand(3000, 1, 8, 8))
    for e in range(1, 11):  # 2,000 points × 64 dims × 2 bytes = 256 KB an epoch: at most 4 fit in 1 MB
        rec.record(model, e)
    s = rec.summary()
    assert s["points"] == 2000 and s["bytes"] <= 1024**2 and s["epochs"][0] == 1 and s["epochs"][-1] == 10


@pytest.mark.parametrize("bad", [
    {"mu": torch.zeros(2, 5, 2), "epochs": torch.tensor([1.0, 2.0]), "rows": torch.arange(4.0)},
    {"mu": torch.zeros(2, 4, 2), "epochs": torch.tensor([2.0, 1.0]), "rows": torch.arange(4.0)},
    {"mu": torch.full((1, 4, 2), float("nan")), "epochs": torch.tensor([1.0]), "rows": torch.arange(4.0)},
    {"mu": torch.zeros(1, 4, 2), "epochs": torch.tensor([1.0]), "rows": torch.arange(4.0) + 1000},
    {"mu": torch.zeros(1, 4, 2), "epochs": torch.tensor([1.0])},
])
def test_a_damaged_replay_is_refused_and_the_model_still_loads(tiny_ckpts, tmp_path, bad):
    ck = load_checkpoint(tiny_ckpts["vae"])
    path = save_checkpoint(tmp_path / "bad.safetensors", ck.model, data=ck.data, replay=bad)
    loaded = load_checkpoint(path)  # the weights are fine; only the replay is unusable
    with pytest.raises(R.ReplayError):
        R.read(loaded.replay, 359)


# --- the replay as a GIF ----------------------------------------------------------------------------------------


def _gif_frames(data: bytes) -> list[np.ndarray]:
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(data))
    out = []
    for k in range(im.n_frames):
        im.seek(k)
        out.append(np.asarray(im.convert("RGB")))
    return out


def test_replay_gif_moves_each_dot_between_epochs():
    from vae import gif as G

    mu = np.array([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]],  # epoch 2
                   [[1.0, 1.0], [1.0, 0.0], [0.5, 0.5]]], dtype=np.float32)  # epoch 4
    rep = R.Replay(mu=mu, epochs=np.array([2, 4]), rows=np.array([0, 1, 2]))
    y = np.array([3, 7, -1])
    got = _gif_frames(G.replay_gif(rep, y, 5, side=101))
    assert len(got) == 5 and got[0].shape == (101, 101, 3)
    inner = 101 - 1 - 2 * R.MARGIN
    for k, t in enumerate(np.linspace(0, 1, 5)):
        for j in range(3):
            x, yv = (1 - t) * mu[0, j] + t * mu[1, j]  # the axes span [0, 1] on both dims
            col, row = round(R.MARGIN + x * inner), round(101 - 1 - R.MARGIN - yv * inner)
            want = R.PALETTE[R.GREY if y[j] < 0 else R.FIRST_LABEL + y[j]]
            assert tuple(got[k][row, col]) == want, (k, j)
    assert (got[0][:12] != got[-1][:12]).any()  # the epoch caption changes


def test_replay_gif_refusals(tiny_ckpts, tmp_path):
    from vae import gif as G
    from vae.config import ConfigError

    one = R.Replay(mu=np.zeros((1, 3, 2)), epochs=np.array([1]), rows=np.arange(3))
    with pytest.raises(ConfigError, match="at least two"):
        G.replay_gif(one, np.zeros(3), 5)
    with pytest.raises(ConfigError, match="no training replay"):
        G.replay_gif(None, np.zeros(3), 5)
    ck = load_checkpoint(tiny_ckpts["vae"])  # saved again without its replay, as runs from before replays were
    old = save_checkpoint(tmp_path / "old.safetensors", ck.model, data=ck.data)
    r = subprocess.run([sys.executable, "-m", "vae", "gif", str(old), "--kind", "replay", "--out",
                        str(tmp_path / "r.gif")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no training replay" in r.stderr


def test_cli_replay_gif_of_a_run(three_epochs, tmp_path):
    out, _ = three_epochs
    gif = tmp_path / "r.gif"
    r = subprocess.run([sys.executable, "-m", "vae", "gif", str(out), "--kind", "replay", "--frames", "9", "--out",
                        str(gif)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(_gif_frames(gif.read_bytes())) == 9


def test_latent_map_offers_the_replay_gif(three_epochs, runs_dir):
    from streamlit.testing.v1 import AppTest

    from conftest import as_run

    out, _ = three_epochs
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["ckpt_id"] = as_run(out)
    at.session_state["map_classic"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    from conftest import open_map_tab

    assert not [b for b in at.get("download_button") if b.proto.label == "Export GIF"]  # the Export tab is closed
    at = open_map_tab(at, "Export")
    assert [b.key for b in at.get("download_button") if b.proto.label == "Export GIF"] == ["map_gif_replay"]
    from ui.map import tabs as T

    assert len(_gif_frames(T.replay_gif(str(out), 10))) == 10


def test_a_long_epoch_is_also_recorded_on_its_way(tmp_path, monkeypatch):
    from vae.config import DataConfig, ModelConfig, TrainConfig
    from vae.run import run_training

    monkeypatch.setattr(R, "WITHIN_EPOCH_S", 0.0)  # every progress report counts as "long enough"
    out = tmp_path / "long.safetensors"
    run_training(ModelConfig(kind="vae", latent_dim=2, hidden=(16,)),
                 TrainConfig(epochs=2, batch_size=64, seed=0, threads=1, log_every=5), DataConfig(name="digits"), out,
                 write_log=False)
    ck = load_checkpoint(out)
    rep = R.read(ck.replay, 359)
    steps = -(-1438 // 64)  # digits: 1,438 training images
    inside = [e for e in rep.epochs if e != int(e)]
    assert 1.0 in rep.epochs and 2.0 in rep.epochs and inside
    assert all(0 < e < 2 for e in inside) and list(rep.epochs) == sorted(rep.epochs)
    assert any(0 < e < 1 for e in inside) and any(1 < e < 2 for e in inside)  # within both epochs
    at_steps = np.round(np.asarray(inside) * steps, 6)  # an epoch's fraction is its steps: one report every 5
    assert list(at_steps) == [s for s in range(5, 2 * steps, 5) if s != steps]
    with torch.no_grad():  # the last frame is the final weights' encode
        from vae import data as D

        x = D.load(D.config_from_info(ck.data)).test.x[torch.as_tensor(rep.rows)]
        np.testing.assert_allclose(rep.mu[-1], ck.model.encode(x).mu.numpy(), rtol=2e-3, atol=2e-3)


def test_within_epoch_snapshots_can_be_turned_off(tmp_path, monkeypatch):
    """scripts/make_demos.sh turns them off, so a demo's replay does not depend on the speed of the machine."""
    from vae.config import DataConfig, ModelConfig, TrainConfig
    from vae.run import run_training

    monkeypatch.setattr(R, "WITHIN_EPOCH_S", 0.0)
    monkeypatch.setenv(R.WITHIN_EPOCH_ENV, "off")
    out = tmp_path / "whole.safetensors"
    run_training(ModelConfig(kind="vae", latent_dim=2, hidden=(16,)),
                 TrainConfig(epochs=2, batch_size=64, seed=0, threads=1, log_every=5), DataConfig(name="digits"), out,
                 write_log=False)
    assert list(R.read(load_checkpoint(out).replay, 359).epochs) == [1.0, 2.0]


def test_the_replay_budget_may_be_a_fraction_of_a_megabyte(monkeypatch):
    from vae import settings

    for raw, want in (("0.5", 512 * 1024), ("2", 2 * 1024**2), ("nan", 4 * 1024**2), ("x", 4 * 1024**2), ("-1", 0)):
        monkeypatch.setenv("VAE_MAX_REPLAY_MB", raw)
        assert settings.REPLAY_SIZE.value() == want, raw
    monkeypatch.setenv("VAE_MAX_REPLAY_MB", "0.5")
    assert settings.REPLAY_SIZE.shown() == "0.5 MB"
