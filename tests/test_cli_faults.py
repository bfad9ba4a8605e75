"""Finding 12: every CLI fault is one line `error: ...` with a non-zero exit, never a traceback; --out never
overwrites a file that is not a checkpoint; --resume refuses flags that contradict the checkpoint."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--hidden", "8", "--batch-size", "64", "--threads", "1", "--no-progress"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vae", *args], cwd=ROOT, capture_output=True, text=True, timeout=180)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def _folder(tmp_path: Path, bomb_size: tuple[int, int]) -> Path:
    from PIL import Image

    ds = tmp_path / "imgs"
    for c in ("a", "b"):
        (ds / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(ds / c / f"{i}.png")
    Image.new("1", bomb_size).save(ds / "b" / "bomb.png")  # 1-bit zeros: a few KB on disk
    return ds


@pytest.mark.parametrize("size", [(20_000, 10_000), (5_000, 5_000)])  # above PIL's own bomb limit; above ours
def test_a_decompression_bomb_in_an_image_folder(tmp_path, size):
    ds = _folder(tmp_path, size)
    r = _cli("train", "--data", str(ds), "--epochs", "1", *FAST, "--out", str(tmp_path / "x.safetensors"))
    line = _one_line(r.stderr)
    assert r.returncode == 1 and "bomb.png" in line and ("pixels" in line or "bomb" in line.lower()), line
    assert not (tmp_path / "x.safetensors").exists()


def test_a_huge_split_seed(tmp_path):
    r = _cli("train", "--split-seed", str(10**30), "--epochs", "1", *FAST, "--out", str(tmp_path / "x.safetensors"))
    assert r.returncode == 2 and _one_line(r.stderr).startswith("error: invalid split_seed:")


def test_out_that_is_a_folder_or_cannot_be_written(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "dir.safetensors"
    folder.mkdir()
    assert main(["train", "--epochs", "1", *FAST, "--out", str(folder)]) == 2
    assert "is a folder" in _one_line(capsys.readouterr().err)
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    assert main(["train", "--epochs", "1", *FAST, "--out", str(a_file / "x.safetensors")]) == 2
    assert "not a writable folder" in _one_line(capsys.readouterr().err)
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if Path(p) == locked else real(p, mode, *a, **k))
    assert main(["train", "--epochs", "1", *FAST, "--out", str(locked / "x.safetensors")]) == 2  # root ignores modes
    assert "not a writable folder" in _one_line(capsys.readouterr().err)


def test_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    import vae.checkpoint as ck

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    import os

    monkeypatch.setattr(ck, "atomic_write_bytes", full)
    out = tmp_path / "x.safetensors"
    assert main(["train", "--epochs", "1", *FAST, "--out", str(out)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "No space left on device" in line and "x.safetensors" in line
    assert not out.exists()


def test_out_never_overwrites_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    precious = tmp_path / "thesis.safetensors"
    precious.write_bytes(b"my thesis, not a checkpoint")
    assert main(["train", "--epochs", "1", *FAST, "--out", str(precious)]) == 2
    assert "not a checkpoint of this app" in _one_line(capsys.readouterr().err)
    assert precious.read_bytes() == b"my thesis, not a checkpoint"


def test_out_may_replace_a_checkpoint(tmp_path, capsys):
    out = tmp_path / "run.safetensors"
    assert main(["train", "--epochs", "1", *FAST, "--out", str(out)]) == 0
    assert main(["train", "--epochs", "1", "--seed", "3", *FAST, "--out", str(out)]) == 0  # retraining is normal


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("resume") / "r.safetensors"
    assert main(["train", "--epochs", "2", "--latent-dim", "3", *FAST, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("flags, field", [(["--latent-dim", "5"], "latent_dim"), (["--model", "ae"], "kind"),
                                          (["--arch", "conv"], "arch"), (["--hidden", "16"], "hidden"),
                                          (["--likelihood", "gaussian"], "likelihood"),
                                          (["--latent-dim", "2"], "latent_dim")])  # 2 is the default: still contradicts
def test_resume_refuses_contradicting_architecture_flags(two_epochs, tmp_path, capsys, flags, field):
    out = tmp_path / "more.safetensors"
    rc = main(["train", "--resume", str(two_epochs), "--epochs", "3", *FAST, *flags, "--out", str(out)])
    line = _one_line(capsys.readouterr().err)
    assert rc == 2 and line.startswith(f"error: invalid {field}:") and "--resume" in line, line
    assert not out.exists()


def test_resume_accepts_flags_that_agree(two_epochs, tmp_path, capsys):
    out = tmp_path / "more.safetensors"
    assert main(["train", "--resume", str(two_epochs), "--epochs", "3", "--latent-dim", "3", *FAST,
                 "--out", str(out)]) == 0
    from vae.checkpoint import load_checkpoint

    assert len(load_checkpoint(out).history) == 3


@pytest.mark.parametrize("epochs", ["1", "2"])
def test_resume_with_no_epochs_left_is_an_error_not_a_silent_exit(two_epochs, tmp_path, capsys, epochs):
    out = tmp_path / "more.safetensors"
    rc = main(["train", "--resume", str(two_epochs), "--epochs", epochs, *FAST, "--out", str(out)])
    line = _one_line(capsys.readouterr().err)
    assert rc == 2 and "already has 2 epochs" in line, line
