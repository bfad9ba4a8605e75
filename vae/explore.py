"""Inference for exploration: encode datasets, decode points and grids, traversals, interpolation, prior samples."""

from __future__ import annotations

import math

import numpy as np
import torch

# |z_i| beyond this is no place a decoder was trained near. The one bound on a z the user sets: a click on the map
# is clipped to it and a link's z is read back within it, so whatever a click sets, a reload restores.
Z_LIMIT = 1e3


def _device(model: torch.nn.Module) -> torch.device:
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


@torch.no_grad()
def encode_dataset(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray | None]:
    """Posterior means and log-variances, (N, D) each; log-variances are None for point-mass encoders."""
    model.eval()
    dev = _device(model)
    mus, logvars = [], []
    for i in range(0, x.shape[0], batch_size):
        q = model.encode(x[i : i + batch_size].to(dev))
        mus.append(q.mu.cpu())
        if q.logvar is not None:
            logvars.append(q.logvar.cpu())
    mu = torch.cat(mus).numpy() if mus else np.zeros((0, model.config.latent_dim), np.float32)
    return mu, (torch.cat(logvars).numpy() if logvars else None)


@torch.no_grad()
def decode(model: torch.nn.Module, z) -> np.ndarray:
    """Decode latent points (N, D) or (D,) to images (N, C, H, W) in [0, 1]."""
    model.eval()
    zt = torch.as_tensor(np.asarray(z, dtype=np.float32), device=_device(model))
    if zt.dim() == 1:
        zt = zt.unsqueeze(0)
    return model.decode(zt).cpu().numpy()


def grid_values(n: int, *, spacing: str = "cdf", limit: float = 3.0, eps: float = 0.05) -> np.ndarray:
    """n coordinates along one axis: evenly spaced quantiles of N(0, 1) (Kingma & Welling, Fig. 4) or linear in [-limit, limit]."""
    if n < 1:
        raise ValueError("n must be >= 1")
    if spacing == "cdf":
        p = torch.linspace(eps, 1 - eps, n, dtype=torch.float64)
        return (math.sqrt(2) * torch.erfinv(2 * p - 1)).numpy()
    if spacing == "linear":
        return np.linspace(-limit, limit, n)
    raise ValueError(f"unknown spacing {spacing!r}; use 'cdf' or 'linear'")


