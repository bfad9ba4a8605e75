"""A summary of a model's test codes, derived once: slider and sweep ranges, the decoding centre, dims by use."""

from __future__ import annotations

import numpy as np

from vae.metrics import kl_per_dim


def code_stats(mu: np.ndarray, logvar: np.ndarray | None, generative: bool) -> dict:
    """{'lo', 'hi', 'centre', 'kl', 'var', 'order'} for codes mu (N, D): ranges cover the middle 99% of the codes
    plus a margin (and the prior's ±3σ for a VAE); 'order' lists dims by KL (VAE) or by Var(μ) (AE, PCA)."""
    lo, hi = np.percentile(mu, 0.5, axis=0), np.percentile(mu, 99.5, axis=0)  # (D,) each
    pad = 0.1 * (hi - lo) + 1e-3
    lo, hi = lo - pad, hi + pad
    if generative:  # the prior's ±3σ must stay reachable, wherever the data sit
        lo, hi = np.minimum(lo, -3.0), np.maximum(hi, 3.0)
    kl, var = kl_per_dim(mu, logvar), mu.var(0)
    return {"lo": lo, "hi": hi, "centre": np.zeros(mu.shape[1]) if generative else mu.mean(0),
            "kl": kl, "var": var, "order": np.argsort(-(kl if generative else var), kind="stable")}


def sweep_values(stats: dict, dim: int, n: int, generative: bool) -> np.ndarray:
    """n values a traversal of `dim` sweeps: −3..3 under the prior (VAE), else across the codes' range."""
    return np.linspace(-3, 3, n) if generative else np.linspace(stats["lo"][dim], stats["hi"][dim], n)
