"""Loss terms against torch.distributions, and the IWAE bound against the ELBO (Burda et al., 2016)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae.config import ModelConfig
from vae.losses import elbo_terms, iwae_bound, linear_ramp, recon_nll
from vae.model import DiagonalGaussian, build_model


def _gaussian(b=6, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(b, d, generator=g, dtype=torch.float64) * 2
    logvar = torch.randn(b, d, generator=g, dtype=torch.float64) * 1.5
    return mu, logvar


def test_kl_matches_torch_distributions():
    mu, logvar = _gaussian()
    ref = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros_like(mu), torch.ones_like(mu)))
    torch.testing.assert_close(DiagonalGaussian(mu, logvar).kl(), ref)
    assert (ref >= 0).all()


def test_kl_is_zero_only_at_the_prior():
    zero = torch.zeros(3, 5)
    assert DiagonalGaussian(zero, zero).kl().abs().max() == 0
    assert (DiagonalGaussian(zero + 0.1, zero).kl() > 0).all()
    assert (DiagonalGaussian(zero, zero - 0.1).kl() > 0).all()


def test_posterior_log_prob_and_sampling():
    mu, logvar = _gaussian()
    q = DiagonalGaussian(mu, logvar)
    z = q.sample(torch.Generator().manual_seed(1))
    ref = Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    torch.testing.assert_close(q.log_prob(z), ref)
    torch.testing.assert_close(q.sample(torch.Generator().manual_seed(1)), z)  # seeded: reproducible
    assert not torch.equal(q.sample(torch.Generator().manual_seed(2)), z)
    assert torch.equal(q.mode(), mu)
    point = DiagonalGaussian(mu)
    assert point.deterministic and torch.equal(point.sample(), mu) and torch.equal(point.std, torch.zeros_like(mu))
    with pytest.raises(ValueError):
        point.kl()


def test_reparameterised_sample_passes_gradients():
    mu = torch.zeros(2, 3, requires_grad=True)
    logvar = torch.zeros(2, 3, requires_grad=True)
    DiagonalGaussian(mu, logvar).sample(torch.Generator().manual_seed(0)).sum().backward()
    assert mu.grad is not None and torch.equal(mu.grad, torch.ones_like(mu))
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_bernoulli_recon_matches_log_prob():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(5, 1, 4, 4, generator=g) > 0.5).double()
    logits = torch.randn(5, 1, 4, 4, generator=g, dtype=torch.float64) * 3
    ref = -Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(recon_nll(x, logits, "bernoulli"), ref)
    # grey-level targets: the continuous Bernoulli cross-entropy, still -x log p - (1-x) log(1-p)
    xs = torch.rand(5, 1, 4, 4, generator=g, dtype=torch.float64)
    p = torch.sigmoid(logits)
    ref_soft = -(xs * p.log() + (1 - xs) * (1 - p).log()).flatten(1).sum(1)
    torch.testing.assert_close(recon_nll(xs, logits, "bernoulli"), ref_soft)


def test_gaussian_recon_matches_log_prob():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, 4, 4, generator=g, dtype=torch.float64)
    mean = torch.rand(5, 3, 4, 4, generator=g, dtype=torch.float64)
    log_sigma = torch.tensor(math.log(0.3), dtype=torch.float64)
    ref = -Normal(mean, log_sigma.exp()).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(recon_nll(x, mean, "gaussian", log_sigma), ref)
    with pytest.raises(ValueError):
        recon_nll(x, mean, "gaussian")
    with pytest.raises(ValueError):
        recon_nll(x, mean, "poisson", log_sigma)


def test_elbo_terms_units_and_signs():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 1, 3, 3, generator=g)
    out = torch.randn(8, 1, 3, 3, generator=g)
    mu, logvar = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
    t = elbo_terms(x, out, DiagonalGaussian(mu, logvar), likelihood="bernoulli", beta=3.0)
    recon = recon_nll(x, out, "bernoulli").mean()  # nats per image: sum over pixels, mean over images
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), prior).sum(1).mean()  # an independent reference
    torch.testing.assert_close(t["recon"], recon)
    torch.testing.assert_close(t["kl"], kl)
    torch.testing.assert_close(t["kl_per_dim"].sum(), kl)
    torch.testing.assert_close(t["loss"], recon + 3.0 * kl)
    torch.testing.assert_close(t["elbo"], -(recon + kl))
    c = elbo_terms(x, out, DiagonalGaussian(mu, logvar), likelihood="bernoulli", beta=3.0, capacity=1.5)
    torch.testing.assert_close(c["loss"], recon + 3.0 * (kl - 1.5).abs())  # Burgess et al.: beta * |KL - C|
    ae = elbo_terms(x, out, DiagonalGaussian(mu), likelihood="bernoulli", beta=3.0)
    assert ae["kl"] == 0 and torch.equal(ae["loss"], ae["recon"])


def test_linear_ramp():
    assert linear_ramp(0.0, 4.0, 2.0) == 0.0
    assert linear_ramp(1.0, 4.0, 2.0) == 0.5
    assert linear_ramp(9.0, 4.0, 2.0) == 2.0
    assert linear_ramp(0.0, 0.0, 2.0) == 2.0  # no ramp: the final value at once


@pytest.fixture(scope="module")
def tiny_vae():
    torch.manual_seed(0)
    model = build_model(ModelConfig(input_shape=(1, 4, 4), latent_dim=3, hidden=(16,))).double().eval()
    x = torch.rand(4, 1, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return model, x


def test_iwae_matches_an_independent_implementation(tiny_vae):
    model, x = tiny_vae
    with torch.no_grad():
        q = model.encode(x)
        got = iwae_bound(x, q, model.decoder_output, k=7, likelihood="bernoulli", generator=torch.Generator().manual_seed(3))
        eps = torch.randn((7, *q.mu.shape), generator=torch.Generator().manual_seed(3), dtype=x.dtype)
        ref = []
        for b in range(x.shape[0]):
            logw = []
            for j in range(7):
                z = q.mu[b] + q.std[b] * eps[j, b]
                logits = model.decoder_output(z[None])[0]
                logw.append(Bernoulli(logits=logits, validate_args=False).log_prob(x[b]).sum() + Normal(0.0, 1.0).log_prob(z).sum()
                            - Normal(q.mu[b], q.std[b]).log_prob(z).sum())
            ref.append(torch.logsumexp(torch.stack(logw), 0) - math.log(7))
    torch.testing.assert_close(got, torch.stack(ref))


def test_iwae_k1_equals_the_elbo_in_expectation(tiny_vae):
    model, x = tiny_vae
    reps = 4000
    xr = x.repeat(reps, 1, 1, 1)  # (reps*B, 1, 4, 4): one independent sample per row
    with torch.no_grad():
        q = model.encode(xr)
        iwae1 = iwae_bound(xr, q, model.decoder_output, k=1, likelihood="bernoulli", generator=torch.Generator().manual_seed(5))
        z = q.sample(torch.Generator().manual_seed(5))  # the same eps, so the comparison is paired
        elbo = -(recon_nll(xr, model.decoder_output(z), "bernoulli") + q.kl().sum(1))
    diff = (iwae1 - elbo).view(reps, -1)  # log p(z) - log q(z|x) + KL: zero mean for every image
    se = diff.std(0) / math.sqrt(reps)
    assert (diff.mean(0).abs() < 4 * se + 1e-9).all(), (diff.mean(0), se)
    assert diff.abs().max() > 1e-3  # the check above is not vacuous: single samples do differ


def test_iwae_is_non_decreasing_in_k(tiny_vae):
    model, x = tiny_vae
    means, ses = {}, {}
    reps = 200
    xr = x.repeat(reps, 1, 1, 1)  # (reps*B, ...): independent estimates in one call
    with torch.no_grad():
        q = model.encode(xr)
        for k in (1, 5, 50):
            vals = iwae_bound(xr, q, model.decoder_output, k=k, likelihood="bernoulli",
                              generator=torch.Generator().manual_seed(k)).view(reps, -1).mean(1)  # (reps,)
            means[k], ses[k] = vals.mean().item(), (vals.std() / math.sqrt(reps)).item()
    assert means[1] < means[5] < means[50], means
    assert means[50] - means[1] > 4 * (ses[1] + ses[50]), (means, ses)
    assert means[50] <= 0  # a bound on log p(x) of binary-ish pixels cannot be positive


def test_iwae_refuses_point_masses_and_bad_k(tiny_vae):
    model, x = tiny_vae
    q = model.encode(x)
    with pytest.raises(ValueError):
        iwae_bound(x, DiagonalGaussian(q.mu), model.decoder_output, k=5, likelihood="bernoulli")
    with pytest.raises(ValueError):
        iwae_bound(x, q, model.decoder_output, k=0, likelihood="bernoulli")
