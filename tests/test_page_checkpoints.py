"""Checkpoints page and its file operations: listing, safe uploads (no unpickling), rename/delete protections."""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import read_as_shown

from vae.checkpoint import load_checkpoint
from vae.run import log_path_for
from vae.runs import RunStore, RunStoreError
from vae.uploads import UploadError, save_checkpoint_upload

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "pages/checkpoints.py"
DEMO = Path(__file__).resolve().parents[1] / "checkpoints" / "demos" / "digits-3-vae.safetensors"


class Evil:
    """Unpickling this creates `marker`: proof that a loader ran code from the file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _open(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in state.items():
        at.session_state[k] = v
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="ckpts_upload").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, at.exception
    return at


def _bad_files(tiny: Path, marker: Path) -> dict[str, tuple[bytes, str]]:
    """file name -> (bytes, the reason the refusal must give)."""
    good = tiny.read_bytes()
    evil = pickle.dumps(Evil(marker))
    other = __import__("safetensors.torch").torch.save({"w": __import__("torch").zeros(3)})
    return {
        "evil.safetensors": (evil, "not a safetensors file"),
        "evil.pt": (evil, "only .safetensors checkpoints can be uploaded"),
        "truncated.safetensors": (good[: len(good) // 2], f"truncated or padded ({len(good) // 2} bytes"),
        "notes.safetensors": (b"just some text, not a checkpoint\n" * 10, "not a safetensors file"),
        "empty.safetensors": (b"", "file is empty"),
        "other.safetensors": (other, "not a VAE Latent Explorer checkpoint"),
    }


def test_lists_demos_and_runs(tiny_ckpts, runs_dir):
    shutil.copy(tiny_ckpts["ae"], runs_dir / "mine.safetensors")
    (runs_dir / "broken.safetensors").write_bytes(b"nope")
    at = _open()
    table = at.dataframe[0].value
    assert {"digits-1-pca", "digits-3-vae", "mine", "broken"} <= set(table["name"])
    mine = table[table["name"] == "mine"].iloc[0]
    assert mine["where"] == "run" and mine["latent"] == 2 and mine["model"].startswith("AE")
    assert "truncated" in table[table["name"] == "broken"].iloc[0]["problem"]
    vae = table[table["name"] == "digits-3-vae"].iloc[0]
    assert vae["where"] == "demo" and vae["β"] == "1" and float(vae["test ELBO"]) < 0
    assert at.expander[0].label == "What am I looking at?"


def test_upload_valid_checkpoint(tiny_ckpts, runs_dir):
    at = _upload(_open(), "My VAE!.safetensors", tiny_ckpts["vae"].read_bytes())
    assert at.success and "as **My\\-VAE**" in at.success[0].value  # escaped Markdown: renders as My-VAE
    assert _listed(runs_dir) == ["My-VAE.safetensors"]
    load_checkpoint(runs_dir / "My-VAE.safetensors")
    assert "My-VAE" in set(at.dataframe[0].value["name"])  # the table already shows it
    assert at.selectbox(key="ckpts_pick").value == "run/My-VAE"
    at.run()  # a rerun must not store the same upload twice
    assert len(_listed(runs_dir)) == 1
    _upload(at, "My VAE!.safetensors", tiny_ckpts["vae"].read_bytes())  # a new upload with the same name
    assert _listed(runs_dir) == ["My-VAE-2.safetensors", "My-VAE.safetensors"]


def test_bad_uploads_show_errors_and_run_nothing(tiny_ckpts, runs_dir, tmp_path):
    marker = tmp_path / "pwned"
    at = _open()
    for name, (data, why) in _bad_files(tiny_ckpts["vae"], marker).items():
        _upload(at, name, data)
        shown = read_as_shown(at.error[0].value) if at.error else ""
        assert shown.startswith(f"Upload refused: {name}: ") and why in shown, (name, shown)
    assert not marker.exists()
    assert list(runs_dir.iterdir()) == []  # nothing kept, no temp folder (or lock) left behind


def _listed(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))  # the store's lock file is hidden


def test_save_upload_handler_directly(tiny_ckpts, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    store = RunStore(tmp_path / "runs", DEMO.parent)
    for name, (data, why) in _bad_files(tiny_ckpts["vae"], marker).items():
        with pytest.raises(UploadError, match=re.escape(f"{name}: ") + ".*" + re.escape(why)):
            save_checkpoint_upload(store, name, data)
    monkeypatch.setenv("VAE_MAX_UPLOAD_MB", "1")
    with pytest.raises(UploadError, match="limit"):
        save_checkpoint_upload(store, "big.safetensors", b"x" * (2 * 1024**2))
    assert not marker.exists() and list((tmp_path / "runs").iterdir()) == []  # nothing kept, no temp folder
    dest = save_checkpoint_upload(store, "../../escape.safetensors", tiny_ckpts["pca"].read_bytes())
    assert dest == "run/escape" and store.resolve(dest).parent == store.runs_root


def test_rename_and_delete_rules(tiny_ckpts, runs_dir, tmp_path):
    store = RunStore(runs_dir, DEMO.parent)
    run = Path(shutil.copy(tiny_ckpts["vae"], runs_dir / "a.safetensors"))
    log_path_for(run).write_text('{"event": "end", "status": "done"}\n')
    shutil.copy(tiny_ckpts["ae"], runs_dir / "b.safetensors")
    with pytest.raises(RunStoreError, match="bundled demo"):
        store.rename("demo/" + DEMO.stem, "x")
    with pytest.raises(RunStoreError, match="bundled demo"):
        store.delete("demo/" + DEMO.stem)
    assert DEMO.exists()
    with pytest.raises(RunStoreError, match="not a checkpoint ID"):
        store.delete(str(tmp_path / "outside.safetensors"))  # paths are never IDs
    with pytest.raises(RunStoreError, match="already exists"):
        store.rename("run/a", "b")
    new = store.rename("run/a", "../../../etc/evil")
    assert new == "run/etc-evil" and store.resolve(new).exists() and not run.exists()
    assert log_path_for(store.resolve(new)).exists() and not log_path_for(run).exists()
    path = store.resolve(new)
    store.delete(new)
    assert not path.exists() and not log_path_for(path).exists()


def test_a_run_still_training_is_protected(tiny_ckpts, runs_dir):
    """'Is it training?' is decided by (pid, create_time), not by the log's age: a live writer protects the file."""
    from vae.procs import current

    store = RunStore(runs_dir, DEMO.parent)
    run = Path(shutil.copy(tiny_ckpts["vae"], runs_dir / "busy.safetensors"))
    pid, created = current()  # this test process stands in for the training process
    log_path_for(run).write_text(json.dumps({"event": "start", "pid": pid, "pid_create": created}) + '\n')
    with pytest.raises(RunStoreError, match="still being trained"):
        store.delete("run/busy")
    assert run.exists()
    # the same log, written by a process that has ended (a pid now used by someone else): not training any more
    log_path_for(run).write_text(json.dumps({"event": "start", "pid": pid, "pid_create": created - 3600}) + '\n')
    store.delete("run/busy")
    assert not run.exists()


