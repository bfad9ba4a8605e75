"""AppTest of the Factors page: MI heatmap, MIG and labelled traversals for `shapes`; a clear message without factors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import as_run

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "pages/factors.py"


@pytest.fixture(scope="module")
def shapes_ckpt(tmp_path_factory) -> Path:
    """A tiny conv VAE on 512 `shapes` images: seconds to train, enough to have a code to measure."""
    from vae.config import DataConfig, ModelConfig, TrainConfig
    from vae.run import run_training

    out = tmp_path_factory.mktemp("shapes") / "tiny-shapes.safetensors"
    run_training(ModelConfig(kind="vae", arch="conv", latent_dim=4, channels=(8, 8), hidden=(32,)),
                 TrainConfig(epochs=1, batch_size=64, seed=0, threads=1), DataConfig(name="shapes", limit=512), out,
                 write_log=False)
    return out


def _open(ckpt: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["ckpt_id"] = as_run(ckpt)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_heatmap_mig_and_labelled_traversals(shapes_ckpt, runs_dir):
    from vae.checkpoint import load_checkpoint
    from vae.data import config_from_info, load
    from vae.metrics import dataset_factor_scores

    at = _open(shapes_ckpt)
    ckpt = load_checkpoint(shapes_ckpt)
    expected = dataset_factor_scores(ckpt.model, load(config_from_info(ckpt.data)).test)
    mig = next(m for m in at.metric if m.label == "MIG")
    assert mig.value == f"{expected.mig:.3f}"  # the page shows the metric computed independently here
    gaps = {m.label: m.value for m in at.metric if m.label.startswith("gap")}
    assert list(gaps) == [f"gap · {n}" for n in ("shape", "scale", "rotation", "x", "y")]
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert heat["type"] == "heatmap" and heat["x"] == ["shape", "scale", "rotation", "x", "y"]
    assert len(heat["z"]) == 4 and all(0 <= v <= 1 + 1e-9 for row in heat["z"] for v in row)
    labels = [m.value for m in at.markdown if m.value.startswith("**z")]
    assert len(labels) == 4 and all(any(f" · {n} (" in lab for n in expected.factor_names) for lab in labels)
    # each label names the factor its dim shares most entropy with
    best = expected.best_factor
    for lab in labels:
        i = int(lab[3:].split(" ")[0]) - 1
        assert f"{expected.factor_names[best[i]]} (" in lab
    at.radio(key="factors_base").set_value("zero").run()
    assert not at.exception and len([m for m in at.markdown if m.value.startswith("**z")]) == 4


def test_no_factor_dataset_says_so(tiny_ckpts, runs_dir):
    at = _open(tiny_ckpts["vae"])
    assert any("no known generative factors" in i.value and "shapes" in i.value for i in at.info)
    assert not at.metric and not at.get("plotly_chart")


def test_latent_map_colours_by_any_factor(shapes_ckpt, runs_dir):
    from vae import shapes
    from vae.checkpoint import load_checkpoint
    from vae.data import config_from_info, load

    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["ckpt_id"] = as_run(shapes_ckpt)
    at.session_state["map_classic"] = True  # the server-drawn map, which AppTest can read
    at.run()
    assert not at.exception, at.exception
    names = lambda: [t["name"] for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]  # noqa: E731
                     if t.get("customdata") is not None]
    assert names() == list(shapes.SHAPES)  # by label (= shape) first
    at.selectbox(key="map_colour").set_value("scale").run()
    assert not at.exception and names() == list(shapes.factor_levels()[1])
    # each trace holds exactly the test images at that level of the factor
    test = load(config_from_info(load_checkpoint(shapes_ckpt).data)).test
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
    for level, trace in enumerate(t for t in spec if t.get("customdata") is not None):
        rows = trace["customdata"] if isinstance(trace["customdata"], list) else None
        if rows is None:
            import base64

            import numpy as np

            rows = np.frombuffer(base64.b64decode(trace["customdata"]["bdata"]), dtype=trace["customdata"]["dtype"])
        assert (test.factors[list(map(int, rows)), 1] == level).all()
