"""The component's JS interpreter (ui/components/vae_ops.js) against torch, in real headless Chromium.

No server: the script is loaded into a blank page and fed the same export the app sends. 64 random z per decoder
(64 random images per encoder); the worst absolute difference must stay within 1e-4.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import e2e_helpers as e2e
from vae.checkpoint import load_checkpoint
from vae.config import ModelConfig
from vae.export import export_model, to_json, torch_reference
from vae.model import build_model

ROOT = Path(__file__).resolve().parents[1]
REQUIRE = os.environ.get("VAE_REQUIRE_BROWSER") == "1"
OPS_JS = (ROOT / "ui" / "components" / "vae_ops.js").read_text()
TOL = 1e-4
N = 64


@pytest.fixture(scope="module")
def js_page():
    why = e2e.browser_missing_reason()
    if why:
        (pytest.fail if REQUIRE else pytest.skip)(f"no headless browser: {why}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = e2e.launch_browser(pw)
        page = browser.new_page()
        page.set_content("<html><body></body></html>")
        page.add_script_tag(content=OPS_JS)
        yield page
        browser.close()


def js_run(page, program: dict, xs: np.ndarray) -> np.ndarray:
    out = page.evaluate("([p, xs]) => { const f = VaeOps.compile(p); return xs.map(x => Array.from(f.run(x))); }",
                        [program, xs.reshape(len(xs), -1).tolist()])
    return np.asarray(out, dtype=np.float64)


def _random(cfg: ModelConfig, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    for p in model.parameters():  # larger than init so that the outputs are not all near 0.5
        p.data.mul_(1.5)
    return model


MODELS = {
    "mlp-bernoulli-demo": lambda: load_checkpoint(ROOT / "checkpoints/demos/digits-3-vae.safetensors").model,
    "mlp-bernoulli-784-400-2": lambda: _random(ModelConfig(kind="vae", input_shape=(1, 28, 28), hidden=(400,))),
    "conv-bernoulli": lambda: _random(ModelConfig(kind="vae", arch="conv", input_shape=(1, 28, 28), hidden=(64,),
                                                  channels=(8, 16))),
    "conv-odd-rgb-gaussian": lambda: _random(ModelConfig(kind="vae", arch="conv", input_shape=(3, 9, 7), latent_dim=3,
                                                         hidden=(16,), channels=(4, 6, 5), likelihood="gaussian")),
    "mlp-gaussian": lambda: _random(ModelConfig(kind="vae", input_shape=(1, 8, 8), latent_dim=4, hidden=(32, 16),
                                                likelihood="gaussian")),
    "pca-demo": lambda: load_checkpoint(ROOT / "checkpoints/demos/digits-1-pca.safetensors").model,
    "ae-demo": lambda: load_checkpoint(ROOT / "checkpoints/demos/digits-2-ae.safetensors").model,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_js_decoder_and_encoder_match_torch(js_page, name):
    model = MODELS[name]()
    exported = export_model(model)
    js = to_json(exported)
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, (N, exported["latent_dim"])).astype(np.float32)
    got = js_run(js_page, js["decoder"], z)
    ref = torch_reference(model, exported["posterior"], "decoder", z)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= TOL, f"decoder: max abs diff {np.abs(got - ref).max():.3g}"
    assert ref.std() > 1e-3  # the images differ, so agreement means something

    x = rng.uniform(0, 1, (N, *exported["input_shape"])).astype(np.float32)
    got = js_run(js_page, js["encoder"], x)
    ref = torch_reference(model, exported["posterior"], "encoder", x)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= TOL, f"encoder: max abs diff {np.abs(got - ref).max():.3g}"


def test_js_refuses_an_unknown_op(js_page):
    msg = js_page.evaluate("() => { try { VaeOps.compile({in_shape: [2], out_shape: [2], ops: [{op: 'softplus'}]});"
                           " return null; } catch (e) { return String(e); } }")
    assert msg and "softplus" in msg


def test_js_plane_gaussian_matches_numpy(js_page):
    """The live ellipse while drawing: B diag(exp(logvar)) B^T, as vae.explore.project_gaussian."""
    from vae.explore import latent_plane, project_gaussian

    rng = np.random.default_rng(3)
    mu, logvar = rng.normal(size=5), rng.normal(size=5)
    origin, basis = latent_plane(rng.normal(size=(50, 5)), "pca")
    centre, cov = project_gaussian(mu, logvar, origin, basis)
    got = js_page.evaluate("([out, o, b]) => VaeOps.planeGaussian(out, 5, o, b)",
                           [np.concatenate([mu, logvar]).tolist(), origin.tolist(), basis.tolist()])
    assert np.allclose(got["centre"], centre, atol=1e-9)
    assert np.allclose(got["cov"], cov, atol=1e-9)
