"""The KL split into index-code MI, total correlation and dimension-wise KL (Chen et al., 2018, β-TCVAE).

    E_x KL(q(z|x) ‖ p(z)) = I_q(x; z) + KL(q(z) ‖ ∏_d q(z_d)) + Σ_d KL(q(z_d) ‖ p(z_d))
                            index-code MI   total correlation     dimension-wise KL

All three need the aggregate posterior q(z) = (1/N) Σ_n q(z|x_n) at samples z_i ~ q(z|x_i), which a minibatch can
only estimate. We use **minibatch-stratified sampling** (MSS), not minibatch-weighted sampling (MWS):

* z_i was drawn from its own image's posterior, so the own term q(z_i|x_i) is known exactly, and with narrow
  posteriors it is most of the mixture. MSS gives it its true weight 1/N and lets the other B − 1 images of the
  batch (a uniform sample of the other N − 1) stand for the rest, each with weight (N − 1) / (N (B − 1)). The
  estimate of q(z_i) is then unbiased, and with B = N it is the exact mixture, so the same function serves the
  training batches and the whole-test-set figures. MWS weights every batch member alike (1/B), which gives the
  own term about N / B times its weight: it inflates q(z) and so shrinks the MI and inflates the TC.
* Both leave Jensen's bias of a log of an estimate, which shrinks as the batch grows. On a 3-D Gaussian
  aggregate posterior with TC 0.522 nats, MSS gives 0.28 / 0.46 / 0.50 at B = 64 / 256 / 1024 and MWS 0.76 /
  0.62 / 0.58: of the same size at B = 64, smaller for MSS beyond (tests/test_tc.py checks the convergence
  against the closed form −½ log det R). The three terms always sum to exactly the one-sample Monte Carlo KL
  mean_i [log q(z_i|x_i) − log p(z_i)], whatever the estimator's error, because the log q terms telescope.

A batch of one image has no other members: its q(z) is taken to be its own posterior, so MI = TC = 0 for it and
the whole KL counts as dimension-wise.
"""

from __future__ import annotations

import math

import torch

from vae.model import DiagonalGaussian

LOG_2PI = math.log(2 * math.pi)
TERMS = {"mi": "index-code MI", "tc": "total correlation", "dwkl": "dimension-wise KL"}  # history keys: names


NOTE_BELOW = 0.005  # nats: a TC of -0.00 as printed is rounding, not worth a note


def negative_tc_note(history: list[dict], batch_size: int | None) -> str | None:
    """What to tell a reader whose per-epoch TC went below zero, which the true TC never does; None otherwise.

    The per-epoch terms are minibatch estimates on the training batches, and the log of an estimate is biased low
    (Jensen), most at small batches; a β-TCVAE with a large β pushes its TC towards zero, into that bias.
    """
    low = [h["tc"] for h in history if isinstance(h.get("tc"), (int, float)) and h["tc"] < -NOTE_BELOW]
    if not low:
        return None
    batch = f"batch {batch_size}" if batch_size else "a training batch"
    return (f"TC below 0 (down to {min(low):.2f}) is estimator bias, not a real value: the true TC is ≥ 0.\n"
            f"These are minibatch estimates on {batch}, biased low; the test-set split uses far more images.")
CHUNK_ELEMENTS = 1 << 22  # (rows, B, D) pairwise densities are built this many at a time, so memory stays bounded


def _log_weights(rows: torch.Tensor, b: int, dataset_size: int, like: torch.Tensor) -> torch.Tensor:
    """(len(rows), B) log MSS weights: 1/N on a row's own image, (N − 1)/(N (B − 1)) on the others."""
    if b == 1:
        return torch.zeros(len(rows), 1, dtype=like.dtype, device=like.device)
    n = dataset_size
    other = math.log(n - 1) - math.log(n) - math.log(b - 1)
    w = torch.full((len(rows), b), other, dtype=like.dtype, device=like.device)
    w[torch.arange(len(rows), device=like.device), rows] = -math.log(n)
    return w


