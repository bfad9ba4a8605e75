"""The shapes preset has one owner (vae/shapes.py): the β sweep form takes every field of it from there."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from vae.shapes import PRESET_MODEL, PRESET_TRAIN


def test_the_sweep_form_takes_the_shapes_preset_from_its_owner(runs_dir, monkeypatch):
    # change the preset where it is defined: a form that wrote any of it out again would not follow
    monkeypatch.setitem(PRESET_TRAIN, "batch_size", 48)
    monkeypatch.setitem(PRESET_MODEL, "latent_dim", 6)
    monkeypatch.setitem(PRESET_MODEL, "channels", (8, 8, 8, 8))
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.switch_page("pages/beta_sweep.py").run()
    at.selectbox(key="beta_data").set_value("shapes").run()
    assert at.number_input(key="beta_latent_dim").value == 6
    at.number_input(key="beta_epochs").set_value(1)
    at.text_input(key="beta_list").set_value("1")
    at.text_input(key="beta_name").set_value("preset")
    at.button(key="beta_run").click().run()
    try:
        assert not at.exception and not at.error
        (spec,) = [json.loads(p.read_text()) for p in runs_dir.rglob("*.job.json")]
        assert spec["data"]["name"] == "shapes"
        assert spec["model"]["arch"] == PRESET_MODEL["arch"] and spec["model"]["latent_dim"] == 6
        assert tuple(spec["model"]["channels"]) == (8, 8, 8, 8)
        assert spec["train"]["batch_size"] == 48
    finally:
        from ui.jobs_ui import job_manager

        monkeypatch.setenv("VAE_SINGLE_USER", "1")  # the test, not the page's session, cleans up
        for j in job_manager().jobs(sweep="preset"):
            if j.active:
                job_manager().stop(j.id)
