"""β page (AppTest): a 2-β × 1-epoch sweep runs to the end and puts 2 points on the rate–distortion plane."""

from __future__ import annotations

import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from conftest import as_run, plotly_array

GUARD_S = 180  # a guard against hangs only; nothing asserts on time


def _plane(at: AppTest) -> dict:
    for chart in at.get("plotly_chart"):
        fig = json.loads(chart.proto.spec)
        if any(t.get("name") == "runs" for t in fig["data"]):
            return fig
    raise AssertionError("no rate–distortion plane on the page")


def test_page_without_sweeps_shows_the_bundled_demos_trade_off(runs_dir):
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.switch_page("pages/beta_sweep.py").run()
    assert not at.exception
    (runs,) = [t for t in _plane(at)["data"] if t.get("name") == "runs"]
    assert runs["text"] == ["β=1", "β=2", "β=4"]  # the bundled 2-D VAEs, sorted by β
    rate, distortion = runs["x"], runs["y"]
    assert rate == sorted(rate, reverse=True)  # a larger β buys a lower rate ...
    assert distortion == sorted(distortion)  # ... with a higher distortion
    assert rate[-1] < 0.1  # β = 4 has collapsed onto the prior


def test_bad_beta_list_is_refused(runs_dir):
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.switch_page("pages/beta_sweep.py").run()
    at.text_input(key="beta_list").set_value("0.5, -1")
    at.button(key="beta_run").click().run()
    assert not at.exception
    assert any("[0, 1000]" in e.value.replace("\\", "") for e in at.error)  # escaped Markdown
    assert not (runs_dir / "sweeps").exists() or not list((runs_dir / "sweeps").iterdir())


def test_a_sweep_with_too_many_values_is_refused_with_the_limit(runs_dir, monkeypatch):
    """Finding 7: one visitor's sweep of 1,000 values must not fill the shared queue."""
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.switch_page("pages/beta_sweep.py").run()
    at.text_input(key="beta_list").set_value(", ".join(str(0.01 * (i + 1)) for i in range(1000))).run()
    at.button(key="beta_run").click().run()
    assert not at.exception
    assert any("at most 12" in e.value for e in at.error), [e.value for e in at.error]
    assert not list(runs_dir.rglob("*.job.json"))
    monkeypatch.setenv("VAE_MAX_SWEEP", "2")
    at.text_input(key="beta_list").set_value("1, 2, 4").run()
    at.button(key="beta_run").click().run()
    assert any("at most 2" in e.value for e in at.error)


def test_sweep_of_two_betas_places_two_points(runs_dir, monkeypatch):
    monkeypatch.setenv("VAE_MAX_JOBS", "2")  # run both βs at once: one process start-up to wait for, not two
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.switch_page("pages/beta_sweep.py").run()
    at.text_input(key="beta_list").set_value("2, 0.5")
    at.number_input(key="beta_epochs").set_value(1)
    at.text_input(key="beta_name").set_value("two")
    at.button(key="beta_run").click().run()
    assert not at.exception and not at.error
    assert at.selectbox(key="beta_pick").value == "two"  # the picker shows the sweep that was just launched
    from ui.jobs_ui import job_manager

    deadline = time.monotonic() + GUARD_S
    while any(j.active for j in job_manager().jobs(sweep="two")) and time.monotonic() < deadline:
        time.sleep(0.5)
    at.run()
    assert not at.exception
    assert [j.state for j in job_manager().jobs(sweep="two")] == ["done", "done"]
    (runs,) = [t for t in _plane(at)["data"] if t.get("name") == "runs"]
    assert runs["text"] == ["β=0.5", "β=2"]
    assert len(runs["x"]) == len(runs["y"]) == 2
    assert all(x >= 0 for x in runs["x"])  # rate is a KL: never negative
    assert runs["customdata"] == ["sweep/two/beta-0.5", "sweep/two/beta-2"]  # IDs, never server paths
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # the plane, and one figure with a latent map per β
    maps = json.loads(charts[1].proto.spec)
    assert [a["text"] for a in maps["layout"]["annotations"]] == ["β=0.5", "β=2"]  # the panels' titles, β ascending
    from ui.common import encode_test, open_id

    for i, beta in enumerate(["0.5", "2"]):  # each panel holds its own β's test codes, every one of them
        mu = encode_test(str(open_id(f"sweep/two/beta-{beta}").path))["mu"]
        xs = [v for t in maps["data"] if t.get("xaxis", "x") == f"x{i + 1 if i else ''}" for v in plotly_array(t["x"])]
        assert sorted(xs) == pytest.approx(sorted(mu[:, 0].tolist()), abs=1e-6)


