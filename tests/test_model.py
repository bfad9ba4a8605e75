"""Model shapes and interface for every kind and architecture; the PCA baseline against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA as SkPCA

from vae.config import ConfigError, ModelConfig
from vae.model import PCA, AutoEncoder, VAE, build_model


@pytest.mark.parametrize("kind", ["vae", "ae", "pca"])
@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 28, 28), (1, 7, 9)])
def test_shapes_and_interface(kind, arch, shape):
    cfg = ModelConfig(kind=kind, arch=arch, input_shape=shape, latent_dim=3, hidden=(16,), channels=(4, 8))
    model = build_model(cfg)
    x = torch.rand(5, *shape)
    q = model.encode(x)
    assert q.mu.shape == (5, 3)
    assert (q.logvar is None) == (kind != "vae")
    assert model.generative == (kind == "vae")
    out = model.decoder_output(q.mu)
    assert out.shape == (5, *shape)
    img = model.decode(torch.randn(4, 3) * 5)
    assert img.shape == (4, *shape) and img.min() >= 0 and img.max() <= 1
    logits, posterior, z = model(x, generator=torch.Generator().manual_seed(0))
    assert logits.shape == (5, *shape) and z.shape == (5, 3)


def test_kinds_and_gaussian_likelihood():
    cfg = ModelConfig(likelihood="gaussian", sigma=0.2, learn_sigma=True, hidden=(8,))
    assert type(build_model(cfg)) is VAE
    assert type(build_model(cfg.replace(kind="ae"))) is AutoEncoder
    assert type(build_model(cfg.replace(kind="pca"))) is PCA
    m = build_model(cfg)
    assert m.log_sigma.requires_grad and abs(m.log_sigma.exp().item() - 0.2) < 1e-6
    assert not build_model(cfg.replace(learn_sigma=False)).log_sigma.requires_grad
    assert build_model(cfg.replace(likelihood="bernoulli")).log_sigma is None


def test_vae_sampling_is_seeded_and_ae_is_deterministic():
    torch.manual_seed(0)
    vae = build_model(ModelConfig(hidden=(8,)))
    x = torch.rand(3, 1, 8, 8)
    _, _, z1 = vae(x, generator=torch.Generator().manual_seed(1))
    _, _, z2 = vae(x, generator=torch.Generator().manual_seed(1))
    _, _, z3 = vae(x, generator=torch.Generator().manual_seed(2))
    assert torch.equal(z1, z2) and not torch.equal(z1, z3)
    ae = build_model(ModelConfig(kind="ae", hidden=(8,)))
    assert not hasattr(ae, "to_logvar")
    _, q, z = ae(x)
    assert torch.equal(z, q.mu)


def test_config_rejects_impossible_models():
    with pytest.raises(ConfigError) as e:
        ModelConfig(latent_dim=0)
    assert e.value.field == "latent_dim"
    with pytest.raises(ConfigError) as e:
        ModelConfig(kind="pca", input_shape=(1, 2, 2), latent_dim=5)
    assert e.value.field == "latent_dim"
    with pytest.raises(ConfigError) as e:
        ModelConfig(arch="conv", input_shape=(1, 4, 4), channels=(4, 4, 4, 4, 4))
    assert e.value.field == "channels"
    with pytest.raises(ConfigError) as e:
        ModelConfig.from_dict({"latent_dims": 2})
    assert e.value.field == "latent_dims"
    assert ModelConfig.from_dict(ModelConfig(hidden=(5, 6)).to_dict()) == ModelConfig(hidden=(5, 6))


def _data(n=300, p=36, seed=0):
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(6, p))
    return (rng.normal(size=(n, 6)) * [5, 4, 3, 2, 1, 0.5]) @ basis + rng.normal(scale=0.1, size=(n, p))


def test_pca_matches_sklearn():
    flat = _data()
    x = torch.tensor(flat, dtype=torch.float32).view(-1, 1, 6, 6)
    model = build_model(ModelConfig(kind="pca", input_shape=(1, 6, 6), latent_dim=4, likelihood="gaussian")).fit(x)
    ref = SkPCA(n_components=4, svd_solver="full").fit(flat)
    comps = model.components.double().numpy()
    signs = np.sign((comps * ref.components_).sum(1))  # components are defined up to sign
    assert np.all(np.abs(signs) == 1)
    np.testing.assert_allclose(comps * signs[:, None], ref.components_, atol=1e-5)
    np.testing.assert_allclose(model.explained_variance.numpy(), ref.explained_variance_, rtol=1e-4)
    np.testing.assert_allclose(model.mean.numpy(), ref.mean_, atol=1e-5)
    z = model.encode(x).mu.double().numpy()
    z_ref = ref.transform(flat)
    np.testing.assert_allclose(z * signs, z_ref, atol=1e-3)
    back = model.linear_decode(torch.tensor(z, dtype=torch.float32)).reshape(len(flat), -1).double().numpy()
    np.testing.assert_allclose(back, ref.inverse_transform(z_ref), atol=1e-3)
    # with the Gaussian likelihood decoder_output is the linear reconstruction itself
    torch.testing.assert_close(model.decoder_output(model.encode(x).mu), model.linear_decode(model.encode(x).mu))


def test_pca_bernoulli_decoder_stays_finite():
    x = torch.rand(50, 1, 4, 4)
    model = build_model(ModelConfig(kind="pca", input_shape=(1, 4, 4), latent_dim=2)).fit(x)
    out = model.decoder_output(torch.randn(7, 2) * 100)
    assert torch.isfinite(out).all()
    img = model.decode(torch.randn(7, 2) * 100)
    assert img.min() >= 0 and img.max() <= 1