def test_manage_actions_on_the_page(tiny_ckpts, runs_dir):
    shutil.copy(tiny_ckpts["vae"], runs_dir / "mine.safetensors")
    at = _open(ckpts_pick="run/mine")
    card = json.loads(at.json[0].proto.body)
    assert card["name"] == "mine" and card["model"]["kind"] == "vae" and card["seed"] == 0
    at.button(key="ckpts_open").click().run()
    assert at.session_state["ckpt_id"] == "run/mine"
    at.text_input(key="ckpts_new_name").set_value("renamed run").run()
    at.button(key="ckpts_rename").click().run()
    renamed = str(runs_dir.resolve() / "renamed-run.safetensors")
    assert Path(renamed).exists() and at.session_state["ckpt_id"] == "run/renamed-run"
    assert at.button(key="ckpts_delete").disabled  # needs the confirmation first
    at.checkbox(key="ckpts_confirm").check().run()
    at.button(key="ckpts_delete").click().run()
    assert not Path(renamed).exists() and at.success and "Deleted" in at.success[0].value


def test_demos_offer_no_rename_or_delete(runs_dir):
    at = _open(ckpts_pick="demo/" + DEMO.stem)
    keys = {b.key for b in at.button}
    assert "ckpts_open" in keys and "ckpts_rename" not in keys and "ckpts_delete" not in keys
    assert any("protected" in c.value for c in at.caption)
    assert len(at.get("download_button")) == 2


def test_rename_and_delete_take_the_job_record_along(tiny_ckpts, runs_dir):
    from vae.runs import JOB_SUFFIX, STDERR_SUFFIX

    store = RunStore(runs_dir, DEMO.parent)
    run = runs_dir / "job.safetensors"
    shutil.copy(tiny_ckpts["vae"], run)
    for suffix in (JOB_SUFFIX, STDERR_SUFFIX):
        (runs_dir / f"job{suffix}").write_text("{}")
    (runs_dir / f"taken{JOB_SUFFIX}").write_text("{}")  # a job record without its checkpoint still owns the name
    with pytest.raises(RunStoreError, match="already exists"):
        store.rename("run/job", "taken")
    moved = store.rename("run/job", "kept")
    assert _listed(runs_dir) == ["kept.safetensors", f"taken{JOB_SUFFIX}"]
    store.delete(moved)
    assert _listed(runs_dir) == [f"taken{JOB_SUFFIX}"]


def test_moot_figures_show_a_dash_and_upload_messages_go_after_a_rename(tiny_ckpts, runs_dir):
    import pyarrow as pa

    at = _open()
    shown = pa.ipc.open_stream(at.dataframe[0].proto.arrow_data.styler.display_values).read_pandas()
    names = list(at.dataframe[0].value["name"])
    ae = shown.iloc[names.index("digits-2-ae")]
    assert [ae[c] for c in ("β", "test KL", "test ELBO")] == ["—"] * 3 and "None" not in shown.to_string()
    at = _upload(at, "up.safetensors", tiny_ckpts["vae"].read_bytes())
    assert at.success and "Uploaded" in at.success[0].value
    at.text_input(key="ckpts_new_name").set_value("up2").run()
    at.button(key="ckpts_rename").click().run()
    assert [s.value for s in at.success] == ["Renamed to run · up2."]  # the upload's line, naming 'up', is gone


def test_sidebar_shows_a_long_name_in_full(tiny_ckpts, runs_dir):
    from streamlit.testing.v1 import AppTest

    name = "mnist-vae-z2-beta-0.5-warmup-10-lr-3e-4-seed-7"
    shutil.copy(tiny_ckpts["vae"], runs_dir / f"{name}.safetensors")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.session_state["ckpt_id"] = f"run/{name}"
    at.run()
    assert any(c.value == f"run · {name}" for c in at.sidebar.caption)
