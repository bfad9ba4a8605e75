"""Dataset-level metrics: per-image terms, KL per dimension, active units (Burda et al., 2016), IWAE NLL."""

from __future__ import annotations

import numpy as np
import torch

from vae.losses import iwae_bound, kl_diag_gaussian, recon_nll

ACTIVE_UNIT_THRESHOLD = 0.01


@torch.no_grad()
def per_image_terms(model, x: torch.Tensor, *, seed: int = 0, batch_size: int = 1024) -> dict[str, np.ndarray]:
    """recon (N,) and kl (N,) in nats for each image, one seeded posterior sample each; kl is 0 for point-mass codes."""
    model.eval()
    cfg = model.config
    g = torch.Generator(device=x.device).manual_seed(seed)
    recon, kl = [], []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]
        out, q, _ = model(xb, generator=g)
        recon.append(recon_nll(xb, out, cfg.likelihood, model.log_sigma))
        kl.append(torch.zeros(xb.shape[0]) if q.deterministic else kl_diag_gaussian(q.mu, q.logvar).sum(1))
    return {"recon": torch.cat(recon).numpy(), "kl": torch.cat(kl).numpy()}


def kl_per_dim(mu: np.ndarray, logvar: np.ndarray | None) -> np.ndarray:
    """Mean over the dataset of KL(q(z_i|x) || N(0, 1)) for each dimension, (D,)."""
    if logvar is None:
        return np.zeros(mu.shape[1])
    return kl_diag_gaussian(torch.from_numpy(mu), torch.from_numpy(logvar)).mean(0).numpy()


def active_units(mu: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> tuple[int, np.ndarray]:
    """A dimension is active when Var_x(E[z_i|x]) exceeds the threshold. Returns (count, variances (D,))."""
    var = mu.var(axis=0) if mu.shape[0] > 1 else np.zeros(mu.shape[1])
    return int((var > threshold).sum()), var


@torch.no_grad()
def iwae_nll(model, x: torch.Tensor, *, k: int = 100, seed: int = 0, batch_size: int = 256) -> float | None:
    """-log p(x) estimated with the IWAE bound (an upper bound on the NLL), mean nats per image; None for AE/PCA."""
    if not model.generative:
        return None
    model.eval()
    cfg = model.config
    g = torch.Generator(device=x.device).manual_seed(seed)
    # keep k * batch images in memory at once bounded
    batch = max(1, min(batch_size, 65536 // max(1, k)))
    total = 0.0
    for i in range(0, x.shape[0], batch):
        xb = x[i : i + batch]
        q = model.encode(xb)
        total += iwae_bound(xb, q, model.decoder_output, k=k, likelihood=cfg.likelihood,
                            log_sigma=model.log_sigma, generator=g).sum().item()
    return -total / max(1, x.shape[0])


def evaluate(model, x: torch.Tensor, *, iwae_k: int = 100, seed: int = 0) -> dict:
    """The evaluation summary used by the CLI and the Compare page: recon, kl, elbo, active_units, iwae_nll, n."""
    from vae.explore import encode_dataset

    terms = per_image_terms(model, x, seed=seed)
    mu, logvar = encode_dataset(model, x)
    au, _ = active_units(mu)
    recon, kl = float(terms["recon"].mean()), float(terms["kl"].mean())
    return {
        "recon": recon,
        "kl": kl if model.generative else None,
        "elbo": -(recon + kl) if model.generative else None,
        "active_units": au,
        "iwae_nll": iwae_nll(model, x, k=iwae_k, seed=seed) if iwae_k > 0 else None,
        "n": int(x.shape[0]),
    }
