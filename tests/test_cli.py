"""The command line through a real subprocess: train, evaluate --json, info, and one-line argument errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vae.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--hidden", "16", "--epochs", "2", "--batch-size", "128", "--threads", "1", "--no-progress"]


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "vae", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "tiny.safetensors"
    r = _cli("train", *TINY, "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


def test_train_prints_a_summary_and_writes_checkpoint_and_log(trained):
    out, summary = trained
    assert summary["status"] == "done" and summary["epochs"] == 2 and summary["checkpoint"] == str(out)
    assert summary["final"]["kl"] >= 0 and summary["images_per_sec"] > 0
    lines = [json.loads(s) for s in out.with_name("tiny.log.jsonl").read_text().splitlines()]
    assert lines[0]["event"] == "start" and lines[-1]["event"] == "end" and lines[-1]["status"] == "done"


def test_evaluate_json(trained):
    out, _ = trained
    r = _cli("evaluate", str(out), "--json", "--iwae-k", "10")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert set(res) == {"recon", "kl", "elbo", "active_units", "iwae_nll", "n", "mi", "tc", "dwkl"}
    assert res["mi"] + res["tc"] + res["dwkl"] == pytest.approx(res["kl"], abs=0.2 + 0.1 * res["kl"])  # one z each
    assert res["n"] == 359 and res["kl"] >= 0 and abs(res["elbo"] + res["recon"] + res["kl"]) < 1e-6
    assert res["iwae_nll"] <= -res["elbo"] + 0.5  # the IWAE bound is at least as tight as the ELBO, up to noise


def test_info_prints_metadata(trained):
    out, _ = trained
    r = _cli("info", str(out))
    assert r.returncode == 0
    meta = json.loads(r.stdout)
    assert meta["model"]["hidden"] == [16] and len(meta["history"]) == 2 and meta["status"] == "done"


def test_one_bad_argument_through_a_subprocess(tmp_path):
    r = _cli("train", "--latent-dim", "0", "--out", str(tmp_path / "x.safetensors"))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == ["error: invalid latent_dim: must be an integer in 1..512, got 0"]
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize(
    "args, field, code",
    [
        (["--beta", "-1"], "beta", 2),
        (["--beta", "1001"], "beta", 2),
        (["--latent-dim", "0"], "latent_dim", 2),
        (["--latent-dim", "513"], "latent_dim", 2),
        (["--epochs", "0"], "epochs", 2),
        (["--lr", "0"], "lr", 2),
        (["--batch-size", "0"], "batch_size", 2),
        (["--batch-size", "5000"], "batch_size", 2),
        (["--hidden", "0"], "hidden", 2),
        (["--data", "no-such-dataset"], "data", 2),
        (["--data", "missing.npz"], "data", 2),
        (["--test-fraction", "1.5"], "test_fraction", 2),
        (["--split", "middle"], "split", 2),
        (["--model", "gan"], "kind", 2),
        (["--warmup-epochs", "-1"], "warmup_epochs", 2),
        (["--capacity", "-3"], "capacity", 2),
    ],
)
def test_bad_arguments_name_the_field(tmp_path, capsys, args, field, code):
    out = tmp_path / "x.safetensors"
    rc = main(["train", *args, "--epochs" if "--epochs" not in args else "--seed", "1" if "--epochs" not in args else "0",
               "--threads", "1", "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == code and len(err) == 1 and err[0].startswith(f"error: invalid {field}:"), err
    assert not out.exists()


def test_bad_data_file_is_exit_1(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"junk")
    rc = main(["train", "--data", str(bad), "--out", str(tmp_path / "x.safetensors"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "bad.npz is not a readable .npz file" in err[0]


def test_bad_checkpoint_is_exit_1(tmp_path, capsys):
    p = tmp_path / "model.pt"
    p.write_bytes(b"\x80\x04junk")
    assert main(["evaluate", str(p)]) == 1
    assert "only .safetensors" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "none.safetensors")]) == 1


def test_out_must_be_safetensors(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "x.pt"), "--epochs", "1"]) == 2
    assert "invalid out" in capsys.readouterr().err


def test_argparse_errors_are_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--epochs", "many"])
    assert e.value.code == 2 and "--epochs" in capsys.readouterr().err
