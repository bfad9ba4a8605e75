"""The component's JS interpreter (ui/components/vae_ops.js) against torch, in real headless Chromium.

No server: the script is loaded into a blank page and fed the same quantised export, in the same binary container,
that the app sends (vae/wire.py). 64 random z per decoder (64 random images per encoder), two comparisons each:
- against torch running the SAME dequantised weights, within 1e-4: the interpreter itself stays exact;
- against the original float32 model, within vae.wire's tolerances: only the quantisation error is allowed
  (decoded images 2e-3, the issue's bound; encoder outputs 5e-2 latent units, under 3 px on the default map).
"""

from __future__ import annotations

import base64
import copy
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import e2e_helpers as e2e
from vae import wire
from vae.checkpoint import load_checkpoint
from vae.config import ModelConfig
from vae.export import _leaves, export_model, run_program, torch_reference
from vae.model import PCA, build_model

ROOT = Path(__file__).resolve().parents[1]
REQUIRE = os.environ.get("VAE_REQUIRE_BROWSER") == "1"
OPS_JS = (ROOT / "ui" / "components" / "vae_ops.js").read_text()
TOL = 1e-4  # JS against torch on the same weights: float32 arithmetic in both, real differences are ~1e-6
# against the original float32 model, stated here rather than read from vae.wire so that loosening the quantiser
# fails: decoded images in [0, 1] within 2e-3 (issue 15; float16 gives ~4e-4); encoder outputs within 5e-2 latent
# units (under 3 px on the map's default +-4 over 460 px; a drawing's exact recon and KL come from the server)
QUANT_TOL = {"decoder": 2e-3, "encoder": 5e-2}
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
    """Run a quantised program in the page, sent as the app sends it: packed, then VaeOps.unpack."""
    packed = base64.b64encode(wire.pack({"program": program})).decode("ascii")
    out = page.evaluate("""([b64, xs]) => { const bin = atob(b64), bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        const f = VaeOps.compile(VaeOps.unpack(bytes).program); return xs.map(x => Array.from(f.run(x))); }""",
                        [packed, xs.reshape(len(xs), -1).tolist()])
    return np.asarray(out, dtype=np.float64)


def with_program_weights(model, exported: dict):
    """A copy of the model holding the (dequantised) weights of an export: torch then runs what the browser runs.
    VAE/AE: the weighted ops are the decoder's and encoder's layers in order, the encoder's last op is the heads
    stacked; PCA: the decoder's op is components^T and the mean (its encoder has no torch twin: None)."""
    m = copy.deepcopy(model)
    ops = {w: [op for op in exported[w]["ops"] if "weight" in op] for w in ("encoder", "decoder")}
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    with torch.no_grad():
        if isinstance(m, PCA):
            m.components.copy_(t(ops["decoder"][0]["weight"]).T)
            m.mean.copy_(t(ops["decoder"][0]["bias"]))
            return m, False
        heads = [m.to_mu] + ([m.to_logvar] if exported["posterior"] == "gaussian" else [])
        d = exported["latent_dim"]
        *enc_ops, head_op = ops["encoder"]
        for which, layers, wops in (("decoder", _leaves(m.decoder.net, "d"), ops["decoder"]),
                                    ("encoder", _leaves(m.encoder, "e"), enc_ops)):
            layers = [layer for _, layer in layers if getattr(layer, "weight", None) is not None]
            assert len(layers) == len(wops), which
            for layer, op in zip(layers, wops):
                layer.weight.copy_(t(op["weight"]))
                if layer.bias is not None:
                    layer.bias.copy_(t(op["bias"]))
        for k, h in enumerate(heads):
            h.weight.copy_(t(head_op["weight"][k * d : (k + 1) * d]))
            h.bias.copy_(t(head_op["bias"][k * d : (k + 1) * d]))
    return m, True


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
    quantised = wire.quantise(exported)
    same, encoder_twin = with_program_weights(model, wire.dequantise(quantised))
    rng = np.random.default_rng(1)
    inputs = {"decoder": rng.normal(0, 2, (N, exported["latent_dim"])).astype(np.float32),
              "encoder": rng.uniform(0, 1, (N, *exported["input_shape"])).astype(np.float32)}
    for which, x in inputs.items():
        got = js_run(js_page, quantised[which], x)
        ref = torch_reference(model, exported["posterior"], which, x)
        assert got.shape == ref.shape
        err = np.abs(got - ref).max()
        assert err <= QUANT_TOL[which], f"{which}: max abs diff from the float32 model {err:.3g}"
        if which == "decoder" or encoder_twin:
            twin = torch_reference(same, exported["posterior"], which, x)
        else:  # PCA's encoder bias -(C mean) is no parameter: the float64 reference interpreter stands in
            twin = np.stack([run_program(wire.dequantise(quantised)[which], xi).ravel() for xi in x])
        exact = np.abs(got - twin).max()
        assert exact <= TOL, f"{which}: max abs diff from torch on the same weights {exact:.3g}"
        if which == "decoder":
            assert ref.std() > 1e-3  # the images differ, so agreement means something
            assert np.abs(twin - ref).max() > 1e-6  # and the weights really are quantised: two distinct references


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
