"""Dataset-level metrics: per-image terms, KL per dimension, active units (Burda et al., 2016), IWAE NLL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vae.losses import iwae_bound, recon_nll
from vae.model import DiagonalGaussian

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
        kl.append(torch.zeros(xb.shape[0]) if q.deterministic else q.kl().sum(1))
    return {"recon": torch.cat(recon).numpy(), "kl": torch.cat(kl).numpy()}


def kl_per_dim(mu: np.ndarray, logvar: np.ndarray | None) -> np.ndarray:
    """Mean over the dataset of KL(q(z_i|x) || N(0, 1)) for each dimension, (D,)."""
    if logvar is None:
        return np.zeros(mu.shape[1])
    return DiagonalGaussian(torch.from_numpy(mu), torch.from_numpy(logvar)).kl().mean(0).numpy()


def active_units(mu: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> tuple[int, np.ndarray]:
    """A dimension is active when Var_x(E[z_i|x]) exceeds the threshold. Returns (count, variances (D,))."""
    var = mu.var(axis=0) if mu.shape[0] > 1 else np.zeros(mu.shape[1])
    return int((var > threshold).sum()), var


@torch.no_grad()
def iwae_nll(model, x: torch.Tensor, *, k: int = 100, seed: int = 0, batch_size: int = 256,
             on_batch: Callable[[int, int], None] | None = None) -> float | None:
    """-log p(x) estimated with the IWAE bound (an upper bound on the NLL), mean nats per image; None for AE/PCA.

    `on_batch(done, total)` is called after each batch of images (a progress bar; the UI may stop there)."""
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
        if on_batch is not None:
            on_batch(min(i + batch, x.shape[0]), x.shape[0])
    return -total / max(1, x.shape[0])


def evaluate(model, x: torch.Tensor, *, iwae_k: int = 100, seed: int = 0, codes: tuple | None = None) -> dict:
    """The evaluation summary used by the CLI and the Compare page: recon, kl, elbo, active_units, iwae_nll, n.

    `codes`: x's posterior means (and log-variances), (N, D) each, when the caller has them already.
    """
    from vae.explore import encode_dataset

    terms = per_image_terms(model, x, seed=seed)
    mu, logvar = codes if codes is not None else encode_dataset(model, x)
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


# --- Disentanglement: the Mutual Information Gap (Chen et al., 2018), estimated as disentanglement_lib does ---
MIG_BINS = 20  # disentanglement_lib's default: each latent's posterior means in 20 equal-width bins


@dataclass(frozen=True)
class FactorScores:
    """MI between every latent dim and every known factor, and the MIG built from it (all in nats)."""

    mi: np.ndarray  # (D, K) I(z_d; v_k)
    entropy: np.ndarray  # (K,) H(v_k)
    gaps: np.ndarray  # (K,) (top1 - top2 MI over dims) / H(v_k); NaN for a factor with one level
    factor_names: list[str]

    @property
    def mig(self) -> float:
        varying = np.isfinite(self.gaps)
        return float(self.gaps[varying].mean()) if varying.any() else float("nan")

    @property
    def best_dim(self) -> np.ndarray:
        """(K,) the latent dim that carries most information about each factor."""
        return self.mi.argmax(axis=0)

    @property
    def best_factor(self) -> np.ndarray:
        """(D,) the factor each dim carries most information about, as a fraction of that factor's entropy."""
        return (self.mi / np.maximum(self.entropy, 1e-12)).argmax(axis=1)


def discretize(z: np.ndarray, n_bins: int = MIG_BINS) -> np.ndarray:
    """(N, D) codes -> (N, D) bin indices, n_bins equal-width bins per column over that column's range."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"codes must be (N, D), got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("codes contain NaN or infinite values")
    out = np.empty(z.shape, dtype=np.int64)
    for d in range(z.shape[1]):
        edges = np.histogram_bin_edges(z[:, d], bins=n_bins)
        out[:, d] = np.digitize(z[:, d], edges[:-1])  # like disentanglement_lib: 1..n_bins, the max in the last bin
    return out


def discrete_mi(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats of two discrete label arrays (N,), from their joint histogram (plug-in estimate)."""
    a = np.unique(np.asarray(a), return_inverse=True)[1].reshape(-1)
    b = np.unique(np.asarray(b), return_inverse=True)[1].reshape(-1)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("need two label arrays of the same, non-zero length")
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1.0)
    p = joint / a.size
    pa, pb = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    nz = p > 0
    return float(max(0.0, (p[nz] * np.log(p[nz] / (pa @ pb)[nz])).sum()))


def factor_scores(mu: np.ndarray, factors: np.ndarray, factor_names: list[str] | None = None,
                  n_bins: int = MIG_BINS) -> FactorScores:
    """MI matrix and MIG of codes `mu` (N, D) against discrete factors (N, K); factors with one level are skipped
    by the MIG mean (their entropy is 0, so no code can capture them)."""
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[0] != np.shape(mu)[0]:
        raise ValueError(f"factors must be (N, K) with N = {np.shape(mu)[0]}, got {factors.shape}")
    if np.shape(mu)[1] < 2:
        raise ValueError("MIG needs at least 2 latent dims (it is the gap between the top two)")
    codes = discretize(mu, n_bins)
    d, k = codes.shape[1], factors.shape[1]
    mi = np.array([[discrete_mi(codes[:, i], factors[:, j]) for j in range(k)] for i in range(d)])
    entropy = np.array([discrete_mi(factors[:, j], factors[:, j]) for j in range(k)])
    return scores_from_mi(mi, entropy, factor_names)


def scores_from_mi(mi: np.ndarray, entropy: np.ndarray, factor_names: list[str] | None = None) -> FactorScores:
    """FactorScores of an MI matrix (D, K) and factor entropies (K,), whichever estimator made them."""
    top = np.sort(mi, axis=0)[::-1]
    varying = entropy > 0
    gaps = np.where(varying, (top[0] - top[1]) / np.where(varying, entropy, 1.0), np.nan)
    names = list(factor_names) if factor_names is not None else [f"factor {j}" for j in range(mi.shape[1])]
    return FactorScores(mi, entropy, gaps, names)


def dataset_factor_scores(model, ds, *, n_bins: int = MIG_BINS) -> FactorScores | None:
    """FactorScores of a model's posterior means on a dataset with known factors; None when it has none."""
    from vae.explore import encode_dataset

    if getattr(ds, "factors", None) is None:
        return None
    mu, _ = encode_dataset(model, ds.x)
    return factor_scores(mu, ds.factors.numpy(), ds.factor_names, n_bins=n_bins)
