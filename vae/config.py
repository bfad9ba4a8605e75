"""Configuration dataclasses that validate themselves; one per concern (model, training, data)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from vae.errors import VaeError

MODEL_KINDS = ("vae", "ae", "pca")
ARCHS = ("mlp", "conv", "imported")  # imported: an op program from ONNX (vae/program.py)
LIKELIHOODS = ("bernoulli", "gaussian")
DEVICES = ("auto", "cpu", "cuda", "mps")
SPLITS = ("random", "tail")
# the built-in datasets (vae/data.py loads them); here so that the CLI's help and the forms list them without torch
TORCHVISION_DATASETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}  # -> torchvision class
BUILTIN_DATASETS = ("digits", "shapes", *TORCHVISION_DATASETS)
OBJECTIVES = ("elbo", "beta-tcvae")  # beta-tcvae: β weights only the total-correlation part of the KL (vae/tc.py)

# Upper bounds keep a hostile checkpoint header from asking for a model that eats all memory.
MAX_LATENT_DIM = 512
MAX_WIDTH = 4096
MAX_LAYERS = 8
MAX_SIDE = 64
MAX_CHANNELS = 4


class ConfigError(VaeError, ValueError):
    """An impossible setting; `field` names the offending field so a form can show it in place."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def _check(cond: bool, name: str, message: str) -> None:
    if not cond:
        raise ConfigError(name, message)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    import math

    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


