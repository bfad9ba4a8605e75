"""Train page (AppTest): renders, shows config errors beside their fields, runs a 1-epoch job to the end."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

GUARD_S = 120  # a guard against hangs only; nothing asserts on time


def _page(runs_dir) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    return at


def _column_with(at: AppTest, key: str):
    return next(c for c in at.columns if any(w.key == key for w in c.number_input))


@pytest.fixture
def stop_all(monkeypatch):
    yield
    from ui.jobs_ui import job_manager

    monkeypatch.setenv("VAE_SINGLE_USER", "1")  # the test, not the page's session, cleans up
    for j in job_manager().jobs():
        if j.active:
            job_manager().stop(j.id)


def test_renders_without_runs(runs_dir):
    at = _page(runs_dir)
    assert at.title[0].value == "Train a model"
    assert at.button(key="train_start")
    assert not at.error
    assert not at.get("plotly_chart")  # no run shown: no empty axes to draw (each figure costs a page switch ~55 ms)
    assert any("loss curves" in c.value for c in at.caption)


@pytest.mark.parametrize("key,value,message", [("train_beta", -1.0, "[0, 1000]"), ("train_batch_size", 0, "1..65536"),
                                               ("train_latent_dim", 0, "1..512"), ("train_lr", 0.0, "(0, 100]")])
def test_invalid_setting_shows_its_error_next_to_the_field(runs_dir, key, value, message):
    at = _page(runs_dir)
    at.number_input(key=key).set_value(value)
    at.button(key="train_start").click().run()
    assert not at.exception
    col = _column_with(at, key)
    assert any(message in e.value.replace("\\", "") for e in col.error), [e.value for e in at.error]  # escaped Markdown
    assert "train_job" not in at.session_state  # nothing was launched
    assert not list(runs_dir.glob("*.job.json"))


def test_two_bad_fields_are_both_reported(runs_dir):
    at = _page(runs_dir)
    at.number_input(key="train_beta").set_value(-1.0)
    at.number_input(key="train_batch_size").set_value(0)
    at.button(key="train_start").click().run()
    texts = " ".join(e.value for e in at.error).replace("\\", "")  # escaped Markdown
    assert "[0, 1000]" in texts and "1..65536" in texts


def test_one_epoch_run_goes_to_done(runs_dir, stop_all):
    at = _page(runs_dir)
    at.number_input(key="train_epochs").set_value(1)
    at.text_input(key="train_run_name").set_value("apptest run")
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    assert at.session_state["train_job"] == "run/apptest-run"
    deadline = time.monotonic() + GUARD_S
    while not at.success and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()  # run_every does not fire in AppTest
    assert not at.exception
    assert "done" in at.success[0].value
    assert (runs_dir / "apptest-run.safetensors").exists()
    links = [e.proto for e in at.get("page_link")]  # the one way on to the Latent Map, naming this run by ID
    assert [(link.label, link.query_string) for link in links] == [("Open in Latent Map", "ckpt=run%2Fapptest-run")], links
    assert len(at.get("plotly_chart")) >= 2  # curves and KL per dimension (and the 2-D map)


def _wait_done(at: AppTest, name: str) -> None:
    deadline = time.monotonic() + GUARD_S
    while not any(f"**{name}**: done" in m.value for m in at.success) and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    assert any(f"**{name}**: done" in m.value for m in at.success), [m.value for m in at.success]


def test_show_run_picks_an_older_run_and_a_box_made_for_another_run_is_ignored(runs_dir, stop_all, monkeypatch):
    at = _page(runs_dir)
    at.number_input(key="train_epochs").set_value(1)
    for name in ("one", "two"):
        at.text_input(key="train_run_name").set_value(name)
        at.button(key="train_start").click().run()
        _wait_done(at, name)
    box = at.selectbox(key="train_pick:run/two")  # the box is made for the run shown, and starts on it
    assert box.value == "run/two" and set(box.options) == {"one", "two"}
    box.set_value("run/one").run()
    assert not at.exception and at.session_state["train_job"] == "run/one"
    assert any("**one**: done" in m.value for m in at.success) and at.selectbox(key="train_pick:run/one").value == "run/one"

    import streamlit as st

    from ui import jobs_ui

    state = {"train_job": "two", "train_pick:one": "one"}  # a box made while "one" was shown, sent back late
    monkeypatch.setattr(st, "session_state", state)
    jobs_ui._picked("train_pick:one", "one")
    assert state["train_job"] == "two"  # the page moved on to "two" since: the old box's value is not taken
    state["train_pick:two"] = "one"
    jobs_ui._picked("train_pick:two", "two")
    assert state["train_job"] == "one"


def test_cached_encoding_follows_a_rewritten_checkpoint(tmp_path):
    """The live latent map reloads the checkpoint each epoch: the cache must key on the file's mtime."""
    import os
    import shutil

    import numpy as np

    from ui.common import DEFAULT_DEMO, demo_dir, encode_test, load_model

    import torch

    path = tmp_path / "run.safetensors"
    shutil.copy(demo_dir() / DEFAULT_DEMO, path)
    os.utime(path, (1_000_000, 1_000_000))
    grad = torch.is_grad_enabled()
    try:  # the cached loader turns autograd off in the calling thread; later tests in this process train
        first = encode_test(path)["mu"].copy()
        shutil.copy(demo_dir() / "digits-2-ae.safetensors", path)  # the same run, one epoch later
        os.utime(path, (1_000_010, 1_000_010))
        assert load_model(path).model_config.kind == "ae"
        assert not np.allclose(encode_test(path)["mu"], first)
    finally:
        torch.set_grad_enabled(grad)


