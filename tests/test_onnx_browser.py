"""Imported ONNX models in the browser: the component's JS interpreter (ui/components/vae_ops.js, with its elu, add
and mul ops) against onnxruntime on the original files, 64 inputs each, within 1e-4, in headless Chromium; and the
Latent map's canvas decoding an imported model on hover, in the page, with no server round trip."""

from __future__ import annotations

import numpy as np
import pytest

import e2e_helpers as e2e
import onnx_helpers as oh
from vae.checkpoint import load_checkpoint
from vae.export import export_model, to_json
from vae.onnx_import import import_onnx

from test_canvas_parity import js_page, js_run  # noqa: F401 (js_page is a fixture: the ops script in a blank page)

TOL = 1e-4
N = 64


@pytest.mark.parametrize("name", oh.CASES)
def test_js_runs_imported_models_as_onnxruntime_runs_the_files(js_page, tmp_path, name):  # noqa: F811 (the fixture)
    c = oh.case(name)
    ckpt = load_checkpoint(import_onnx(c.encoder, c.decoder, data="digits", **c.options, out=tmp_path / "m.safetensors"))
    js = to_json(export_model(ckpt.model))
    rng = np.random.default_rng(11)
    z = rng.normal(0, 1.5, (N, c.latent_dim)).astype(np.float32)
    ref = oh.expected_image(oh.ort_run(c.decoder, z)[0], ckpt.model_config.likelihood,
                            ckpt.meta["program"]["decoder_output"])
    got = js_run(js_page, js["decoder"], z)
    assert got.shape == ref.shape and ref.std() > 1e-3
    assert np.abs(got - ref).max() <= TOL, f"decoder: max abs diff {np.abs(got - ref).max():.3g}"
    x = rng.uniform(0, 1, (N, 1, 8, 8)).astype(np.float32)
    ref = np.concatenate(oh.ort_run(c.encoder, x), axis=1)
    got = js_run(js_page, js["encoder"], x)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= TOL, f"encoder: max abs diff {np.abs(got - ref).max():.3g}"


def test_js_constants_broadcast_one_number_or_one_per_activation(js_page):  # noqa: F811 (the fixture)
    from vae.export import run_program

    rng = np.random.default_rng(0)
    v = rng.normal(size=(2, 3, 3)).astype(np.float32)
    program = {"in_shape": [2, 3, 3], "out_shape": [2, 3, 3], "ops": [
        {"op": "mul", "value": v}, {"op": "add", "value": np.array([0.25], np.float32)},
        {"op": "elu", "alpha": 0.7}, {"op": "mul", "value": np.array([-2.0], np.float32)}, {"op": "add", "value": v}]}
    x = rng.normal(size=(5, 2, 3, 3)).astype(np.float32)
    json_prog = to_json({"encoder": program, "decoder": program})["encoder"]
    got = js_run(js_page, json_prog, x)
    ref = np.stack([run_program(program, xi).ravel() for xi in x])
    assert np.abs(got - ref).max() <= 1e-5


def test_hover_decodes_an_imported_model_in_the_page(js_page, tmp_path):  # noqa: F811 (the fixture)
    import canvas_helpers as cv

    c = oh.case("conv", trained=True)
    runs = tmp_path / "runs"
    runs.mkdir()
    import_onnx(c.encoder, c.decoder, data="digits", **c.options, out=runs / "imported-conv.safetensors")
    server = e2e.start_server(runs_dir=runs, log_path=tmp_path / "streamlit.log")
    errors: list[str] = []
    try:
        page = e2e.new_page(js_page.context.browser, errors)  # one browser for the module
        sent = cv.count_sent_frames(page)
        e2e.open_app(page, server, path="?ckpt=run/imported-conv")
        cv.wait_canvas(page)
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert "VAE · imported · z=2" in page.locator('[data-testid="stSidebar"]').inner_text()
        assert "server-drawn map because" not in main, main[:400]
        spots = cv.empty_spots(page, 4)
        before, hashes = sent["sent"], set()
        for spot in spots:
            page.mouse.move(spot["x"], spot["y"])
            page.wait_for_timeout(150)
            hashes.add(cv.canvas_hash(page))
        assert len(hashes) == len(spots)  # every z painted its own image
        assert sent["sent"] == before  # decoded in the page: no frame to the server
        page.screenshot(path=str(tmp_path / "imported-hover.png"))
        assert not errors, errors
    finally:
        print(f"screenshot: {tmp_path / 'imported-hover.png'}\nstreamlit log tail:\n{server.log_tail(2000)}")
        server.stop()
