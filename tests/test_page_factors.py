"""AppTest of the Factors page: MI heatmap, MIG and labelled traversals for `shapes`; a clear message without factors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import as_run

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "pages/factors.py"


def _tiny_shapes(out: Path, beta: float = 1.0, objective: str = "elbo") -> Path:
    """A tiny conv VAE on 512 `shapes` images: seconds to train, enough to have a code to measure."""
    from vae.config import DataConfig, ModelConfig, TrainConfig
    from vae.run import run_training

    run_training(ModelConfig(kind="vae", arch="conv", latent_dim=4, channels=(8, 8), hidden=(32,)),
                 TrainConfig(epochs=1, batch_size=64, beta=beta, seed=0, threads=1, objective=objective),
                 DataConfig(name="shapes", limit=512, test_fraction=0.05), out, write_log=False)  # 640 test images
    return out


@pytest.fixture(scope="module")
def shapes_ckpt(tmp_path_factory) -> Path:
    return _tiny_shapes(tmp_path_factory.mktemp("shapes") / "tiny-shapes.safetensors")


@pytest.fixture(scope="module")
def shapes_demos(tmp_path_factory, shapes_ckpt) -> Path:
    """A demo folder with two shapes VAEs (β = 1 and 4), like the bundled shapes demos."""
    import shutil

    d = tmp_path_factory.mktemp("demos")
    shutil.copy(shapes_ckpt, d / "shapes-1-vae-b1.safetensors")
    _tiny_shapes(d / "shapes-2-vae-b4.safetensors", beta=4.0)
    return d


def _reference(path: Path, active_only: bool = False) -> dict:
    """MIG as disentanglement_lib defines it, written out here independently of vae.metrics: posterior means from the
    encoder, 20 equal-width bins per dim over its range, scikit-learn's plug-in MI, gap of the top two dims over H(v_k),
    mean over the factors that vary. Also each factor's gap and each dim's best factor (by share of H(v_k))."""
    import numpy as np
    import torch
    from sklearn.metrics import mutual_info_score

    from vae.checkpoint import load_checkpoint
    from vae.data import config_from_info, load
    from vae.metrics import ACTIVE_UNIT_THRESHOLD

    ckpt = load_checkpoint(path)
    test = load(config_from_info(ckpt.data)).test
    with torch.no_grad():
        mu = ckpt.model.eval().encode(test.x).mu.numpy().astype(np.float64)  # (N, D)
    if active_only:
        mu = mu[:, mu.var(0) > ACTIVE_UNIT_THRESHOLD]
    if mu.shape[1] < 2:  # no gap between a top two
        return {"n_dims": mu.shape[1]}
    factors = test.factors.numpy()  # (N, K)
    codes = [np.digitize(m, np.linspace(m.min(), m.max(), 21)[1:-1]) for m in mu.T]  # bins 0..19, max in the last
    mi = np.array([[mutual_info_score(f, c) for f in factors.T] for c in codes])  # (D, K)
    h = np.array([mutual_info_score(f, f) for f in factors.T])  # (K,) H(v_k)
    top = -np.sort(-mi, axis=0)
    gaps = (top[0] - top[1]) / np.where(h > 0, h, np.nan)
    return {"mig": float(np.nanmean(gaps)), "gaps": gaps, "best_factor": (mi / h).argmax(1), "n_dims": mu.shape[1]}


def _expected_mig(path: Path) -> float:
    return _reference(path)["mig"]


def _open(ckpt: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["ckpt_id"] = as_run(ckpt)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_heatmap_mig_and_labelled_traversals(shapes_ckpt, runs_dir):
    at = _open(shapes_ckpt)
    ref, ref_active = _reference(shapes_ckpt), _reference(shapes_ckpt, active_only=True)
    shown = {m.label: m.value for m in at.metric}
    assert abs(float(shown["MIG · binned μ"]) - ref["mig"]) <= 5e-4 + 1e-9, (shown["MIG · binned μ"], ref["mig"])  # shown to 3 places
    if ref_active["n_dims"] >= 2:
        assert abs(float(shown["MIG, active dims"]) - ref_active["mig"]) <= 5e-4 + 1e-9
    else:
        assert shown["MIG, active dims"] == "–"
    names = ["shape", "scale", "rotation", "x", "y"]
    assert [k for k in shown if k.startswith("gap")] == [f"gap · {n}" for n in names]
    for n, gap in zip(names, ref["gaps"]):
        assert abs(float(shown[f"gap · {n}"]) - gap) <= 5e-3 + 1e-9, (n, shown[f"gap · {n}"], gap)  # 2 places
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert heat["type"] == "heatmap" and heat["x"] == ["shape", "scale", "rotation", "x", "y"]
    assert len(heat["z"]) == 4 and all(0 <= v <= 1 + 1e-9 for row in heat["z"] for v in row)
    labels = [m.value for m in at.markdown if m.value.startswith("**z")]
    assert len(labels) == 4 and all(any(f" · {n} (" in lab for n in names) for lab in labels)
    for lab in labels:  # each label names the factor its dim shares most entropy with
        i = int(lab[3:].split(" ")[0]) - 1
        assert f"{names[ref['best_factor'][i]]} (" in lab
    at.radio(key="factors_base").set_value("zero").run()
    assert not at.exception and len([m for m in at.markdown if m.value.startswith("**z")]) == 4


def test_both_estimators_side_by_side_with_the_note_and_active_dims(shapes_ckpt, runs_dir):
    import numpy as np

    from vae.checkpoint import load_checkpoint
    from vae.data import config_from_info, load
    from vae.explore import encode_dataset
    from vae.metrics import ACTIVE_UNIT_THRESHOLD, factor_scores
    from vae.mig import mig_without, sampled_factor_scores, whole_set

    at = _open(shapes_ckpt)
    ckpt = load_checkpoint(shapes_ckpt)
    split = load(config_from_info(ckpt.data))
    x, factors, names = whole_set(split)  # train + test: 512 + 640 images
    mu, logvar = encode_dataset(ckpt.model, x)
    expected = sampled_factor_scores(mu, logvar, factors, names)
    metric = {m.label: m.value for m in at.metric}
    assert metric["MIG · sampled z"] == f"{expected.mig:.3f}"
    assert metric["sampled, no shape"] == f"{mig_without(expected):.3f}"
    binned = factor_scores(encode_dataset(ckpt.model, split.test.x)[0], split.test.factors.numpy())
    assert metric["binned, no shape"] == f"{np.mean(binned.gaps[1:]):.3f}"
    note = next(c.value for c in at.caption if c.value.startswith("Why two MIGs"))
    assert "posterior means" in note and "z ~ q(z|x)" in note and f"all {len(x)} images" in note
    test_mu = encode_dataset(ckpt.model, split.test.x)[0]
    active = [f"z{i + 1}" for i in np.flatnonzero(test_mu.var(0) > ACTIVE_UNIT_THRESHOLD)]
    assert any(m.value.startswith("Active dims") and ", ".join(active or ["none"]) in m.value for m in at.markdown)
    at.radio(key="factors_estimator").set_value("sampled").run()
    assert not at.exception
    gaps = [m.value for m in at.metric if m.label.startswith("gap")]
    assert gaps == [f"{g:.2f}" for g in expected.gaps]  # the gaps (and heatmap) follow the chosen estimator
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    np.testing.assert_allclose(heat["z"], expected.mi / expected.entropy, atol=1e-9)
    assert any("Chen et al. (2018): one z ~ q(z|x)" in c.value for c in at.caption)


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
    assert any("coloured by scale" in c.value for c in at.caption)  # the page says what the colours mean
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


def test_one_colouring_reaches_the_canvas_too(shapes_ckpt, runs_dir):
    """ui.colour.colour_by is the one colour-by mechanism: a factor's levels as categories (ordered ones on viridis,
    shape on distinct hues), and the canvas path (not only the Plotly map) is sent exactly that colouring."""
    import numpy as np

    from ui.map.canvas_map import colour_payload
    from ui.payload import K_SENT
    from ui.colour import colour_by
    from ui.common import current_data, load_model
    from ui.map.state import View
    from vae import shapes

    path = str(shapes_ckpt)
    test = current_data(load_model(path)).test
    scale, shape = colour_by(path, "scale"), colour_by(path, "shape")
    assert scale.ordered and not shape.ordered and shape.names == tuple(shapes.SHAPES)
    assert np.array_equal(scale.codes, test.factors[:, 1].numpy()) and scale.names == shapes.factor_levels()[1]
    with pytest.raises(ValueError, match="no factor"):
        colour_by(path, "colour")
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["ckpt_id"] = as_run(shapes_ckpt)
    at.run()
    at.selectbox(key="map_colour").set_value("scale").run()
    assert not at.exception, at.exception
    ss = at.session_state
    shown = ss["map_for"]  # the file the page opened (a copy in the runs folder)
    view = View(method=ss["map_method"], dims=(ss["map_dx"], ss["map_dy"]))
    want = colour_payload(shown, view, colour_by(shown, "scale"))
    assert want.key in at.session_state[K_SENT]  # the canvas was sent the scale colouring


def test_train_form_offers_shapes_with_its_preset(runs_dir):
    from vae.shapes import PRESET_MODEL, PRESET_TRAIN

    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train_data").set_value("shapes").run()
    assert not at.exception
    assert at.selectbox(key="train_arch").value == "conv"
    assert at.number_input(key="train_latent_dim").value == PRESET_MODEL["latent_dim"]
    assert at.number_input(key="train_epochs").value == PRESET_TRAIN["epochs"]
    at.number_input(key="train_epochs").set_value(1).run()
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    from ui.jobs_ui import job_manager

    job_id = at.session_state["train_job"]
    spec = json.loads((runs_dir / f"{job_id.removeprefix('run/')}.job.json").read_text())  # the configs the run trains with
    job_manager().stop(job_id, by=spec["owner"])  # only the starting session may stop it
    assert spec["data"]["name"] == "shapes" and spec["model"]["arch"] == "conv"
    assert list(spec["model"]["channels"]) == list(PRESET_MODEL["channels"])
    assert list(spec["model"]["hidden"]) == list(PRESET_MODEL["hidden"])


def test_beta_sweep_plots_mig_against_beta_for_shapes(shapes_demos, runs_dir, monkeypatch):
    from ui.sweep_ui import SHAPES_DEMO_SWEEP

    monkeypatch.setenv("VAE_DEMO_DIR", str(shapes_demos))
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/beta_sweep.py").run()
    assert SHAPES_DEMO_SWEEP in at.selectbox(key="beta_pick").options
    at.selectbox(key="beta_pick").set_value(SHAPES_DEMO_SWEEP).run()
    assert not at.exception, at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    mig = next(s for s in specs if "MIG" in s["layout"]["title"]["text"])
    assert mig["data"][0]["x"] == [1.0, 4.0]
    expected = [_expected_mig(shapes_demos / f) for f in ("shapes-1-vae-b1.safetensors", "shapes-2-vae-b4.safetensors")]
    assert mig["data"][0]["y"] == pytest.approx(expected)
    assert any("Rate" in s["layout"]["title"]["text"] for s in specs)  # beside the rate–distortion plane
    at.selectbox(key="beta_pick").set_value("Bundled demos (2-D VAEs on digits)").run()
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert not any("MIG" in t for t in titles)  # digits has no factors: no MIG plot


def test_tcvae_demos_are_a_sweep_of_their_own(shapes_demos, runs_dir, monkeypatch, tmp_path):
    import shutil

    from ui.sweep_ui import SHAPES_DEMO_SWEEP, TCVAE_DEMO_SWEEP

    d = tmp_path / "demos"
    shutil.copytree(shapes_demos, d)
    for name, beta in (("shapes-3-tcvae-b1", 1.0), ("shapes-4-tcvae-b6", 6.0)):
        _tiny_shapes(d / f"{name}.safetensors", beta=beta, objective="beta-tcvae")
    monkeypatch.setenv("VAE_DEMO_DIR", str(d))
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/beta_sweep.py").run()
    assert {SHAPES_DEMO_SWEEP, TCVAE_DEMO_SWEEP} <= set(at.selectbox(key="beta_pick").options)
    for sweep, betas in ((SHAPES_DEMO_SWEEP, [1.0, 4.0]), (TCVAE_DEMO_SWEEP, [1.0, 6.0])):
        at.selectbox(key="beta_pick").set_value(sweep).run()
        assert not at.exception, at.exception
        mig = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                   if "MIG" in json.loads(c.proto.spec)["layout"]["title"]["text"])
        assert mig["data"][0]["x"] == betas  # each objective's demos only
        # ... and the other objective's demos beside them, so β-VAE and β-TCVAE read on one plot
        other, other_betas = ("β-TCVAE", [1.0, 6.0]) if sweep == SHAPES_DEMO_SWEEP else ("β-VAE", [1.0, 4.0])
        (ref,) = [t for t in mig["data"] if t.get("name") == f"bundled {other} demos"]
        assert ref["x"] == other_betas
        files = {"β-VAE": ("shapes-1-vae-b1", "shapes-2-vae-b4"), "β-TCVAE": ("shapes-3-tcvae-b1", "shapes-4-tcvae-b6")}
        assert ref["y"] == pytest.approx([_expected_mig(d / f"{f}.safetensors") for f in files[other]], abs=1e-12)


def test_compare_has_a_mig_row_for_shapes_only(shapes_demos, tiny_ckpts, runs_dir, monkeypatch):
    monkeypatch.setenv("VAE_DEMO_DIR", str(shapes_demos))
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["compare_ids"] = ["demo/shapes-1-vae-b1", "demo/shapes-2-vae-b4"]
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    row = next(i for i in table.index if i.startswith("MIG"))
    expected = [_expected_mig(shapes_demos / f) for f in ("shapes-1-vae-b1.safetensors", "shapes-2-vae-b4.safetensors")]
    assert list(table.loc[row]) == [f"{m:.3f}" for m in expected]
    at2 = AppTest.from_file(APP, default_timeout=90)
    at2.session_state["compare_ids"] = [as_run(tiny_ckpts["vae"]), as_run(tiny_ckpts["vae8"])]
    at2.run()
    at2.switch_page("pages/compare.py").run()
    assert not any(i.startswith("MIG") for i in at2.dataframe[0].value.index)
