"""Pure analysis helpers for the explore and compare pages: input picking, collapse checks, prior holes, run cards."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

LOG_2PI = math.log(2 * math.pi)
COLLAPSE_KL_NATS = 0.1  # total KL per image below this carries almost no information about x
HOLE_RATIO = 0.25  # a latent cell is a hole when the data's q(z) puts less than this fraction of the prior's mass in it


def pick_indices(y: np.ndarray, n: int, *, mode: str = "random", seed: int = 0, label: int | None = None,
                 indices: list[int] | None = None) -> np.ndarray:
    """Indices into a dataset of labels y (N,): seeded random, seeded random of one label, or given indices.

    Raises ValueError with a readable message for an unknown mode, an absent label or out-of-range indices.
    """
    y = np.asarray(y)
    total = y.shape[0]
    rng = np.random.default_rng(seed)
    if mode == "random":
        return np.sort(rng.choice(total, size=min(n, total), replace=False))
    if mode == "label":
        pool = np.flatnonzero(y == label)
        if pool.size == 0:
            raise ValueError(f"no test image has label {label}")
        return np.sort(rng.choice(pool, size=min(n, pool.size), replace=False))
    if mode == "index":
        idx = np.asarray(indices if indices is not None else [], dtype=np.int64)
        bad = idx[(idx < 0) | (idx >= total)]
        if bad.size:
            raise ValueError(f"indices must lie in 0..{total - 1}; got {', '.join(map(str, bad[:5]))}")
        return idx[:n]
    raise ValueError(f"unknown mode {mode!r}; use 'random', 'label' or 'index'")


def parse_indices(text: str, *, max_range: int = 1000) -> list[int]:
    """'3, 7 12-14' -> [3, 7, 12, 13, 14]; ValueError naming every token that is not a whole number or range."""
    out: list[int] = []
    bad: list[str] = []
    for part in text.replace(",", " ").split():
        try:
            if "-" in part.strip("-"):
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo or hi - lo > max_range:
                    raise ValueError
                out.extend(range(lo, hi + 1))
            else:
                out.append(int(part))
        except ValueError:
            bad.append(part if len(part) <= 20 else part[:20] + "…")
    if bad:
        raise ValueError(f"not a test index or range: {', '.join(repr(b) for b in bad[:5])}"
                         + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                         + f". Write whole numbers or ranges such as 10-14 (at most {max_range} wide).")
    return out


def collapse_verdict(kl_dims: np.ndarray, n_active: int, generative: bool) -> tuple[str, str] | None:
    """('error'|'warning', message) when the posterior has collapsed fully or partly; None when all is well."""
    if not generative:
        return None
    kl_dims = np.asarray(kl_dims, dtype=np.float64)
    total, d = float(kl_dims.sum()), kl_dims.shape[0]
    if n_active < 1 or total < COLLAPSE_KL_NATS:
        return ("error", f"Posterior collapse: KL = {total:.3g} nats per image and {n_active} of {d} latent dimensions "
                         "are active. q(z|x) ≈ N(0, I) for every x, so z carries no information about the input and the "
                         "decoder draws the same average image. Lower β (or anneal it from 0) to bring the code back.")
    if n_active < d:
        return ("warning", f"{d - n_active} of {d} latent dimensions are inactive (Var_x E[z_i|x] ≤ 0.01): their "
                           "posterior equals the prior, so they carry nothing. This is normal when the data need "
                           "fewer dimensions than the model has.")
    return None


def normal_pdf(z: np.ndarray) -> np.ndarray:
    """Standard normal density of each row of z (..., D)."""
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-0.5 * (z**2).sum(-1) - 0.5 * z.shape[-1] * LOG_2PI)


def scott_bandwidth(mu: np.ndarray) -> np.ndarray:
    """Per-dimension Gaussian KDE bandwidth (Scott's rule), used when codes are points (AE, PCA)."""
    n, d = mu.shape
    return np.maximum(mu.std(axis=0), 1e-3) * n ** (-1.0 / (d + 4))


def _cell_masses(edges: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Mass of N(mu_n, sigma_n^2) in each interval [edges[k], edges[k+1]): (N, K), exact via the normal CDF."""
    from scipy.special import ndtr

    return np.diff(ndtr((edges[None, :] - mu[:, None]) / sigma[:, None]), axis=1)


def prior_holes(mu: np.ndarray, logvar: np.ndarray | None, *, n_cells: int = 48, limit: float = 4.0,
                ratio: float = HOLE_RATIO, n_samples: int = 6, min_sep: float = 0.8) -> dict[str, Any]:
    """Holes of a 2-D latent space: cells where the aggregate posterior q(z) has less than `ratio` of the prior's mass.

    Both masses are integrated exactly per cell of an n_cells × n_cells grid over [-limit, limit]^2: the prior's as
    a product of normal CDF differences, q's as the mean over images of the same for each diagonal Gaussian
    q(z|x) (a Scott's-rule KDE width for point codes). A density read at grid points instead would call the gaps
    between MNIST's narrow posteriors (σ ≈ 0.05) "holes" in the middle of the cloud.

    Returns cell centres g (K,), edges (K+1,), cell masses P and Q (K, K) indexed [row = z2, col = z1], densities
    p = P / area and q = Q / area, the boolean `hole` mask, `hole_mass` (prior mass in holes), `tv` (the
    total-variation distance between p and q on this partition, sum (P − Q)+), and up to n_samples well-separated
    hole centres `z_holes` (K', 2) for decoding, the heaviest (in prior mass) first.
    """
    if mu.shape[1] != 2:
        raise ValueError("the prior-hole map needs a 2-D latent space")
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.exp(0.5 * np.asarray(logvar, dtype=np.float64)) if logvar is not None else np.tile(scott_bandwidth(mu), (len(mu), 1))
    edges = np.linspace(-limit, limit, n_cells + 1)
    g = 0.5 * (edges[:-1] + edges[1:])
    p1 = _cell_masses(edges, np.zeros(1), np.ones(1))[0]  # (K,)
    P = np.outer(p1, p1)  # rows z2, columns z1
    a1, a2 = _cell_masses(edges, mu[:, 0], sigma[:, 0]), _cell_masses(edges, mu[:, 1], sigma[:, 1])  # (N, K) each
    Q = a2.T @ a1 / mu.shape[0]  # (K, K): mean over images of the product of the per-axis masses
    hole = ratio * P > Q
    picks: list[np.ndarray] = []
    rows, cols = np.unravel_index(np.argsort(-np.where(hole, P, 0.0), axis=None), P.shape)
    for i, j in zip(rows, cols):
        if not hole[i, j] or len(picks) >= n_samples or P[i, j] < 0.02 * P.max():  # skip the far tails
            break
        z = np.array([g[j], g[i]])
        if all(np.linalg.norm(z - other) >= min_sep for other in picks):
            picks.append(z)
    area = (edges[1] - edges[0]) ** 2
    return {"g": g, "edges": edges, "P": P, "Q": Q, "p": P / area, "q": Q / area, "hole": hole, "ratio": ratio,
            "hole_mass": float(P[hole].sum()), "tv": float(np.clip(P - Q, 0.0, None).sum()),
            "z_holes": np.array(picks).reshape(-1, 2)}


def dataset_mismatch(datas: dict[str, dict]) -> str | None:
    """A message naming the checkpoints whose dataset (fingerprint and shape) differs from the first; None if all agree."""
    items = list(datas.items())
    if not items:
        return None

    def key(d: dict) -> tuple:
        return (d.get("fingerprint"), tuple(d.get("shape") or ()))

    ref_name, ref = items[0]
    odd = [(n, d) for n, d in items[1:] if key(d) != key(ref)]
    if not odd:
        return None

    def desc(d: dict) -> str:
        return f"{d.get('name', '?')} {tuple(d.get('shape') or ())}"

    others = "; ".join(f"**{n}** on {desc(d)}" for n, d in odd)
    return (f"These checkpoints were trained on different datasets and cannot be compared on the same inputs: "
            f"**{ref_name}** on {desc(ref)}; {others}. Pick checkpoints trained on the same data.")


def run_card(meta: dict, *, name: str = "") -> dict[str, Any]:
    """A compact, JSON-able summary of a checkpoint: config, seed, dataset id, final metrics."""
    history = meta.get("history") or []
    last = history[-1] if history else {}
    train = meta.get("train") or {}
    data = {k: v for k, v in (meta.get("data") or {}).items() if k != "classes"}
    return {
        "name": name,
        "created": meta.get("created"),
        "status": meta.get("status"),
        "model": meta.get("model"),
        "train": train,
        "seed": train.get("seed"),
        "data": data,
        "epochs_trained": None if "program" in meta else len(history),  # an imported model was trained elsewhere
        **({"imported_from": meta["program"].get("source", {})} if "program" in meta else {}),
        "final": {
            "train": {k: last.get(k) for k in ("recon", "kl", "elbo", "loss") if k in last},
            "test": last.get("test"),
            "kl_per_dim": last.get("kl_per_dim"),
        },
        "units": "nats per image",
    }


def model_kind(kind: str, objective: str | None = None) -> str:
    """'VAE', 'AE', 'PCA', or 'β-TCVAE' for a VAE trained with β on the total correlation only."""
    return "β-TCVAE" if kind == "vae" and objective == "beta-tcvae" else kind.upper()


def listing_row(path, meta: dict | None, error: str | None, *, where: str = "run") -> dict[str, Any]:
    """One row of the checkpoints table: where, name, dataset, config, final test metrics, date, size."""
    from pathlib import Path

    p = Path(path)
    try:
        size_kb = p.stat().st_size / 1024
    except OSError:
        size_kb = None
    row: dict[str, Any] = {"name": p.stem, "where": where, "dataset": None, "model": None, "latent": None, "β": None,
                           "epochs": None, "test recon": None, "test KL": None, "test ELBO": None, "status": None,
                           "created": None, "size (KB)": size_kb, "problem": error}
    if meta is None:
        return row
    model, train, data = meta.get("model") or {}, meta.get("train") or {}, meta.get("data") or {}
    history = meta.get("history") or []
    test = (history[-1].get("test") if history else None) or {}
    kind = model.get("kind", "?")
    row.update({
        "dataset": f"{data.get('name', '?')} {'×'.join(map(str, data.get('shape') or []))}",
        "model": model_kind(kind, train.get("objective")) + ("" if kind == "pca" else f" · {model.get('arch', '?')}"),
        "latent": model.get("latent_dim"),
        "β": train.get("beta") if kind == "vae" else None,
        "epochs": None if model.get("arch") == "imported" else len(history),  # trained elsewhere
        "test recon": test.get("recon"),
        "test KL": test.get("kl") if kind == "vae" else None,
        "test ELBO": test.get("elbo") if kind == "vae" else None,
        "status": meta.get("status"),
        "created": (meta.get("created") or "").replace("T", " ").rstrip("Z") or None,
    })
    return row
