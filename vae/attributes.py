"""Attribute vectors and latent arithmetic: a direction from two groups of codes, moves along it, A − B + C, and the
codes projected onto it (Latent Space Cartography, Liu et al. 2019; the Embedding Projector's custom projection).

Pure numpy: the Latent map (ui/attributes.py) chooses the groups and draws; tests check the maths here. Named
vectors travel in the URL as `name~v1,v2,...;name~...` and are parsed as hostile input (`parse_vectors`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from vae.errors import VaeError
from vae.explore import Z_LIMIT

MAX_VECTORS = 6  # named vectors kept with a view
MAX_NAME = 40  # characters of a vector's name
MAX_PARAM_CHARS = 6000  # the URL value of all vectors together; longer is refused unread
SEP_VECTORS, SEP_NAME = ";", "~"
NAME_RE = re.compile(rf"^[^;~]{{1,{MAX_NAME}}}$")  # and printable (str.isprintable); escaped wherever shown


class VectorError(VaeError, ValueError):
    """A group is empty or the codes do not fit together; the message says which."""


@dataclass(frozen=True)
class Named:
    """A named direction in latent space."""

    name: str
    v: tuple[float, ...]


def group_mean(mu: np.ndarray, rows) -> np.ndarray:
    """Mean posterior mean of the chosen rows (D,); refuses an empty group."""
    rows = np.asarray(rows, dtype=np.int64).ravel()
    if rows.size == 0:
        raise VectorError("a group has no images: pick a label, a level or a selection with some")
    if rows.min() < 0 or rows.max() >= len(mu):
        raise VectorError(f"a group names rows outside the {len(mu)} test images")
    return np.asarray(mu, dtype=np.float64)[rows].mean(0)


def attribute_vector(mu: np.ndarray, rows_a, rows_b) -> np.ndarray:
    """v = mean μ(B) − mean μ(A), (D,): adding it to a code moves it from group A's average towards B's."""
    return group_mean(mu, rows_b) - group_mean(mu, rows_a)


def rows_where(values: np.ndarray, level: int) -> np.ndarray:
    """The test rows whose label (or factor level) is `level`."""
    return np.nonzero(np.asarray(values) == level)[0]


def along(z, v, ks) -> np.ndarray:
    """z + k·v for each k: (K, D)."""
    z, v = np.asarray(z, dtype=np.float64), np.asarray(v, dtype=np.float64)
    return z[None] + np.asarray(ks, dtype=np.float64).reshape(-1, 1) * v[None]


def analogy(a, b, c) -> np.ndarray:
    """A − B + C: what C becomes when it changes as A differs from B (king − man + woman)."""
    return np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64) + np.asarray(c, dtype=np.float64)


def projection_basis(mu: np.ndarray, v) -> tuple[np.ndarray, np.ndarray]:
    """A plane for the map seen along v: origin = the codes' mean; x axis = v / |v|; y axis = the main direction
    of the codes once their part along v is removed (their first principal axis orthogonal to v).
    Returns (origin (D,), basis (2, D)); a 1-D latent gives a (1, D) basis."""
    mu, v = np.asarray(mu, dtype=np.float64), np.asarray(v, dtype=np.float64)
    norm = float(np.linalg.norm(v))
    if not math.isfinite(norm) or norm < 1e-12:
        raise VectorError("the vector has zero length: the two groups have the same mean")
    u = v / norm
    origin = mu.mean(0)
    if mu.shape[1] < 2:
        return origin, u[None]
    rest = (mu - origin) - np.outer((mu - origin) @ u, u)  # (N, D), orthogonal to u
    _, _, vt = np.linalg.svd(rest, full_matrices=False)
    w = vt[0] - (vt[0] @ u) * u  # numerically orthogonal again
    if np.linalg.norm(w) < 1e-9:  # the codes vary only along v: any orthogonal direction will do
        w = np.eye(len(u))[int(np.argmin(np.abs(u)))]
        w = w - (w @ u) * u
    return origin, np.stack([u, w / np.linalg.norm(w)])


# --- named vectors in the URL ----------------------------------------------------------------------------------


def format_vectors(vectors: list[Named]) -> str:
    return SEP_VECTORS.join(f"{n.name}{SEP_NAME}" + ",".join(f"{x:.4g}" for x in n.v) for n in vectors)


def fits_url(vectors: list[Named]) -> bool:
    """Whether these vectors, as a URL value, are within what parse_vectors accepts."""
    return len(vectors) <= MAX_VECTORS and len(format_vectors(vectors)) <= MAX_PARAM_CHARS


def valid_name(name: object) -> str | None:
    """The name stripped, when it is 1..MAX_NAME printable characters (no control or bidi-override characters)
    without the URL's separators."""
    if not isinstance(name, str):
        return None
    name = name.strip()
    return name if NAME_RE.match(name) and name.isprintable() else None


def parse_vectors(text: str | None, d: int) -> list[Named] | None:
    """Named vectors from a URL value, or None when anything in it is wrong (too long, too many, a bad name, a
    duplicate name, not exactly d finite numbers within ±Z_LIMIT, or all zero)."""
    if not text or len(text) > MAX_PARAM_CHARS:
        return None
    items = text.split(SEP_VECTORS)
    if len(items) > MAX_VECTORS:
        return None
    out: list[Named] = []
    for item in items:
        name, sep, numbers = item.partition(SEP_NAME)
        name = valid_name(name)
        parts = numbers.split(",")
        if not sep or name is None or len(parts) != d or any(n.name == name for n in out):
            return None
        try:
            v = tuple(float(p) for p in parts)
        except ValueError:
            return None
        if not all(math.isfinite(x) and abs(x) <= Z_LIMIT for x in v) or not any(v):
            return None
        out.append(Named(name, v))
    return out
