"""Pure loss functions in nats per image: reconstruction NLL, KL, ELBO terms, schedules, IWAE bound.

References: Kingma & Welling 2014 (ELBO), Higgins et al. 2017 (beta-VAE), Burgess et al. 2018
(capacity C), Burda et al. 2016 (IWAE).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from vae.model import DiagonalGaussian

LOG_2PI = math.log(2 * math.pi)


def recon_nll(x: torch.Tensor, out: torch.Tensor, likelihood: str, log_sigma: torch.Tensor | None = None) -> torch.Tensor:
    """-log p(x|z) per image, (B,), summed over pixels. `out` is Bernoulli logits or Gaussian means."""
    if likelihood == "bernoulli":
        nll = F.binary_cross_entropy_with_logits(out, x, reduction="none")
    elif likelihood == "gaussian":
        if log_sigma is None:
            raise ValueError("a Gaussian likelihood needs log_sigma")
        nll = 0.5 * ((x - out) * torch.exp(-log_sigma)).pow(2) + log_sigma + 0.5 * LOG_2PI
    else:
        raise ValueError(f"unknown likelihood {likelihood!r}")
    return nll.flatten(1).sum(1)


def elbo_terms(
    x: torch.Tensor,
    out: torch.Tensor,
    posterior: DiagonalGaussian,
    *,
    likelihood: str,
    beta: float = 1.0,
    log_sigma: torch.Tensor | None = None,
    capacity: float | None = None,
) -> dict[str, torch.Tensor]:
    """Batch-mean terms: recon, kl, kl_per_dim (D,), loss, elbo. Point-mass codes get kl = 0 and no KL penalty."""
    recon = recon_nll(x, out, likelihood, log_sigma).mean()
    if posterior.deterministic:
        kl_per_dim = torch.zeros(posterior.mu.shape[1], device=x.device)
        kl = kl_per_dim.sum()
        loss = recon
    else:
        kl_per_dim = posterior.kl().mean(0)  # (D,)
        kl = kl_per_dim.sum()
        penalty = kl if capacity is None else (kl - capacity).abs()
        loss = recon + beta * penalty
    return {"recon": recon, "kl": kl, "kl_per_dim": kl_per_dim, "loss": loss, "elbo": -(recon + kl)}


def linear_ramp(progress_epochs: float, ramp_epochs: float, final: float) -> float:
    """Linear schedule from 0 to `final` over `ramp_epochs`; used for KL warm-up and capacity C."""
    if ramp_epochs <= 0:
        return final
    return final * min(1.0, max(0.0, progress_epochs / ramp_epochs))


def iwae_bound(
    x: torch.Tensor,
    posterior: DiagonalGaussian,
    decoder_output: Callable[[torch.Tensor], torch.Tensor],
    *,
    k: int,
    likelihood: str,
    log_sigma: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """IWAE lower bound on log p(x) with k importance samples, (B,) in nats (Burda et al., 2016)."""
    if posterior.deterministic:
        raise ValueError("the IWAE bound needs a stochastic encoder")
    if k < 1:
        raise ValueError("k must be >= 1")
    b, d = posterior.mu.shape
    eps = torch.randn((k, b, d), generator=generator, device=x.device, dtype=x.dtype)
    z = posterior.mu + posterior.std * eps  # (k, B, D)
    out = decoder_output(z.reshape(k * b, d))  # (k*B, C, H, W)
    log_px_z = -recon_nll(x.repeat(k, *([1] * (x.dim() - 1))), out, likelihood, log_sigma).view(k, b)
    log_pz = (-0.5 * (LOG_2PI + z.pow(2))).sum(-1)  # (k, B)
    log_qz = posterior.log_prob(z)  # (k, B)
    return torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(k)