def test_checkpoint_opened_from_a_page_survives_the_sidebar(tiny_ckpts, runs_dir):
    """Clicking a point on the plane calls set_current; the sidebar's own widget state must not undo it."""
    # the sidebar alone: under st.navigation, AppTest drops sidebar widgets on reruns
    at = AppTest.from_string("from ui.sidebar import sidebar\nsidebar()\n", default_timeout=60)
    at.run()
    first = at.session_state["sidebar_ckpt"]
    opened = as_run(tiny_ckpts["vae"])
    at.session_state["ckpt_id"] = opened  # what the plane's on_select callback does
    at.run()
    at.run()
    assert at.session_state["ckpt_id"] == opened == "run/tiny-vae"
    assert at.sidebar.selectbox(key="sidebar_ckpt").value == opened
    at.sidebar.selectbox(key="sidebar_ckpt").set_value(first).run()  # and the picker still works
    assert at.session_state["ckpt_id"] == first


def test_beta_labels_of_a_small_crowded_sweep_do_not_overlap():
    """Three runs within a few pixels (e.g. collapsed β = 2, 4, 8 all at R = 0): each label gets its own side;
    the old alternating top/bottom-right scheme put the first and third on top of each other."""
    import numpy as np

    from ui.sweep_figures import label_sides

    sides = label_sides(np.array([0.0, 0.01, 0.02]), np.array([30.0, 30.05, 30.1]), ["β=2", "β=4", "β=8"], (10, 5))
    assert len(set(sides)) == 3
    spread = label_sides(np.array([0.0, 5.0, 9.0]), np.array([30.0, 25.0, 22.0]), ["β=4", "β=1", "β=0.5"], (10, 10))
    assert spread == ["top right"] * 3  # room everywhere: the usual place


def test_rd_title_is_clear_of_the_toolbar():
    from ui.sweep_figures import rd_figure

    fig = rd_figure([])
    assert fig.layout.title.x == 0 and fig.layout.title.xanchor == "left" and fig.layout.margin.t >= 60


def test_a_beta_tcvae_sweep_from_the_form(runs_dir, monkeypatch):
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.switch_page("pages/beta_sweep.py").run()
    at.text_input(key="beta_list").set_value("1, 6")
    at.number_input(key="beta_epochs").set_value(1)
    at.selectbox(key="beta_objective").set_value("beta-tcvae")
    at.text_input(key="beta_name").set_value("tc")
    at.button(key="beta_run").click().run()
    assert not at.exception and not at.error
    from ui.jobs_ui import job_manager

    sweep = next(s for s in job_manager().sweeps() if s["name"] == "tc")
    assert sweep["train"]["objective"] == "beta-tcvae" and sweep["betas"] == [1.0, 6.0]
    specs = [json.loads(p.read_text()) for p in runs_dir.rglob("*.job.json")]
    assert sorted(s["train"]["beta"] for s in specs) == [1.0, 6.0]
    assert all(s["train"]["objective"] == "beta-tcvae" for s in specs)
    monkeypatch.setenv("VAE_SINGLE_USER", "1")  # the test, not the page's session, cleans up
    for j in job_manager().jobs(sweep="tc"):
        if j.active:
            job_manager().stop(j.id)