class _Config:
    """Shared dict round trip; unknown keys are an error so typos never pass silently."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        if not isinstance(d, dict):
            raise ConfigError(cls.__name__, "expected a JSON object")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(unknown[0], f"unknown field for {cls.__name__}")
        kwargs = {}
        for f in fields(cls):
            if f.name in d:
                v = d[f.name]
                kwargs[f.name] = tuple(v) if isinstance(v, list) else v
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ModelConfig(_Config):
    kind: str = "vae"  # vae | ae | pca
    arch: str = "mlp"  # mlp | conv | imported (its layers are the checkpoint's op program, not these sizes)
    input_shape: tuple[int, int, int] = (1, 8, 8)  # (C, H, W)
    latent_dim: int = 2
    hidden: tuple[int, ...] = (256, 128)  # MLP widths, encoder order; the decoder mirrors them
    channels: tuple[int, ...] = (32, 64)  # conv channels per stride-2 stage
    likelihood: str = "bernoulli"  # bernoulli | gaussian
    sigma: float = 0.1  # Gaussian likelihood scale (initial value when learned)
    learn_sigma: bool = False

    def __post_init__(self):
        _check(self.kind in MODEL_KINDS, "kind", f"must be one of {', '.join(MODEL_KINDS)}, got {self.kind!r}")
        _check(self.arch in ARCHS, "arch", f"must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        shape = self.input_shape
        _check(
            isinstance(shape, tuple) and len(shape) == 3 and all(_is_int(s) for s in shape),
            "input_shape",
            "must be three integers (C, H, W)",
        )
        _check(1 <= shape[0] <= MAX_CHANNELS, "input_shape", f"channels must be 1..{MAX_CHANNELS}")
        _check(all(1 <= s <= MAX_SIDE for s in shape[1:]), "input_shape", f"height and width must be 1..{MAX_SIDE}")
        _check(_is_int(self.latent_dim) and 1 <= self.latent_dim <= MAX_LATENT_DIM,
               "latent_dim", f"must be an integer in 1..{MAX_LATENT_DIM}, got {self.latent_dim!r}")
        for name, widths in (("hidden", self.hidden), ("channels", self.channels)):
            _check(isinstance(widths, tuple) and 1 <= len(widths) <= MAX_LAYERS, name, f"must list 1..{MAX_LAYERS} sizes")
            _check(all(_is_int(w) and 1 <= w <= MAX_WIDTH for w in widths), name, f"sizes must be integers in 1..{MAX_WIDTH}")
        if self.arch == "conv":
            min_side = min(shape[1:])
            _check(min_side >= 2 ** len(self.channels) // 2, "channels",
                   f"{len(self.channels)} stride-2 stages are too many for a {min_side}-pixel image")
        _check(self.likelihood in LIKELIHOODS, "likelihood", f"must be one of {', '.join(LIKELIHOODS)}")
        _check(_is_num(self.sigma) and 1e-4 <= self.sigma <= 10, "sigma", "must be in [1e-4, 10]")
        _check(isinstance(self.learn_sigma, bool), "learn_sigma", "must be true or false")
        if self.arch == "imported":
            _check(self.kind in ("vae", "ae"), "kind", "an imported model is a vae or an ae")
        if self.kind == "pca":
            _check(self.latent_dim <= shape[0] * shape[1] * shape[2], "latent_dim",
                   "PCA cannot have more components than pixels")

    @property
    def n_pixels(self) -> int:
        c, h, w = self.input_shape
        return c * h * w


@dataclass(frozen=True)
class TrainConfig(_Config):
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    beta: float = 1.0
    objective: str = "elbo"  # elbo (β weights the whole KL) | beta-tcvae (β weights its total correlation)
    warmup_epochs: float = 0.0  # linear KL warm-up: beta ramps from 0 over this many epochs
    capacity: float | None = None  # Burgess et al. capacity C in nats; None disables it
    capacity_epochs: float = 0.0  # C ramps linearly from 0 to `capacity` over this many epochs
    seed: int = 0
    device: str = "auto"
    threads: int | None = None  # torch intra-op threads; None leaves torch's default
    log_every: int = 50  # steps between progress callbacks within an epoch
    grad_clip: float | None = None

    def __post_init__(self):
        _check(_is_int(self.epochs) and 1 <= self.epochs <= 10_000, "epochs", f"must be an integer in 1..10000, got {self.epochs!r}")
        _check(_is_int(self.batch_size) and 1 <= self.batch_size <= 65_536, "batch_size", f"must be an integer in 1..65536, got {self.batch_size!r}")
        _check(_is_num(self.lr) and 0 < self.lr <= 100, "lr", f"must be in (0, 100], got {self.lr!r}")
        _check(_is_num(self.beta) and 0 <= self.beta <= 1000, "beta", f"must be in [0, 1000], got {self.beta!r}")
        _check(self.objective in OBJECTIVES, "objective",
               f"must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        _check(self.objective == "elbo" or self.capacity is None, "capacity",
               "the capacity C applies to the elbo objective only; β-TCVAE penalises the total correlation instead")
        _check(_is_num(self.warmup_epochs) and self.warmup_epochs >= 0, "warmup_epochs", "must be >= 0")
        if self.capacity is not None:
            _check(_is_num(self.capacity) and self.capacity >= 0, "capacity", "must be >= 0 nats")
        _check(_is_num(self.capacity_epochs) and self.capacity_epochs >= 0, "capacity_epochs", "must be >= 0")
        _check(_is_int(self.seed) and 0 <= self.seed < 2**63, "seed", "must be a non-negative integer")
        _check(self.device in DEVICES, "device", f"must be one of {', '.join(DEVICES)}")
        if self.threads is not None:
            _check(_is_int(self.threads) and 1 <= self.threads <= 256, "threads", "must be an integer in 1..256")
        _check(_is_int(self.log_every) and self.log_every >= 1, "log_every", "must be >= 1")
        if self.grad_clip is not None:
            _check(_is_num(self.grad_clip) and self.grad_clip > 0, "grad_clip", "must be > 0")


@dataclass(frozen=True)
class DataConfig(_Config):
    name: str = "digits"  # registry name, or a path to an .npz file or an image folder
    data_dir: str | None = None  # where torchvision datasets live; None means the user cache
    test_fraction: float = 0.2  # for datasets without an official split
    split_seed: int = 0
    split: str = "random"  # random (seeded by split_seed) | tail (the last test_fraction of items, in file order)
    limit: int | None = None  # keep only the first N training items (quick demos)
    download: bool = True

    def __post_init__(self):
        _check(isinstance(self.name, str) and self.name.strip() != "", "name", "must name a dataset or a path")
        _check(_is_num(self.test_fraction) and 0 < self.test_fraction < 1, "test_fraction", "must be in (0, 1)")
        _check(_is_int(self.split_seed) and 0 <= self.split_seed < 2**63, "split_seed",
               "must be an integer in 0..2**63-1")
        _check(self.split in SPLITS, "split", f"must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.limit is not None:
            _check(_is_int(self.limit) and self.limit >= 1, "limit", "must be >= 1")