def log_aggregate(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """MSS estimates of log q(z_i) (B,) and of each marginal log q(z_id) (B, D), for z (B, D) with z_i ~ q(z|x_i).

    mu, logvar (B, D) are the batch's posteriors; dataset_size N is the number of images the batch was drawn from
    (uniformly, without replacement).
    """
    b, d = z.shape
    if mu.shape != z.shape or logvar.shape != z.shape:
        raise ValueError(f"z, mu and logvar must all be (B, D); got {tuple(z.shape)}, {tuple(mu.shape)}, "
                         f"{tuple(logvar.shape)}")
    if dataset_size < b:
        raise ValueError(f"the batch ({b} images) cannot be larger than the dataset it was drawn from ({dataset_size})")
    inv_var = torch.exp(-logvar)  # (B, D)
    log_norm = -0.5 * (LOG_2PI + logvar)  # (B, D)
    step = max(1, CHUNK_ELEMENTS // max(1, b * d))
    joint, marg = [], []
    for i in range(0, b, step):
        rows = torch.arange(i, min(b, i + step), device=z.device)
        zi = z[rows].unsqueeze(1)  # (c, 1, D)
        log_q = log_norm.unsqueeze(0) - 0.5 * (zi - mu.unsqueeze(0)).pow(2) * inv_var.unsqueeze(0)  # (c, B, D)
        log_w = _log_weights(rows, b, dataset_size, z)  # (c, B)
        joint.append(torch.logsumexp(log_w + log_q.sum(-1), dim=1))  # (c,)
        marg.append(torch.logsumexp(log_w.unsqueeze(-1) + log_q, dim=1))  # (c, D)
    return torch.cat(joint), torch.cat(marg)


def kl_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int
                     ) -> dict[str, torch.Tensor]:
    """Batch means in nats per image of `mi` (index-code MI), `tc` (total correlation), `dwkl` (dimension-wise KL)
    and `kl_mc` (their sum: the one-sample Monte Carlo KL). Differentiable, so `tc` can be penalised."""
    log_qz, log_qz_dims = log_aggregate(z, mu, logvar, dataset_size)
    log_qz_x = DiagonalGaussian(mu, logvar).log_prob(z)  # (B,) log q(z_i|x_i)
    log_pz = (-0.5 * (LOG_2PI + z.pow(2))).sum(-1)  # (B,)
    log_prod = log_qz_dims.sum(-1)  # (B,) log ∏_d q(z_id)
    return {"mi": (log_qz_x - log_qz).mean(), "tc": (log_qz - log_prod).mean(), "dwkl": (log_prod - log_pz).mean(),
            "kl_mc": (log_qz_x - log_pz).mean()}


def tcvae_loss(terms: dict[str, torch.Tensor], split: dict[str, torch.Tensor], *, beta: float,
               weight: float = 1.0) -> torch.Tensor:
    """recon + weight · (MI + β·TC + DWKL) with α = γ = 1 (Chen et al., eq. 4), written as recon + weight · (KL +
    (β − 1)·TC): the analytic KL stands in for its one-sample estimate MI + TC + DWKL (same expectation, less
    noise). `weight` is the KL warm-up ramp (1 without warm-up); at β = 1 this is the plain ELBO loss."""
    return terms["recon"] + weight * (terms["kl"] + (beta - 1.0) * split["tc"])


@torch.no_grad()
def dataset_kl_decomposition(model, x: torch.Tensor, *, seed: int = 0, max_images: int = 2048) -> dict | None:
    """MI, TC and dimension-wise KL of a model on a dataset, nats per image; None for models without a posterior.

    One seeded z ~ q(z|x) per image. Up to `max_images` images (a seeded subset beyond that) form one batch drawn
    from the N images, so the estimate is exact for N ≤ max_images and an MSS estimate otherwise. Also returns
    `kl` (the analytic mean KL, which MI + TC + DWKL estimates), `n` (images used) and `dataset_size`.
    """
    if not getattr(model, "generative", False):
        return None
    model.eval()
    n = x.shape[0]
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(n, generator=g)[:max_images] if n > max_images else torch.arange(n)
    dev = next(model.parameters()).device
    q = model.encode(x[idx].to(dev))
    mu, logvar = q.mu.double().cpu(), q.logvar.double().cpu()
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g, dtype=mu.dtype)
    split = kl_decomposition(z, mu, logvar, n)
    kl = DiagonalGaussian(mu, logvar).kl().sum(1).mean()
    return {**{k: float(v) for k, v in split.items()}, "kl": float(kl), "n": int(len(idx)), "dataset_size": int(n)}
