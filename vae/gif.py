"""Animated GIFs of decoded latent paths: traversals, interpolation (linear, slerp) and manifold-grid sweeps,
the slides disentangling-vae and disentanglement_lib ship. Pillow only; sizes bounded by vae/settings.py.

A path is z of shape (F, T, D): F frames, each a mosaic of T decodes laid out `cols` wide.
"""

from __future__ import annotations

import io

import numpy as np

from vae import explore, settings
from vae.codes import code_stats, sweep_values
from vae.config import ConfigError

KINDS = ("traversal", "interpolation", "grid", "replay")
REPLAY_SIDE = 400  # px of a replay frame
MAX_TILES = 16  # decodes per frame for traversals: one per dim, as many as the Latent map has sliders
MAX_GRID = 25  # the Latent map's largest manifold grid
MAX_FPS = 50  # GIF delays are in centiseconds; browsers clamp faster ones
PAD = 1  # px between tiles, white
DEFAULT_SIDE = 256  # px a lone decode is scaled up to when no scale is given
TILE_SIDE = 64  # px each tile of a mosaic is scaled up to when no scale is given


def check_frames(frames: int) -> int:
    top = settings.GIF_FRAMES.value()
    if not isinstance(frames, (int, np.integer)) or isinstance(frames, bool) or not 2 <= frames <= top:
        raise ConfigError("frames", f"must be a whole number from 2 to {top} (VAE_MAX_GIF_FRAMES), got {frames!r}")
    return int(frames)


def check_dims(dims, d: int, *, most: int = MAX_TILES) -> list[int]:
    dims = [int(i) for i in dims]
    if not dims:
        raise ConfigError("dims", "give at least one latent dim")
    bad = [i for i in dims if not 0 <= i < d]
    if bad:
        raise ConfigError("dims", f"{bad[0]} is not a dim of this {d}-D latent; use 0 to {d - 1}")
    if len(set(dims)) != len(dims):
        raise ConfigError("dims", f"each dim at most once, got {dims}")
    if len(dims) > most:
        raise ConfigError("dims", f"at most {most} dims per frame, got {len(dims)}")
    return dims


def traversal_path(z0, dims, values) -> tuple[np.ndarray, int]:
    """Frame k shows z0 with dims[i] set to values[k, i] (values (F, len(dims)), or (F,) for all dims alike),
    one tile per dim: (z (F, len(dims), D), cols)."""
    z0 = np.asarray(z0, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)  # (F, 1 or len(dims))
    z = np.tile(z0, (len(values), len(dims), 1))
    for i, dim in enumerate(dims):
        z[:, i, dim] = values[:, i if values.shape[1] > 1 else 0]
    return z, len(dims)


def interpolation_path(z_a, z_b, frames: int, method: str = "linear") -> tuple[np.ndarray, int]:
    """Frame k is the k-th of `frames` points from z_a to z_b (explore.interpolate): (z (F, 1, D), 1)."""
    return explore.interpolate(z_a, z_b, frames, method)[:, None, :], 1


def grid_sweep_path(base, dims, sweep_dim: int, xs, ys, values) -> tuple[np.ndarray, int]:
    """Frame k is the manifold grid xs × ys over dims (row 0 = largest y) with `sweep_dim` at values[k]:
    (z (F, len(ys) * len(xs), D), len(xs))."""
    xs, ys = np.asarray(xs, dtype=np.float64), np.sort(np.asarray(ys, dtype=np.float64))[::-1]
    base = np.asarray(base, dtype=np.float64)
    z = np.tile(base, (len(values), len(ys), len(xs), 1))  # (F, rows, cols, D)
    z[..., dims[0]] = xs[None, None, :]
    z[..., dims[1]] = ys[None, :, None]
    z[..., sweep_dim] = np.asarray(values, dtype=np.float64)[:, None, None]
    return z.reshape(len(values), -1, base.shape[0]), len(xs)


# --- the kinds, as the Latent map and the CLI ask for them; stats is vae.codes.code_stats of the test codes ---


def traversal(model, stats: dict, z0, dims, frames: int) -> tuple[np.ndarray, int]:
    """Each dim swept over vae.codes.sweep_values (−3..3 for a VAE, the codes' range otherwise), others at z0."""
    frames, dims = check_frames(frames), check_dims(dims, model.config.latent_dim)
    values = np.stack([sweep_values(stats, i, frames, model.generative) for i in dims], 1)  # (F, K)
    return traversal_path(z0, dims, values)


def interpolation(model, z_a, z_b, frames: int, method: str = "linear") -> tuple[np.ndarray, int]:
    if method not in ("linear", "slerp"):
        raise ConfigError("method", f"use 'linear' or 'slerp', not {method!r}")
    return interpolation_path(z_a, z_b, check_frames(frames), method)


