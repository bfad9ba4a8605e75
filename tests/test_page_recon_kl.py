"""AppTest of the Reconstruction & KL page: renders for every model kind, widgets change the picture, collapse is flagged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import as_run
from vae.checkpoint import load_checkpoint, save_checkpoint

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "pages/recon_kl.py"


def _open(ckpt: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["ckpt_id"] = as_run(ckpt)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _pair_captions(at: AppTest) -> list[str]:
    """Captions under the reconstructions: '#index · recon … · KL …'."""
    return [i.caption for el in at.get("image") for i in el.proto.imgs if i.caption.startswith("#")]


@pytest.fixture(scope="module")
def collapsed_ckpt(tiny_ckpts, tmp_path_factory) -> Path:
    """A VAE whose encoder heads are zeroed: q(z|x) = N(0, I) for every x, the exact picture of posterior collapse."""
    ckpt = load_checkpoint(tiny_ckpts["vae"])
    with torch.no_grad():
        for head in (ckpt.model.to_mu, ckpt.model.to_logvar):
            head.weight.zero_()
            head.bias.zero_()
    out = tmp_path_factory.mktemp("collapsed") / "collapsed.safetensors"
    return save_checkpoint(out, ckpt.model, train=ckpt.train_config, data=ckpt.data, history=ckpt.history)


@pytest.mark.parametrize("kind", ["vae", "ae", "pca", "vae8"])
def test_renders_for_every_model(tiny_ckpts, runs_dir, kind):
    at = _open(tiny_ckpts[kind])
    assert at.title[0].value == "Reconstruction & KL"
    captions = _pair_captions(at)
    assert len(captions) == 8 and all("recon" in c for c in captions)
    assert all(("KL" in c) == (kind in ("vae", "vae8")) for c in captions)  # point codes have no KL
    charts = at.get("plotly_chart")
    # KL bars + histograms, plus the hole map for 2-D codes only
    assert len(charts) == (3 if kind != "vae8" else 2)
    assert any("dimensions active" in c.value for c in at.caption)
    if kind != "vae8":  # one epoch on 8 dims may legitimately be flagged as collapsed
        assert not at.error
    assert len(at.expander) >= 1 and at.expander[0].label == "What am I looking at?"


def test_widgets_change_the_inputs(tiny_ckpts, runs_dir):
    at = _open(tiny_ckpts["vae"])
    first = _pair_captions(at)
    at.number_input(key="recon_seed").set_value(5).run()
    assert _pair_captions(at) != first
    at.radio(key="recon_mode").set_value("index").run()
    at.text_input(key="recon_indices").set_value("3, 10-11").run()
    caps = _pair_captions(at)
    assert [c.split(" ")[0] for c in caps] == ["#3", "#10", "#11"]
    at.text_input(key="recon_indices").set_value("99999").run()
    assert at.error and "0.." in at.error[0].value
    at.radio(key="recon_mode").set_value("label").run()
    at.selectbox(key="recon_label").set_value(4).run()
    assert not at.exception and len(_pair_captions(at)) == 8


def test_bad_indices_get_a_clear_error_and_the_page_survives(tiny_ckpts, runs_dir):
    at = _open(tiny_ckpts["vae"])
    at.radio(key="recon_mode").set_value("index").run()
    at.text_input(key="recon_indices").set_value("3, 999999, abc, **x**").run()
    assert not at.exception
    msg = at.error[0].value
    assert "'abc'" in msg and "invalid literal" not in msg and "whole numbers" in msg
    assert "\\*\\*x\\*\\*" in msg  # what was typed is shown literally, not as markdown
    assert len(at.get("plotly_chart")) == 3  # KL bars, histograms and holes are still drawn below
    at.text_input(key="recon_indices").set_value("3, 999999").run()
    assert "0..358" in at.error[0].value and len(at.get("plotly_chart")) == 3


def test_label_mode_picks_only_that_label(tiny_ckpts, runs_dir):
    from vae.config import DataConfig
    from vae.data import load

    y = load(DataConfig(name="digits")).test.y.numpy()
    at = _open(tiny_ckpts["vae"])
    at.radio(key="recon_mode").set_value("label").run()
    at.selectbox(key="recon_label").set_value(7).run()
    idx = [int(c.split(" ")[0][1:]) for c in _pair_captions(at)]
    assert idx and all(y[i] == 7 for i in idx)


def test_collapse_is_flagged(collapsed_ckpt, tiny_ckpts, runs_dir):
    at = _open(collapsed_ckpt)
    assert any("Posterior collapse" in e.value for e in at.error)
    assert any("0 of 2 dimensions active" in c.value for c in at.caption)
    healthy = _open(tiny_ckpts["vae"])
    assert not any("collapse" in e.value for e in healthy.error)


def _notes_app(topic: str, ckpt_path: str | None) -> None:
    from ui.notes import teaching_notes
    from vae.checkpoint import load_checkpoint

    teaching_notes(topic, load_checkpoint(ckpt_path) if ckpt_path else None)


@pytest.mark.parametrize("topic", ["latent_map", "recon_kl", "train", "beta", "compare", "checkpoints"])
def test_teaching_notes_use_live_numbers(tiny_ckpts, topic):
    from vae.checkpoint import read_metadata

    path = str(tiny_ckpts["vae"])
    at = AppTest.from_function(_notes_app, args=(topic, path)).run()
    assert not at.exception, at.exception
    assert at.expander[0].label == "What am I looking at?"
    test = read_metadata(path)["history"][-1]["test"]
    live = at.info[0].value
    assert f"{test['elbo']:.2f}" in live and f"{test['kl']:.2f}" in live and "β = 1" in live
    text = " ".join(m.value for m in at.markdown) + " ".join(x.value for x in at.latex)
    assert len(text) > 200  # each topic has its own content, not the placeholder


def test_teaching_notes_for_a_point_code_and_without_a_checkpoint(tiny_ckpts):
    at = AppTest.from_function(_notes_app, args=("compare", str(tiny_ckpts["ae"]))).run()
    assert not at.exception and "no ELBO" in at.info[0].value
    at = AppTest.from_function(_notes_app, args=("recon_kl", None)).run()
    assert not at.exception and not at.info and at.latex


def test_collapsed_model_has_no_contradicting_green_holes_box(collapsed_ckpt, runs_dir):
    at = _open(collapsed_ckpt)
    assert any("Posterior collapse" in e.value for e in at.error)
    assert not any("No holes" in s.value for s in at.success)
    assert any("collapsed" in i.value and "No holes" in i.value for i in at.info)


def test_histogram_axis_keeps_the_prior_readable():
    """A collapsed dim's spike (σ = 0.001, density ~400) must not flatten the prior curve to a line."""
    import numpy as np

    from ui.compare_ui import HIST_CAP, marginal_histograms

    rng = np.random.default_rng(0)
    values = np.column_stack([rng.normal(0, 0.001, 2000), rng.normal(0, 1, 2000)])
    fig = marginal_histograms(values)
    peak = 1 / np.sqrt(2 * np.pi)
    spike, normal = fig.layout.yaxis.range, fig.layout.yaxis2.range
    assert spike[1] <= 1.1 * HIST_CAP * peak + 1e-9 and spike[1] > peak  # the prior is a third of the axis or more
    assert normal[1] < 1.1 * 0.6  # a well-fitted dim keeps a tight axis
    assert any("bars cut" in a.text for a in fig.layout.annotations)


