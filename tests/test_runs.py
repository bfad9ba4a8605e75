"""The run store: checkpoint IDs, resolving only inside its own folders, listing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vae.runs import RunStore, RunStoreError, UnknownCheckpoint


@pytest.fixture
def store(tmp_path, tiny_ckpts) -> RunStore:
    demos, runs = tmp_path / "demos", tmp_path / "runs"
    for d in (demos, runs, runs / "sweeps" / "sw"):
        d.mkdir(parents=True)
    shutil.copy(tiny_ckpts["vae"], demos / "d1.safetensors")
    shutil.copy(tiny_ckpts["ae"], runs / "mine.safetensors")
    shutil.copy(tiny_ckpts["pca"], runs / "sweeps" / "sw" / "beta-0.5.safetensors")
    return RunStore(runs, demos)


def test_ids_round_trip(store):
    for ckpt_id in ("demo/d1", "run/mine", "sweep/sw/beta-0.5"):
        path = store.resolve(ckpt_id)
        assert path.is_file() and store.checkpoint_id(path) == ckpt_id
    assert store.resolve("run/mine") == store.runs_root / "mine.safetensors"
    assert [r.id for r in store.rows()] == ["demo/d1", "run/mine", "sweep/sw/beta-0.5"]
    assert all(r.meta is not None and r.error is None for r in store.rows())


@pytest.mark.parametrize("bad", [
    "", "run/", "run/../mine", "run/..", "demo/../../runs/mine", "/etc/passwd", "run//mine", "run/mine/x",
    "sweep/sw", "sweep/../sw/beta-0.5", "run/.hidden", "other/mine", "run/mine.safetensors/..", "run/mi ne",
    "run/" + "a" * 65, "run\\mine", "run/mine\x00", None, 3, ["run/mine"], {"id": "run/mine"},
    str(Path("/tmp").resolve()),
])
def test_malformed_ids_are_refused_before_any_file_is_touched(store, bad):
    with pytest.raises(UnknownCheckpoint) as e:
        store.resolve(bad)
    assert isinstance(e.value, KeyError) and isinstance(e.value, RunStoreError)
    assert "not a checkpoint ID" in str(e.value) or "no such checkpoint" in str(e.value)


def test_a_missing_id_is_unknown(store):
    with pytest.raises(UnknownCheckpoint, match="run/nope: no such checkpoint"):
        store.resolve("run/nope")


def test_paths_outside_the_store_have_no_id(store, tmp_path, tiny_ckpts):
    with pytest.raises(UnknownCheckpoint):
        store.checkpoint_id(tiny_ckpts["vae"])  # a checkpoint elsewhere on the disk
    (store.runs_root / "sub").mkdir()
    shutil.copy(tiny_ckpts["vae"], store.runs_root / "sub" / "x.safetensors")
    with pytest.raises(UnknownCheckpoint):
        store.checkpoint_id(store.runs_root / "sub" / "x.safetensors")


def test_a_symlinked_sweep_folder_does_not_lead_out(store, tmp_path, tiny_ckpts):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(tiny_ckpts["vae"], outside / "secret.safetensors")
    (store.sweeps_root / "evil").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnknownCheckpoint):
        store.resolve("sweep/evil/secret")
    (store.runs_root / "link.safetensors").symlink_to(outside / "secret.safetensors")
    with pytest.raises(UnknownCheckpoint):
        store.resolve("run/link")
