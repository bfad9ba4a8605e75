"""Chen et al.'s (2018) sampled MIG: MI between each latent dim and each factor from samples of q(z|x).

disentanglement_lib's MIG (vae/metrics.py, `mig`) bins posterior means; this one keeps the posterior's noise:

    I(z_d; v_k) = H(z_d) − H(z_d | v_k),   H(z_d) = −E log q(z_d),   q(z_d) = (1/N) Σ_n q(z_d|x_n),
                                           H(z_d | v_k) = −E log q(z_d | v_k),  q(z_d | v_k = l) = mean over the
                                           images with level l of q(z_d|x_n),

with one z ~ q(z|x) for each of `n_samples` images (a seeded subset) and the mixtures over *all* N images,
evaluated by log-sum-exp. The normaliser of factor k is log K_k, its entropy when its K_k levels are uniform (the
shapes grid). Chen et al.'s own dSprites figures leave the shape factor out, so `mig_sampled_no_shape` is the one
to set beside theirs; `mig_sampled` keeps it, as our binned `mig` does. A dim whose posterior is the prior for
every x (an unused dim) has q(z_d|v_k) = q(z_d), so it gets MI 0 here, while binning its means can still find
structure in their tiny movements.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vae.metrics import FactorScores, scores_from_mi

LOG_2PI = math.log(2 * math.pi)
N_SAMPLES = 4096  # samples of q(z|x); on a synthetic shapes code MIG's sd over sampling seeds is 0.002 at this size
CHUNK_ELEMENTS = 1 << 20  # (samples, N, D) densities are built this many at a time (4 MB: cache-sized, fastest)
NO_SHAPE = "shape"  # Chen et al.'s dSprites MIG conditions on scale, rotation and position only: `mig_no_shape`


def draw_samples(mu: np.ndarray, logvar: np.ndarray, n_samples: int = N_SAMPLES, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(idx (S,), z (S, D)): a seeded subset of S = min(n_samples, N) images and one z ~ q(z|x) for each."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(mu), size=min(n_samples, len(mu)), replace=False))
    return idx, mu[idx] + np.exp(0.5 * logvar[idx]) * rng.standard_normal((len(idx), mu.shape[1]))


def sampled_mi(z: np.ndarray, idx: np.ndarray, mu: np.ndarray, logvar: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(D, K) I(z_d; v_k) in nats from samples z (S, D), z_s ~ q(z|x_idx[s]), against level indices codes (N, K)."""
    n = len(mu)
    sizes = [np.bincount(codes[:, k]) for k in range(codes.shape[1])]  # images per level
    marginal, conditional = _log_mixtures(torch.from_numpy(z), torch.from_numpy(mu), torch.from_numpy(logvar),
                                          torch.from_numpy(codes), torch.from_numpy(codes[idx]))
    own = np.stack([np.log(sizes[k][codes[idx, k]]) for k in range(codes.shape[1])], axis=1)  # (S, K) log N_l
    # per sample: log q(z_d | own level) − log q(z_d), each sum divided by its count (N_l, N)
    return (conditional - own[:, None, :] - (marginal - math.log(n))[:, :, None]).mean(0)


def sampled_factor_scores(mu: np.ndarray, logvar: np.ndarray, factors: np.ndarray, factor_names=None, *,
                          n_samples: int = N_SAMPLES, seed: int = 0) -> FactorScores:
    """MI matrix (D, K) in nats, log K_k normalisers and gaps of posteriors N(mu, exp(logvar)) (N, D) against
    discrete factors (N, K), estimated from one seeded sample z ~ q(z|x_n) for each of min(n_samples, N) images."""
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    factors = np.asarray(factors)
    n, d = mu.shape
    if logvar.shape != mu.shape or factors.ndim != 2 or factors.shape[0] != n:
        raise ValueError(f"need mu and logvar (N, D) and factors (N, K); got {mu.shape}, {logvar.shape}, "
                         f"{factors.shape}")
    if d < 2:
        raise ValueError("MIG needs at least 2 latent dims (it is the gap between the top two)")
    if not (np.isfinite(mu).all() and np.isfinite(logvar).all()):
        raise ValueError("posteriors contain NaN or infinite values")
    codes = np.stack([np.unique(factors[:, k], return_inverse=True)[1].reshape(-1) for k in range(factors.shape[1])],
                     axis=1)  # (N, K) level indices 0..K_k-1
    idx, z = draw_samples(mu, logvar, n_samples, seed)
    mi = sampled_mi(z, idx, mu, logvar, codes)
    entropy = np.array([math.log(codes[:, k].max() + 1) for k in range(codes.shape[1])])  # log K_k
    return scores_from_mi(mi, entropy, factor_names)