def grid_sweep(model, stats: dict, dims, sweep_dim: int, frames: int, *, n: int = 10,
               spacing: str = "cdf") -> tuple[np.ndarray, int]:
    """The n×n manifold grid over dims (others at the centre) while a third dim sweeps as in a traversal."""
    d = model.config.latent_dim
    if d < 3:
        raise ConfigError("kind", f"a manifold-grid sweep moves a third dim under the grid; this latent has {d}")
    dims = check_dims(list(dims) + [sweep_dim], d)
    if len(dims) != 3:
        raise ConfigError("dims", "give two grid dims, then the dim to sweep")
    if not 2 <= n <= MAX_GRID:
        raise ConfigError("grid", f"must be from 2 to {MAX_GRID} per side, got {n!r}")
    if spacing == "cdf":
        xs = ys = explore.grid_values(n, spacing="cdf")
    elif spacing == "linear":
        xs, ys = (np.linspace(stats["lo"][i], stats["hi"][i], n) for i in dims[:2])
    else:
        raise ConfigError("spacing", f"use 'cdf' or 'linear', not {spacing!r}")
    values = sweep_values(stats, dims[2], check_frames(frames), model.generative)
    return grid_sweep_path(stats["centre"], dims[:2], dims[2], xs, ys, values)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1] -> uint8 by rounding; the one quantisation of every exported pixel."""
    return (np.clip(np.asarray(images, dtype=np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)


def frame_size(tiles: int, cols: int, shape, scale: int) -> tuple[int, int]:
    """(width, height) in px of a frame of `tiles` decodes of (C, H, W) images, `cols` wide, scaled by `scale`."""
    rows = -(-tiles // cols)
    _, h, w = shape
    return scale * (cols * (w + PAD) - PAD), scale * (rows * (h + PAD) - PAD)


def check_size(frames: int, tiles: int, cols: int, shape, scale: int | None) -> int:
    """The scale to use (integer nearest-neighbour upscaling), refusing frames or GIFs over the limits."""
    side, budget = settings.GIF_SIDE.value(), settings.GIF_PIXELS.value()
    w1, h1 = frame_size(tiles, cols, shape, 1)
    if scale is None:  # a lone decode at about DEFAULT_SIDE px, tiles of a mosaic at about TILE_SIDE px
        wanted = max(DEFAULT_SIDE // max(w1, h1), TILE_SIDE // max(shape[1:]))
        fits = min(side // max(w1, h1), int((budget / (frames * w1 * h1)) ** 0.5))
        scale = max(1, min(wanted, fits))
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ConfigError("scale", f"must be a whole number >= 1, got {scale!r}")
    w, h = frame_size(tiles, cols, shape, scale)
    if max(w, h) > side:
        raise ConfigError("scale", f"frames would be {w}×{h} px; at most {settings.GIF_SIDE.shown()} "
                                   f"(VAE_MAX_GIF_SIDE): use a smaller scale or fewer tiles")
    if frames * w * h > budget:
        raise ConfigError("frames", f"{frames} frames of {w}×{h} px are {frames * w * h / 1e6:.1f} million pixels; "
                                    f"at most {settings.GIF_PIXELS.shown()} (VAE_MAX_GIF_MPIXELS)")
    return int(scale)


def render(model, z: np.ndarray, cols: int, *, scale: int | None = None) -> list[np.ndarray]:
    """Decode a path z (F, T, D) into F uint8 frames (H, W) or (H, W, 3): tiles `cols` wide, white gaps, upscaled."""
    f, t, d = z.shape
    if d != model.config.latent_dim:
        raise ConfigError("z", f"points have {d} dims; the model's latent has {model.config.latent_dim}")
    check_frames(f)
    shape = model.config.input_shape
    scale = check_size(f, t, cols, shape, scale)
    imgs = to_uint8(explore.decode(model, z.reshape(f * t, d)))  # (F*T, C, H, W)
    c, h, w = imgs.shape[1:]
    rows = -(-t // cols)
    imgs = np.concatenate([imgs.reshape(f, t, c, h, w), np.full((f, rows * cols - t, c, h, w), 255, np.uint8)], 1)
    grid = np.full((f, c, rows * (h + PAD) - PAD, cols * (w + PAD) - PAD), 255, np.uint8)
    for k in range(rows * cols):
        i, j = divmod(k, cols)
        grid[:, :, i * (h + PAD) : i * (h + PAD) + h, j * (w + PAD) : j * (w + PAD) + w] = imgs[:, k]
    grid = np.repeat(np.repeat(grid, scale, axis=2), scale, axis=3)
    frames = grid[:, 0] if c == 1 else grid[:, :3].transpose(0, 2, 3, 1)
    return [np.ascontiguousarray(a) for a in frames]


def encode_gif(frames: list[np.ndarray], fps: float = 10.0, palette: list[tuple[int, int, int]] | None = None) -> bytes:
    """An endlessly looping GIF. Grey frames keep their exact values; colour frames share one adaptive palette;
    with `palette`, frames are (H, W) indices into it. Pillow merges a frame identical to the one before into it
    (summing the delays), so the playing time holds."""
    from PIL import Image

    if not 0 < fps <= MAX_FPS:
        raise ConfigError("fps", f"must be above 0 and at most {MAX_FPS}, got {fps!r}")
    images = [Image.fromarray(a) for a in frames]
    if palette is not None:
        flat = [v for rgb in palette for v in rgb]
        for im in images:
            im.putpalette(flat)
    elif images[0].mode == "RGB":  # one palette fitted to (a sample of) every frame, not the first alone
        sample = np.concatenate(frames[:: max(1, len(frames) // 16)], axis=0)  # (≤ 16·H, W, 3)
        palette = Image.fromarray(sample).quantize(256, method=Image.Quantize.MAXCOVERAGE)
        images = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps),
                   loop=0, optimize=False)
    return buf.getvalue()


def make_gif(model, z: np.ndarray, cols: int, *, scale: int | None = None, fps: float = 10.0) -> bytes:
    return encode_gif(render(model, z, cols, scale=scale), fps)


def default_ends(y) -> tuple[int, int]:
    """Interpolation ends until the user picks some: test row 0 and the first row with another label."""
    y = np.asarray(y)
    other = np.nonzero(y != y[0])[0]
    return 0, int(other[0]) if len(other) else min(1, len(y) - 1)


def replay_gif(rep, y, frames: int, dims=None, *, side: int = REPLAY_SIDE, fps: float = 10.0) -> bytes:
    """The training replay (vae/replay.py) of two dims (default: the two with the most spread at the end, in
    index order)."""
    from vae import replay as R

    if rep is None:
        raise ConfigError("kind", "this checkpoint has no training replay (runs record one from this version on)")
    if len(rep.epochs) < 2:
        raise ConfigError("kind", "the replay has one recorded epoch; a GIF needs at least two")
    d = rep.mu.shape[2]
    top = sorted(int(i) for i in np.argsort(-rep.mu[-1].var(0), kind="stable")[:2])  # z₁ and z₂ for a 2-D latent
    dims = check_dims(top if dims is None else dims, d, most=2)
    if len(dims) != 2 and d > 1:
        raise ConfigError("dims", "a replay shows two dims")
    frames = check_frames(frames)
    check_size(frames, 1, 1, (1, side, side), 1)
    return encode_gif(R.frames(rep, np.asarray(y)[rep.rows], frames, dims=(dims * 2)[:2], side=side), fps, R.PALETTE)


def checkpoint_gif(model, x, y, *, kind: str, frames: int, dims=None, start=None, ends=None, replay=None,
                   method: str = "linear", grid: int = 10, scale: int | None = None, fps: float = 10.0) -> bytes:
    """The CLI's GIF of a model over its test images x (N, C, H, W) with labels y: rows pick the start and ends,
    dims default to the most used ones (traversal: up to 8; grid: the top two, swept by the third); `replay` is
    vae.replay.read of the checkpoint's replay, for kind 'replay'."""
    if kind not in KINDS:
        raise ConfigError("kind", f"use one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "replay":
        return replay_gif(replay, y, frames, dims, fps=fps)
    mu, logvar = explore.encode_dataset(model, x)
    stats = code_stats(mu, logvar, model.generative)

    def row(r, name: str) -> int:
        if not 0 <= int(r) < len(mu):
            raise ConfigError(name, f"test row {r} does not exist; the test split has rows 0 to {len(mu) - 1}")
        return int(r)

    order = [int(i) for i in stats["order"]]
    if kind == "traversal":
        z0 = stats["centre"] if start is None else mu[row(start, "start")]
        z, cols = traversal(model, stats, z0, order[: min(8, len(order))] if dims is None else dims, frames)
    elif kind == "interpolation":
        a, b = default_ends(y) if ends is None else (row(ends[0], "from"), row(ends[1], "to"))
        z, cols = interpolation(model, mu[a], mu[b], frames, method)
    else:
        dims = order[:3] if dims is None else list(dims)
        z, cols = grid_sweep(model, stats, dims[:2], dims[2] if len(dims) > 2 else -1, frames, n=grid,
                             spacing="cdf" if model.generative else "linear")
    return make_gif(model, z, cols, scale=scale, fps=fps)