def tile(images: np.ndarray, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """(rows, cols, C, H, W) -> one (C, rows*(H+pad)-pad, cols*(W+pad)-pad) mosaic."""
    r, c, ch, h, w = images.shape
    out = np.full((ch, r * (h + pad) - pad, c * (w + pad) - pad), pad_value, dtype=np.float32)
    for i in range(r):
        for j in range(c):
            out[:, i * (h + pad) : i * (h + pad) + h, j * (w + pad) : j * (w + pad) + w] = images[i, j]
    return out


def traversal(model, z0, dim: int, values) -> np.ndarray:
    """Decode z0 with one dimension swept over `values`: (len(values), C, H, W)."""
    base = np.asarray(z0, dtype=np.float64)
    z = np.tile(base, (len(values), 1))
    z[:, dim] = values
    return decode(model, z)


def interpolate(z_a, z_b, n: int, method: str = "linear") -> np.ndarray:
    """n points from z_a to z_b inclusive; 'slerp' follows the great circle, keeping norms typical of N(0, I)."""
    a, b = np.asarray(z_a, dtype=np.float64), np.asarray(z_b, dtype=np.float64)
    t = np.linspace(0.0, 1.0, n)[:, None]
    if method == "linear":
        return (1 - t) * a + t * b
    if method != "slerp":
        raise ValueError(f"unknown interpolation {method!r}; use 'linear' or 'slerp'")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-12 or nb < 1e-12:
        return (1 - t) * a + t * b
    omega = np.arccos(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def prior_samples(model, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Decode z ~ N(0, I) from a seeded generator: (images (n, C, H, W), z (n, D))."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn((n, model.config.latent_dim), generator=g).numpy()
    return decode(model, z), z


@torch.no_grad()
def reconstruct(model, x: torch.Tensor, *, sample: bool = False, seed: int = 0) -> np.ndarray:
    """Reconstructions (N, C, H, W): decode the posterior mean, or one seeded sample."""
    model.eval()
    q = model.encode(x.to(_device(model)))
    z = q.sample(torch.Generator(device=q.mu.device).manual_seed(seed)) if sample else q.mode()
    return model.decode(z).cpu().numpy()


def project(mu: np.ndarray, method: str = "dims", *, dims=(0, 1), max_points: int = 2000, seed: int = 0,
            progress=None) -> tuple[np.ndarray, np.ndarray]:
    """2-D view of latent means: chosen dims, PCA, or t-SNE on a seeded subsample.

    Returns (xy (M, 2), row indices (M,) into mu). `progress(fraction)` is called during t-SNE if given.
    """
    n = mu.shape[0]
    idx = np.arange(n)
    if method == "dims":
        return mu[:, list(dims)], idx
    if method == "pca":
        from sklearn.decomposition import PCA

        k = min(2, mu.shape[1])
        xy = PCA(n_components=k, random_state=seed).fit_transform(mu)
        return (xy if k == 2 else np.column_stack([xy, np.zeros(n)])), idx
    if method == "tsne":
        from sklearn.manifold import TSNE

        if n > max_points:
            idx = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
        if progress:
            progress(0.0)
        perplexity = float(min(30.0, max(2.0, (len(idx) - 1) / 3)))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(mu[idx])
        if progress:
            progress(1.0)
        return xy, idx
    raise ValueError(f"unknown projection {method!r}; use 'dims', 'pca' or 'tsne'")


# --- 2-D views of latent space (used by the latent map) ---------------------------------------------


def latent_plane(mu: np.ndarray, method: str = "dims", *, dims=(0, 1)) -> tuple[np.ndarray, np.ndarray]:
    """An orthonormal view of latent space: (origin (D,), basis (k, D)), k = min(2, D).

    'dims' looks along two chosen axes; 'pca' along the top principal directions of the means, signed so
    that each direction's largest loading is positive (as scikit-learn does), so views are reproducible.
    """
    d = mu.shape[1]
    k = min(2, d)
    if method == "dims":
        basis = np.zeros((k, d))
        for row, dim in enumerate(list(dims)[:k]):
            basis[row, dim] = 1.0
        return np.zeros(d), basis
    if method == "pca":
        origin = mu.mean(0).astype(np.float64)
        _, _, vh = np.linalg.svd(mu.astype(np.float64) - origin, full_matrices=False)  # vh (min(N, D), D)
        basis = vh[:k]
        signs = np.sign(basis[np.arange(k), np.abs(basis).argmax(1)])
        return origin, basis * signs[:, None]
    raise ValueError(f"unknown plane {method!r}; use 'dims' or 'pca'")


def to_plane(z, origin: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """View coordinates (N, k) of latent points z (N, D) or (D,)."""
    return (np.atleast_2d(np.asarray(z, dtype=np.float64)) - origin) @ basis.T


def from_plane(xy, origin: np.ndarray, basis: np.ndarray, base=None) -> np.ndarray:
    """Latent points (N, D) seen at view coordinates xy (N, k): `base` (default: origin) moved within the plane.

    With the 'dims' plane and base = the current z this sets the two viewed dims and keeps the others.
    """
    b = origin if base is None else np.asarray(base, dtype=np.float64)
    return b + (np.atleast_2d(np.asarray(xy, dtype=np.float64)) - to_plane(b, origin, basis)) @ basis


def project_gaussian(mu, logvar, origin: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The view of N(mu, diag(exp(logvar))): (centre (k,), covariance B Σ Bᵀ (k, k))."""
    centre = to_plane(mu, origin, basis)[0]
    cov = (basis * np.exp(np.asarray(logvar, dtype=np.float64))) @ basis.T
    return centre, cov


def ellipse(centre, cov, k: float = 1.0, n: int = 73) -> np.ndarray:
    """Closed curve (n, 2) of points at Mahalanobis distance k from centre under a 2×2 covariance."""
    w, v = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    t = np.linspace(0.0, 2 * np.pi, n)
    circle = np.stack([np.cos(t), np.sin(t)], axis=1)  # (n, 2)
    return np.asarray(centre, dtype=np.float64) + k * (circle * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def decode_grid(model, xs, ys, *, dims=(0, 1), base=None) -> tuple[np.ndarray, np.ndarray]:
    """Decode the grid xs × ys over two dims (others at `base`, zeros by default).

    Returns (images (len(ys), len(xs), C, H, W) with row 0 at the top = largest y, z (len(ys), len(xs), D)).
    """
    d = model.config.latent_dim
    xs, ys = np.asarray(xs, dtype=np.float64), np.sort(np.asarray(ys, dtype=np.float64))[::-1]
    z = np.tile(np.zeros(d) if base is None else np.asarray(base, dtype=np.float64), (len(ys), len(xs), 1))
    z[:, :, dims[0]] = xs[None, :]
    z[:, :, dims[1]] = ys[:, None]
    imgs = decode(model, z.reshape(-1, d))
    return imgs.reshape(len(ys), len(xs), *imgs.shape[1:]), z
