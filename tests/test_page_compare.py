"""AppTest of the Compare page: side-by-side columns, the ladder preset, refusing mismatched datasets, kept selection."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import as_run

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "pages/compare.py"
DEMOS = Path(__file__).resolve().parents[1] / "checkpoints" / "demos"


def _open(paths: list[Path] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if paths is not None:
        at.session_state["compare_ids"] = [as_run(p) for p in paths]
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def npz_ckpt(tmp_path_factory) -> Path:
    """A tiny VAE trained on a synthetic 8×8 .npz: same image shape as digits, different data."""
    from vae.config import DataConfig, ModelConfig, TrainConfig
    from vae.run import run_training

    d = tmp_path_factory.mktemp("npz")
    rng = np.random.default_rng(0)
    np.savez(d / "blobs.npz", x=(rng.random((60, 8, 8)) * 255).astype(np.uint8), y=rng.integers(0, 3, 60))
    out = d / "blobs-vae.safetensors"
    run_training(ModelConfig(kind="vae", latent_dim=2, hidden=(16,)), TrainConfig(epochs=1, batch_size=32, threads=1),
                 DataConfig(name=str(d / "blobs.npz")), out, write_log=False)
    return out


def test_asks_for_a_selection(runs_dir):
    at = _open()
    assert at.info and "Pick 2 to 4" in at.info[0].value
    assert not at.dataframe


def test_two_checkpoints_side_by_side(tiny_ckpts, runs_dir):
    at = _open([tiny_ckpts["vae"], tiny_ckpts["ae"]])
    table = at.dataframe[0].value
    assert list(table.columns) == ["tiny-vae", "tiny-ae"]
    from vae.checkpoint import load_checkpoint
    from vae.config import DataConfig
    from vae.data import load
    from vae.metrics import evaluate, iwae_nll

    model, test_x = load_checkpoint(tiny_ckpts["vae"]).model, load(DataConfig()).test.x
    ref = evaluate(model, test_x, iwae_k=0)
    assert float(table.loc["KL (nats)", "tiny-vae"]) == pytest.approx(ref["kl"], abs=0.01)
    assert table.loc["KL (nats)", "tiny-ae"] == "–" and table.loc["IWAE NLL (nats)", "tiny-ae"] == "–"
    # the IWAE cell says its k, and is vae's IWAE NLL with that k on the same test set and seed
    cell = re.fullmatch(r"(-?\d+\.\d\d) \(k=(\d+)\)", table.loc["IWAE NLL (nats)", "tiny-vae"])
    assert cell, table.loc["IWAE NLL (nats)", "tiny-vae"]
    k = int(cell.group(2))
    assert 1 <= k <= 50
    assert float(cell.group(1)) == pytest.approx(iwae_nll(model, test_x, k=k, seed=0), abs=0.005 + 1e-9)
    # a tighter bound than the ELBO, so its NLL is at most -ELBO, up to Monte Carlo noise
    assert float(cell.group(1)) <= -float(table.loc["ELBO (nats)", "tiny-vae"]) + 0.5
    captions = [i.caption for el in at.get("image") for i in el.proto.imgs]
    assert captions.count("inputs; the row below: their reconstructions") == 2
    assert sum("not generative" in c for c in captions) == 1  # the AE, not the VAE
    assert len(at.get("plotly_chart")) == 4  # a latent map and KL bars per column


def test_the_iwae_figure_is_computed_once_and_kept(tiny_ckpts, runs_dir, monkeypatch):
    """The first visit computes and keeps it (a side file in the run store); a later visit, in a fresh process's
    caches, shows the kept figure before anything else and never computes it again."""
    import streamlit as st

    from vae import iwae_budget

    first = _open([tiny_ckpts["vae"], tiny_ckpts["pca"]]).dataframe[0].value.loc["IWAE NLL (nats)", "tiny-vae"]
    kept = list((runs_dir / ".cache" / "iwae").glob("*.json"))
    assert len(kept) == 1 and not list(kept[0].parent.glob(".*"))  # one figure, no temp file left
    st.cache_data.clear(), st.cache_resource.clear()

    def never(*a, **k):
        raise AssertionError("the kept IWAE figure was computed again")

    monkeypatch.setattr(iwae_budget, "iwae_nll", never)
    at = _open([tiny_ckpts["vae"], tiny_ckpts["pca"]])
    assert at.dataframe[0].value.loc["IWAE NLL (nats)", "tiny-vae"] == first
    assert any("at most 50" in c.value and "computed once and kept" in c.value for c in at.caption)


def test_seed_changes_the_shared_inputs(tiny_ckpts, runs_dir):
    at = _open([tiny_ckpts["vae"], tiny_ckpts["pca"]])
    before = [i.url for el in at.get("image") for i in el.proto.imgs]
    at.number_input(key="compare_seed").set_value(3).run()
    after = [i.url for el in at.get("image") for i in el.proto.imgs]
    assert not at.exception and before != after
    at.number_input(key="compare_seed").set_value(0).run()  # the seed alone decides the inputs: back to the same
    assert [i.url for el in at.get("image") for i in el.proto.imgs] == before


def test_ladder_preset_shows_four_columns(runs_dir):
    at = _open()
    at.button(key="compare_ladder").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.columns) == ["digits-1-pca", "digits-2-ae", "digits-3-vae", "digits-4-beta2-vae"]
    assert any("β = 2" in c.value and "collapses" in c.value for c in at.caption)
    assert at.session_state["compare_ids"] == [f"demo/{c}" for c in table.columns]
    # the β = 2 model pays more for KL, so it spends less of it than the β = 1 VAE
    assert float(table.loc["KL (nats)", "digits-4-beta2-vae"]) < float(table.loc["KL (nats)", "digits-3-vae"])


def test_mismatched_datasets_are_refused(tiny_ckpts, npz_ckpt, runs_dir):
    at = _open([tiny_ckpts["vae"], npz_ckpt])
    assert at.error, "expected an error for different datasets"
    msg = at.error[0].value
    assert "tiny-vae" in msg and "blobs-vae" in msg and "different datasets" in msg
    assert not at.dataframe


def test_selection_survives_navigation(tiny_ckpts, runs_dir):
    import shutil

    shutil.copy(tiny_ckpts["vae"], runs_dir), shutil.copy(tiny_ckpts["pca"], runs_dir)  # the picker lists runs_dir
    chosen = ["run/tiny-vae", "run/tiny-pca"]
    at = _open()
    at.multiselect(key="compare_select").set_value(chosen).run()
    assert list(at.dataframe[0].value.columns) == ["tiny-vae", "tiny-pca"]
    at.switch_page("pages/checkpoints.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.multiselect(key="compare_select").value == chosen
    assert list(at.dataframe[0].value.columns) == ["tiny-vae", "tiny-pca"]
