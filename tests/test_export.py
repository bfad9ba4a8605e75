"""vae.export: each op of the reference interpreter against torch, whole models, and the refusals."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch
from torch import nn

from vae.config import ModelConfig
from vae.export import ExportError, _chain, check_export, export_model, run_program, to_json, weight_bytes
from vae.model import build_model


def _one_layer(layer: nn.Module, in_shape: tuple[int, ...], seed: int = 0) -> float:
    """Export `layer` alone, run it in the reference interpreter and in torch; max abs difference."""
    torch.manual_seed(seed)
    for p in layer.parameters():
        p.data.normal_(0, 0.5)
    ops, out_shape = _chain(nn.Sequential(layer), "t", in_shape)
    prog = {"in_shape": list(in_shape), "out_shape": out_shape, "ops": ops}
    x = torch.randn(4, *in_shape)
    with torch.no_grad():
        ref = layer(x).double().numpy()
    got = np.stack([run_program(prog, xi.numpy()) for xi in x])
    assert got.shape == ref.shape
    return float(np.abs(got - ref).max())


@pytest.mark.parametrize("layer,shape", [
    (nn.Linear(5, 3), (5,)),
    (nn.Linear(5, 3, bias=False), (5,)),
    (nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 9, 7)),
    (nn.Conv2d(2, 3, (3, 2), stride=(1, 2), padding=(0, 1)), (2, 6, 5)),
    (nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), (3, 4, 4)),
    (nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=(0, 1)), (3, 5, 4)),
    (nn.ConvTranspose2d(3, 2, 4, stride=1, padding=0, bias=False), (3, 3, 3)),
    (nn.Flatten(), (2, 3, 4)),
    (nn.Unflatten(1, (2, 3)), (6,)),
    (nn.ReLU(), (7,)),
    (nn.LeakyReLU(0.2), (7,)),
    (nn.Sigmoid(), (7,)),
    (nn.Tanh(), (7,)),
])
def test_each_op_matches_torch(layer, shape):
    assert _one_layer(layer, shape) < 1e-5


def test_output_links_and_clamp():
    prog = {"in_shape": [4], "out_shape": [4], "ops": [{"op": "clamp", "lo": 0.0, "hi": 1.0}]}
    assert np.array_equal(run_program(prog, [-1, 0.5, 2, 1]), [0, 0.5, 1, 1])


MODEL_CFGS = [
    ModelConfig(kind="vae"),
    ModelConfig(kind="vae", likelihood="gaussian", latent_dim=3, hidden=(16, 8)),
    ModelConfig(kind="ae", latent_dim=4, hidden=(16,)),
    ModelConfig(kind="vae", arch="conv", input_shape=(1, 28, 28), hidden=(32,), channels=(4, 8)),
    ModelConfig(kind="ae", arch="conv", input_shape=(3, 9, 7), latent_dim=3, hidden=(8,), channels=(4, 6, 5)),
]


@pytest.mark.parametrize("cfg", MODEL_CFGS, ids=lambda c: f"{c.kind}-{c.arch}-{c.likelihood}-{c.input_shape}")
def test_whole_models_match_decode_and_encode(cfg):
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    exported = export_model(model)  # runs check_export, which raises on any disagreement
    assert exported["posterior"] == ("gaussian" if cfg.kind == "vae" else "point")
    assert exported["decoder"]["out_shape"] == list(cfg.input_shape)
    assert exported["encoder"]["out_shape"] == [cfg.latent_dim * (2 if cfg.kind == "vae" else 1)]
    z = torch.randn(3, cfg.latent_dim)
    assert np.allclose(run_program(exported["decoder"], z[0].numpy()), model.decode(z)[0].numpy(), atol=1e-5)


def test_pca_exports_its_clamped_mean_image():
    """PCA decode is the linear map clamped to (1e-4, 1 - 1e-4) for Bernoulli (sigmoid of clamped logits)."""
    x = torch.rand(50, 1, 8, 8)
    model = build_model(ModelConfig(kind="pca", latent_dim=3)).fit(x)
    exported = export_model(model)
    z = torch.randn(5, 3) * 20  # far out, so the clamp is exercised
    got = np.stack([run_program(exported["decoder"], zi.numpy()) for zi in z])
    assert np.allclose(got, model.decode(z).numpy(), atol=1e-5)
    assert got.min() == pytest.approx(1e-4) and got.max() == pytest.approx(1 - 1e-4)
    mu = model.encode(x[:2]).mu.numpy()
    assert np.allclose(run_program(exported["encoder"], x[0].numpy()), mu[0], atol=1e-5)


def test_an_unknown_layer_is_refused_with_its_name():
    model = build_model(ModelConfig(kind="vae", hidden=(16,))).eval()
    model.decoder.net.insert(1, nn.BatchNorm1d(16))
    with pytest.raises(ExportError, match=r"decoder\.net\.1: layer BatchNorm1d has no browser op"):
        export_model(model)


def test_unsupported_conv_settings_are_refused():
    model = build_model(ModelConfig(kind="vae", arch="conv", hidden=(8,), channels=(4,))).eval()
    model.encoder.net[0] = nn.Conv2d(1, 4, 3, stride=2, padding=1, dilation=2)
    with pytest.raises(ExportError, match="dilation"):
        export_model(model)


def test_a_forward_the_walk_cannot_see_is_caught_by_the_check():
    """A decoder whose forward does more than its layers (here a hidden negation) exports nothing."""
    model = build_model(ModelConfig(kind="vae", hidden=(16,))).eval()
    orig = type(model.decoder).forward
    model.decoder.forward = lambda z: -orig(model.decoder, z)
    with pytest.raises(ExportError, match="does not reproduce the model"):
        export_model(model)
    assert export_model(model, check=False)  # the walk alone would not have noticed


def test_unknown_model_class_is_refused():
    class Odd(nn.Module):
        config = ModelConfig()

    with pytest.raises(ExportError, match="Odd"):
        export_model(Odd())


def test_json_weights_round_trip_as_little_endian_float32():
    model = build_model(ModelConfig(kind="vae", hidden=(8,))).eval()
    exported = export_model(model)
    js = to_json(exported)
    op = js["decoder"]["ops"][0]
    w = np.frombuffer(base64.b64decode(op["weight"]["b64"]), dtype="<f4").reshape(op["weight"]["shape"])
    assert np.array_equal(w, model.decoder.net[0].weight.detach().numpy())
    assert weight_bytes(exported) == 4 * sum(p.numel() for p in model.parameters())
    assert check_export(model, exported) < 1e-5
