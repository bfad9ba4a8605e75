"""Faults: SIGKILL at random moments of a CLI training run, divergence, and hyperparameters at their bounds."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from vae.__main__ import main
from vae.checkpoint import CheckpointError, load_checkpoint
from vae.run import log_path_for, read_log

ROOT = Path(__file__).resolve().parents[1]
KILLS = 20

# The driver imports torch once, then forks one CLI training run per kill, so 20 kills cost seconds, not
# 20 interpreter start-ups. Each epoch is one full-batch step of a tiny model, so most of a run's time is
# spent writing checkpoints and kills often land inside a write. One thread only: forking after OpenMP
# has started its pool can hang the child.
DRIVER = textwrap.dedent(
    """
    import json, os, random, signal, sys, time
    import torch
    torch.set_num_threads(1)
    from vae.__main__ import main
    import vae.run  # imported before forking, so a child never needs the import lock
    from vae.config import DataConfig
    from vae.data import load
    from vae.train import make_optimizer
    load(DataConfig())  # warm scikit-learn's import and loader before forking
    make_optimizer(torch.nn.Linear(1, 1), 1e-3)  # Adam's first construction imports torch._dynamo: seconds
    root, kills = sys.argv[1], int(sys.argv[2])
    rng = random.Random(0)
    for i in range(kills):
        out = os.path.join(root, f"run{i}", "k.safetensors")
        os.makedirs(os.path.dirname(out))
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os._exit(main(["train", "--data", "digits", "--hidden", "8", "--epochs", "10000", "--batch-size", "1438",
                           "--threads", "1", "--no-progress", "--out", out]))
        log, t0 = out.replace(".safetensors", ".log.jsonl"), time.monotonic()
        while time.monotonic() - t0 < 10:  # wait for the child to reach training; then kill within ~1 s
            if os.path.exists(log) and '"data"' in open(log).read():
                break
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.6) if i % 4 else rng.uniform(0.0, 0.02))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        if not os.WIFSIGNALED(status):  # the run ended by itself: nothing was tested
            sys.exit(f"run {i} exited with {os.waitstatus_to_exitcode(status)} before the kill")
    print("ok")
    """
)


def _check_run(folder: Path) -> tuple[str, int]:
    """('none' | 'ok' | 'corrupt', epochs) for one killed run."""
    ckpt_path = folder / "k.safetensors"
    for row in read_log(log_path_for(ckpt_path)):  # every complete line parses; a cut last line is skipped
        assert "event" in row
    if not ckpt_path.exists():
        return "none", 0
    try:
        ckpt = load_checkpoint(ckpt_path)
    except CheckpointError:
        return "corrupt", 0
    epochs = [h["epoch"] for h in ckpt.history]
    assert epochs == list(range(1, len(epochs) + 1)), epochs
    for h in ckpt.history:
        assert all(math.isfinite(h[k]) for k in ("recon", "kl", "elbo", "loss")), h
    assert all(torch.isfinite(v).all() for v in ckpt.model.state_dict().values())
    return "ok", len(epochs)


@pytest.mark.slow
def test_sigkill_at_random_moments_never_corrupts_the_checkpoint(tmp_path):
    r = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path), str(KILLS)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
    outcomes = [_check_run(tmp_path / f"run{i}") for i in range(KILLS)]
    corrupt = sum(1 for kind, _ in outcomes if kind == "corrupt")
    mid_write = sum(1 for i in range(KILLS) if list((tmp_path / f"run{i}").glob(".k.safetensors.*.tmp")))
    print(f"\nkills={KILLS} with_checkpoint={sum(k == 'ok' for k, _ in outcomes)} corrupt={corrupt} "
          f"killed_mid_write={mid_write} epochs={[n for _, n in outcomes]}")
    assert corrupt == 0
    assert sum(k == "ok" for k, _ in outcomes) >= KILLS // 2  # most kills land after the first checkpoint


def test_divergence_through_the_cli_keeps_the_last_good_weights(tmp_path):
    out = tmp_path / "d.safetensors"
    base = ["train", "--hidden", "16", "--batch-size", "64", "--threads", "1", "--no-progress", "--out", str(out)]
    assert main([*base, "--epochs", "2"]) == 0
    good = load_checkpoint(out).model.state_dict()
    r = subprocess.run([sys.executable, "-m", "vae", *base, "--epochs", "5", "--lr", "10", "--resume", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    summary = json.loads(r.stdout)
    assert summary["status"] == "diverged" and "at step" in summary["message"] and summary["epochs"] == 2
    after = load_checkpoint(out)
    assert after.meta["status"] == "diverged" and len(after.history) == 2
    for k, v in after.model.state_dict().items():
        assert torch.isfinite(v).all() and torch.equal(v, good[k]), k


@pytest.mark.parametrize("args", [["--beta", "0"], ["--beta", "1000"], ["--latent-dim", "1"], ["--batch-size", "1438"],
                                  ["--lr", "1e-9"], ["--warmup-epochs", "1000"], ["--capacity", "0"]])
def test_hyperparameters_at_their_bounds_train(tmp_path, capsys, args):
    out = tmp_path / "b.safetensors"
    rc = main(["train", *args, "--hidden", "8", "--epochs", "1", "--threads", "1", "--no-progress", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert load_checkpoint(out).history[0]["epoch"] == 1


@pytest.mark.parametrize(
    "args, field",
    [(["--beta", "1e9"], "beta"), (["--beta", "nan"], "beta"), (["--lr", "inf"], "lr"), (["--lr", "-1"], "lr"),
     (["--latent-dim", "100000"], "latent_dim"), (["--batch-size", "1439"], "batch_size"), (["--epochs", "10001"], "epochs"),
     (["--hidden", "5000"], "hidden"), (["--sigma", "0"], "sigma"), (["--threads", "0"], "threads"), (["--seed", "-1"], "seed"),
     (["--grad-clip", "0"], "grad_clip"), (["--log-every", "0"], "log_every")],
)
def test_hyperparameters_beyond_their_bounds_name_the_field(tmp_path, capsys, args, field):
    out = tmp_path / "b.safetensors"
    rc = main(["train", *args, "--hidden" if "--hidden" not in args else "--seed", "8" if "--hidden" not in args else "0",
               "--epochs" if "--epochs" not in args else "--log-every", "1", "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(f"error: invalid {field}:"), err
    assert not out.exists()


def _other_architecture(tiny_ckpts, tmp_path) -> Path:
    """A well-formed file whose metadata says 2-D VAE but whose weights come from the 8-D one."""
    from safetensors.torch import load_file, save

    from vae.checkpoint import FORMAT, read_metadata

    meta = read_metadata(tiny_ckpts["vae"])
    path = tmp_path / "other-arch.safetensors"
    path.write_bytes(save(load_file(str(tiny_ckpts["vae8"])), metadata={"format": FORMAT, "meta": json.dumps(meta)}))
    return path


def _bad_checkpoints(tiny_ckpts, tmp_path) -> dict[str, tuple[Path, str]]:
    huge = tmp_path / "huge.safetensors"
    with open(huge, "wb") as f:
        f.truncate(300 * 1024**2)  # sparse: 300 MB long, no disk used; refused before a byte is read
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    return {"huge": (huge, "limit"), "empty": (empty, "empty"),
            "other-arch": (_other_architecture(tiny_ckpts, tmp_path), "do not match")}


def test_cli_refuses_huge_empty_and_foreign_architecture_files(tiny_ckpts, tmp_path, capsys):
    for name, (path, words) in _bad_checkpoints(tiny_ckpts, tmp_path).items():
        for cmd in (["evaluate", str(path)], ["train", "--resume", str(path), "--out", str(tmp_path / "r.safetensors")]):
            assert main(cmd) == 1, (name, cmd)
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and words in err[0] and path.name in err[0], (name, err)
    assert not (tmp_path / "r.safetensors").exists()


def test_upload_refuses_huge_empty_and_foreign_architecture_files(tiny_ckpts, tmp_path):
    from vae.runs import RunStore
    from vae.uploads import UploadError, save_checkpoint_upload

    root = tmp_path / "runs"
    root.mkdir()
    for name, (path, words) in _bad_checkpoints(tiny_ckpts, tmp_path).items():
        data = b"\0" * (65 * 1024**2) if name == "huge" else path.read_bytes()  # just over the 64 MB upload limit
        with pytest.raises(UploadError, match=words):
            save_checkpoint_upload(RunStore(root), path.name, data)
    assert list(root.iterdir()) == []  # nothing kept, no temp folder left behind


def test_upload_refuses_a_checkpoint_that_points_at_a_server_file(tmp_path):
    """A checkpoint's dataset id is a path when trained on an .npz: an upload must not make the server read it."""
    import numpy as np

    from vae.config import DataConfig, ModelConfig, TrainConfig
    from vae.run import run_training
    from vae.runs import RunStore
    from vae.uploads import UploadError, save_checkpoint_upload

    root = tmp_path / "runs"
    (root / "data").mkdir(parents=True)
    x = np.random.default_rng(0).integers(0, 256, (40, 8, 8), dtype=np.uint8)
    for where in (tmp_path / "private.npz", root / "data" / "uploaded.npz"):
        np.savez(where, x=x)
        ckpt = run_training(ModelConfig(hidden=(8,)), TrainConfig(epochs=1, batch_size=8, threads=1),
                            DataConfig(name=str(where)), tmp_path / f"{where.stem}.safetensors", write_log=False)
        blob = Path(ckpt["checkpoint"]).read_bytes()
        if where.parent == tmp_path:
            with pytest.raises(UploadError, match="local file"):
                save_checkpoint_upload(RunStore(root), "private.safetensors", blob)
        else:  # a dataset uploaded through the Train page is ours to open
            assert RunStore(root).exists(save_checkpoint_upload(RunStore(root), "uploaded.safetensors", blob))
    assert sorted(p.name for p in root.glob("*.safetensors")) == ["uploaded.safetensors"]