@torch.no_grad()
def _log_mixtures(z, mu, logvar, codes, sample_codes) -> tuple[np.ndarray, np.ndarray]:
    """log Σ_n q(z_sd|x_n) (S, D), and log Σ over the images that share sample s's level of factor k (S, D, K).

    Float32, laid out (samples, D, N) so every sum runs over contiguous memory. Each dim's terms are shifted by
    that dim's largest possible log density (of its narrowest posterior), so no term overflows; the sums over the
    images of each level are one matrix product with the levels' indicator matrix. A sum whose every term
    underflows (its sample lies ~90 nats below the shift) is recomputed exactly by log-sum-exp.
    """
    s, d = z.shape
    n, k = codes.shape
    shift = (-0.5 * (LOG_2PI + logvar.min(0).values)).float()  # (D,) log N(0; 0, min variance)
    coef = (-0.5 * torch.exp(-logvar)).T.float().contiguous()  # (D, N)
    offset = ((-0.5 * (LOG_2PI + logvar)).float() - shift).T.contiguous()  # (D, N)
    mu_t, zf = mu.T.float().contiguous(), z.float()
    width = [int(codes[:, j].max()) + 1 for j in range(k)]
    start = torch.as_tensor(np.cumsum([0, *width[:-1]]))
    onehot = torch.zeros(n, sum(width))  # (N, Σ K_k): column start_k + l marks the images with level l of factor k
    for j in range(k):
        onehot[torch.arange(n), start[j] + codes[:, j]] = 1.0
    step = max(1, CHUNK_ELEMENTS // (n * d))
    marginal, conditional = torch.empty(s, d), torch.empty(s, d, k)
    for i in range(0, s, step):
        zc, own_cols = zf[i : i + step], (sample_codes[i : i + step] + start).unsqueeze(1)  # (c, D), (c, 1, K)
        p = (zc.unsqueeze(-1) - mu_t).square_().mul_(coef).add_(offset).exp_()  # (c, D, N) q(z_sd|x_n) / e^shift
        total = p.sum(-1)  # (c, D)
        own = (p @ onehot).gather(2, own_cols.expand(-1, d, -1))  # (c, D, K): the sum over the sample's own level
        if bool((total > 0).all() and (own > 0).all()):
            marginal[i : i + step] = torch.log(total) + shift
            conditional[i : i + step] = torch.log(own) + shift.unsqueeze(-1)
        else:
            marginal[i : i + step], conditional[i : i + step] = _exact_chunk(z[i : i + step], mu, logvar, codes,
                                                                             sample_codes[i : i + step])
    return marginal.double().numpy(), conditional.double().numpy()


def _exact_chunk(z, mu, logvar, codes, sample_codes) -> tuple[torch.Tensor, torch.Tensor]:
    """The same two sums for a few samples by log-sum-exp in float64: slower, never underflows."""
    log_q = -0.5 * (LOG_2PI + logvar + (z.unsqueeze(1) - mu).pow(2) * torch.exp(-logvar))  # (c, N, D)
    own = torch.stack([torch.logsumexp(log_q.masked_fill(
        (codes[:, j] != sample_codes[:, j].unsqueeze(1)).unsqueeze(-1), -math.inf), dim=1)
        for j in range(codes.shape[1])], dim=-1)  # (c, D, K)
    return torch.logsumexp(log_q, dim=1).float(), own.float()


def mig_without(scores: FactorScores, name: str = NO_SHAPE) -> float:
    """MIG over the factors other than `name` (all of them when there is no such factor)."""
    keep = np.array([f != name for f in scores.factor_names]) & np.isfinite(scores.gaps)
    return float(scores.gaps[keep].mean()) if keep.any() else float("nan")


def whole_set(split):
    """Train and test images of a split with known factors, as one (x, factors, names); None without factors.
    Chen et al.'s estimator is defined over the whole factor grid, where the factors are uniform and independent."""
    if split.train.factors is None or split.test.factors is None:
        return None
    return (torch.cat([split.train.x, split.test.x]), torch.cat([split.train.factors, split.test.factors]).numpy(),
            list(split.test.factor_names))


def mig_report(model, split, *, n_samples: int = N_SAMPLES, seed: int = 0) -> dict:
    """Both estimators with and without shape, as `evaluate --json` prints them: mig and mig_no_shape (binned
    means, test split), mig_sampled and mig_sampled_no_shape (samples of q(z|x), whole set); {} without factors."""
    from vae.explore import encode_dataset
    from vae.metrics import dataset_factor_scores

    if split.test.factors is None or model.config.latent_dim < 2:
        return {}
    binned = dataset_factor_scores(model, split.test)
    out = {"mig": binned.mig, "mig_no_shape": mig_without(binned)}
    every = whole_set(split)
    if model.generative and every is not None:
        mu, logvar = encode_dataset(model, every[0])
        sampled = sampled_factor_scores(mu, logvar, every[1], every[2], n_samples=n_samples, seed=seed)
        out.update(mig_sampled=sampled.mig, mig_sampled_no_shape=mig_without(sampled))
    return out