def test_batch_larger_than_the_dataset_is_refused_under_its_field(runs_dir):
    """digits has 1438 training images: the form says so under Batch size, before anything is launched."""
    at = _page(runs_dir)
    at.number_input(key="train_batch_size").set_value(5000)
    at.button(key="train_start").click().run()
    assert not at.exception
    col = _column_with(at, "train_batch_size")
    assert any("larger than the training set (1438 images)" in e.value.replace("\\", "") for e in col.error), \
        [e.value for e in at.error]  # escaped Markdown
    assert not list(runs_dir.glob("*.job.json"))


def test_a_run_that_fails_shows_its_message(runs_dir, stop_all):
    """Errors found only inside the run reach the page via the log (submitted past the form's check on purpose)."""
    from ui.jobs_ui import job_manager
    from vae.config import DataConfig, ModelConfig, TrainConfig

    at = _page(runs_dir)
    job = job_manager().submit(ModelConfig(), TrainConfig(epochs=1, batch_size=5000), DataConfig(), "too-big")
    at.session_state["train_job"] = job.id
    at.run()
    deadline = time.monotonic() + GUARD_S
    while not at.error and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    assert not at.exception
    assert "failed" in at.error[0].value and "larger than the training set" in at.error[0].value


def test_form_settings_survive_a_visit_to_another_page(runs_dir):
    at = _page(runs_dir)
    at.number_input(key="train_epochs").set_value(7).run()
    at.text_input(key="train_run_name").set_value("lesson-3").run()
    at.switch_page("pages/latent_map.py").run()
    assert not at.exception
    at.switch_page("pages/train.py").run()
    assert at.number_input(key="train_epochs").value == 7
    assert at.text_input(key="train_run_name").value == "lesson-3"


def test_beta_tcvae_run_from_the_form_logs_and_plots_the_kl_split(runs_dir, stop_all):
    from vae.checkpoint import read_metadata
    from vae.runs import RunStore

    at = _page(runs_dir)
    at.selectbox(key="train_objective").set_value("beta-tcvae")
    at.number_input(key="train_beta").set_value(4.0)
    at.number_input(key="train_epochs").set_value(2)
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    job = at.session_state["train_job"]
    assert job == "run/digits-tcvae-z2-b4"
    deadline = time.monotonic() + GUARD_S
    while not at.success and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    assert "done" in at.success[0].value
    meta = read_metadata(RunStore(runs_dir).path_of(job))  # a job is named by its checkpoint's store ID
    assert meta["train"]["objective"] == "beta-tcvae" and meta["train"]["beta"] == 4.0
    assert all({"mi", "tc", "dwkl"} <= set(h) for h in meta["history"])
    curves = at.get("plotly_chart")[0].proto.spec
    assert "total correlation" in curves and "KL = MI + TC + dim-wise KL" in curves
    # an auto-encoder has no KL to split: the objective is off and the run is a plain one
    at.selectbox(key="train_kind").set_value("ae").run()
    assert at.selectbox(key="train_objective").disabled
