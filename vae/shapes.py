"""A procedural dSprites-style dataset (Matthey et al., 2017): 2-D shapes over a full grid of known factors.

Every combination of shape × scale × rotation × x × y appears once, so the factors are independent and
uniform, which is what the MIG estimator assumes. Images are anti-aliased by supersampling: pixel values are
the covered fraction of each pixel, so a Bernoulli likelihood on [0, 1] intensities fits them.
Generation is vectorised numpy and needs no download.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIDE = 32  # image side in pixels: a 3-stage conv VAE trains in minutes on a laptop CPU
SUPERSAMPLE = 4  # samples per pixel side for anti-aliasing
SHAPES = ("square", "ellipse", "heart", "triangle")
# rotational symmetry period of each shape in degrees: rotation levels span one period, so every level is visible
PERIODS = {"square": 90.0, "ellipse": 180.0, "heart": 360.0, "triangle": 120.0}
N_SCALES, N_ROTATIONS, N_POSITIONS = 4, 8, 10
MAX_RADIUS = 8.0  # pixels: the largest shape fits in a circle of this radius
SCALES = np.linspace(0.5, 1.0, N_SCALES) * MAX_RADIUS  # circumradius in pixels
# centres keep every shape inside the image; rounded to the sample grid (1/SUPERSAMPLE px) so placing is slicing
POSITIONS = np.round(np.linspace(MAX_RADIUS, SIDE - MAX_RADIUS, N_POSITIONS) * SUPERSAMPLE) / SUPERSAMPLE
FACTOR_NAMES = ("shape", "scale", "rotation", "x", "y")


@dataclass(frozen=True)
class ShapesData:
    images: np.ndarray  # (N, SIDE, SIDE) float32 in [0, 1]
    factors: np.ndarray  # (N, K) int64: the level index of each factor
    factor_names: tuple[str, ...]
    factor_levels: tuple[tuple[str, ...], ...]  # a readable name for every level of every factor


def factor_levels() -> tuple[tuple[str, ...], ...]:
    return (
        SHAPES,
        tuple(f"{s:.1f} px" for s in SCALES),
        tuple(f"{k}/{N_ROTATIONS} turn of symmetry" for k in range(N_ROTATIONS)),
        tuple(f"{p:.1f} px" for p in POSITIONS),
        tuple(f"{p:.1f} px" for p in POSITIONS),
    )


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Membership of points (u, v) in the unit shape (circumradius <= 1, centred, y up)."""
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 1 / np.sqrt(2)
    if shape == "ellipse":
        return u**2 + (v / 0.5) ** 2 <= 1
    if shape == "triangle":  # equilateral, circumradius 1: inside all three edges at distance 1/2 from the centre
        inside = np.ones(u.shape, dtype=bool)
        for a in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
            inside &= -(u * np.cos(a) + v * np.sin(a)) <= 0.5
        return inside
    if shape == "heart":  # (x² + y² − 1)³ − x² y³ <= 0, spans x ±1.14, y −1..1.24; shifted and scaled into the unit disc
        x, y = u * 1.2, v * 1.2 + 0.12
        return (x**2 + y**2 - 1) ** 3 - x**2 * y**3 <= 0
    raise ValueError(f"unknown shape {shape!r}")


def _sprites(shape: str, radius: float, angles_deg: np.ndarray) -> np.ndarray:
    """Supersampled (R, n, n) binary sprites, one per angle, centred in an n×n grid of samples, n = 2·MAX_RADIUS·S."""
    n = int(2 * MAX_RADIUS * SUPERSAMPLE)
    t = (np.arange(n) - n / 2 + 0.5) / SUPERSAMPLE  # sample offsets from the centre in pixels
    px, py = np.meshgrid(t, -t)  # image rows go down, the shape's y goes up
    a = np.deg2rad(angles_deg)[:, None, None]  # (R, 1, 1)
    # rotate the sample points by -angle into the shape's frame, then scale to the unit shape
    u = (np.cos(a) * px + np.sin(a) * py) / radius
    v = (-np.sin(a) * px + np.cos(a) * py) / radius
    return _inside(shape, u, v).astype(np.float32)


def generate(seed: int = 0) -> ShapesData:
    """The full factor grid (4 × 4 × 8 × 10 × 10 = 12,800 images) in an order shuffled by `seed`."""
    s, hi = SUPERSAMPLE, SIDE * SUPERSAMPLE
    grid = [len(SHAPES), N_SCALES, N_ROTATIONS, N_POSITIONS, N_POSITIONS]
    sprites = np.stack([np.stack([_sprites(shape, r, np.arange(N_ROTATIONS) * PERIODS[shape] / N_ROTATIONS)
                                  for r in SCALES]) for shape in SHAPES])  # (4, 4, 8, n, n)
    n = sprites.shape[-1]
    sprites = sprites.reshape(-1, n, n)  # (128, n, n)
    # positions sit on the sample grid, so placing a sprite is a slice; anti-aliasing is the mean over samples
    offsets = np.round(POSITIONS * s).astype(int) - n // 2
    images = np.empty((sprites.shape[0], N_POSITIONS, N_POSITIONS, SIDE, SIDE), dtype=np.float32)
    canvas = np.zeros((sprites.shape[0], hi, hi), dtype=np.float32)
    for ix, ox in enumerate(offsets):
        for iy, oy in enumerate(offsets):
            canvas[:] = 0
            canvas[:, oy : oy + n, ox : ox + n] = sprites
            images[:, ix, iy] = canvas.reshape(-1, SIDE, s, SIDE, s).mean(axis=(2, 4))
    factors = np.stack(np.meshgrid(*[np.arange(k) for k in grid], indexing="ij"), axis=-1).reshape(-1, len(grid))
    images = images.reshape(-1, SIDE, SIDE)
    order = np.random.default_rng(seed).permutation(images.shape[0])
    return ShapesData(np.ascontiguousarray(images[order]), factors[order].astype(np.int64), FACTOR_NAMES,
                      factor_levels())


# A conv VAE that trains on `shapes` in minutes on a laptop CPU and fits in a 0.5 MB checkpoint (4 stride-2 stages of
# 32 channels down to 2×2, then 256 units, as in Higgins et al.'s dSprites encoder, scaled to 32×32 images).
# The Train and β sweep forms, scripts/make_demos.sh and bench/shapes_mig.py all use it.
PRESET_MODEL = {"arch": "conv", "latent_dim": 10, "channels": (32, 32, 32, 32), "hidden": (256,)}
PRESET_TRAIN = {"epochs": 20, "batch_size": 64}