def test_kl_split_for_an_elbo_vae_a_tcvae_and_none_for_an_ae(tiny_ckpts, tmp_path):
    import json

    from vae.config import DataConfig, ModelConfig, TrainConfig
    from vae.data import config_from_info, load
    from vae.run import run_training
    from vae.tc import dataset_kl_decomposition

    tc_path = tmp_path / "tiny-tcvae.safetensors"
    run_training(ModelConfig(latent_dim=3, hidden=(32,)), TrainConfig(epochs=2, batch_size=64, threads=1,
                 objective="beta-tcvae", beta=6.0), DataConfig(), tc_path, write_log=False)
    labels = ("index-code MI", "total correlation", "dimension-wise KL", "sum (KL, one z per image)")
    for path, tcvae in ((tiny_ckpts["vae8"], False), (tc_path, True)):
        at = _open(path)
        ckpt = load_checkpoint(path)
        s = dataset_kl_decomposition(ckpt.model, load(config_from_info(ckpt.data)).test.x, seed=0)
        metric = {m.label: m.value for m in at.metric}
        assert [metric[k] for k in labels] == [f"{s[k]:.2f}" for k in ("mi", "tc", "dwkl", "kl_mc")]
        note = next(c.value for c in at.caption if "index-code MI + total correlation" in c.value)
        assert ("β-TCVAE with β = 6" in note) == tcvae
        titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text") for c in at.get("plotly_chart")]
        assert any((t or "").startswith("During training (per epoch)") for t in titles) == tcvae
    at = _open(tiny_ckpts["ae"])
    assert not any(m.label == "total correlation" for m in at.metric)
