"""Dataset registry: a name or path becomes in-memory float tensors in [0, 1] (N, C, H, W) with labels."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vae.config import BUILTIN_DATASETS as BUILTIN
from vae.config import MAX_SIDE, DataConfig
from vae.config import TORCHVISION_DATASETS as TORCHVISION
from vae.errors import VaeError
from vae.schema import MAX_CLASSES  # the checkpoint schema's bound, enforced where labels are read

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
MAX_IMAGE_PIXELS = 4096 * 4096  # per image file, checked from its header before decoding
SHAPES_VERSION = 1  # bump when vae/shapes.py draws different images, so old checkpoints are not compared as equals


class DataError(VaeError, RuntimeError):
    """A dataset could not be loaded; the message says what failed, where, and what works offline."""


class UnknownDatasetError(DataError):
    """The name is neither a built-in dataset nor an existing path: a bad argument rather than bad data."""

    field = "data"


@dataclass
class Dataset:
    x: torch.Tensor  # (N, C, H, W) float32 in [0, 1]
    y: torch.Tensor  # (N,) int64; -1 when unlabeled
    classes: list[str]
    # known generative factors (only `shapes` has them): level index per image and factor, (N, K) int64
    factors: torch.Tensor | None = None
    factor_names: list[str] = field(default_factory=list)
    factor_levels: list[list[str]] = field(default_factory=list)  # a readable name per level of each factor

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    def subset(self, idx: torch.Tensor | slice) -> Dataset:
        """The same dataset restricted to `idx`, factors included."""
        factors = self.factors[idx] if self.factors is not None else None
        return Dataset(self.x[idx], self.y[idx], self.classes, factors, self.factor_names, self.factor_levels)


@dataclass
class DataSplit:
    train: Dataset
    test: Dataset
    info: dict  # the dataset id stored in checkpoints: name, shape, sizes, split, fingerprint


def default_data_dir() -> Path:
    base = os.environ.get("VAE_DATA_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "vae-latent-explorer"
    )
    return Path(base)


def load(cfg: DataConfig) -> DataSplit:
    """Load and split a dataset; the only entry point the rest of the package uses."""
    name = cfg.name.strip()
    key = name.lower()
    if key == "digits":
        train, test = _split(_digits(), cfg)
        fingerprint = "sklearn-digits"
    elif key == "shapes":
        train, test = _split(_shapes(), cfg)
        fingerprint = f"procedural-shapes-v{SHAPES_VERSION}"
    elif key in TORCHVISION:
        train, test = _torchvision(key, cfg)
        fingerprint = f"torchvision-{key}"
    else:
        path = Path(name).expanduser()
        if path.is_dir():
            full = _image_folder(path)
        elif path.suffix.lower() == ".npz" and path.is_file():
            full = _npz(path)
        elif path.suffix.lower() == ".npz":
            raise UnknownDatasetError(f"No .npz file at {path}. The built-in 'digits' dataset works offline.")
        else:
            raise UnknownDatasetError(
                f"Unknown dataset {name!r}: use one of {', '.join(BUILTIN)}, a path to an .npz file, "
                "or an image folder with one subfolder per class. 'digits' works offline."
            )
        train, test = _split(full, cfg, in_place=True)  # decoded here, shared with nobody
        fingerprint = _fingerprint(path)
    if cfg.limit is not None:
        train = train.subset(slice(0, cfg.limit))
    info = {
        "name": name,
        "shape": list(train.shape),
        "n_train": len(train),
        "n_test": len(test),
        "split_seed": cfg.split_seed,
        "test_fraction": cfg.test_fraction,
        "split": cfg.split,
        "fingerprint": fingerprint,
        "classes": train.classes,
    }
    return DataSplit(train, test, info)


def config_from_info(info: dict, **overrides) -> DataConfig:
    """The DataConfig that reproduces a checkpoint's split from its stored dataset id (`Checkpoint.data`)."""
    fields = {"name": info.get("name", "digits"), "test_fraction": float(info.get("test_fraction", 0.2)),
              "split_seed": int(info.get("split_seed", 0)), "split": info.get("split", "random")}
    return DataConfig(**{**fields, **overrides})


def _split(ds: Dataset, cfg: DataConfig, *, in_place: bool = False) -> tuple[Dataset, Dataset]:
    """Train/test split for datasets without an official one: seeded random, or the tail in file order.

    `in_place` (for images this module decoded itself, shared with nothing): both parts become views of `ds.x`,
    reordered in place (train rows first, each part in file order), because indexing would copy the largest
    array the app holds once more. Otherwise the parts are copies and `ds` is left as it was.
    """
    n = len(ds)
    n_test = max(1, int(round(n * cfg.test_fraction)))
    if n - n_test < 1:
        raise DataError(f"Dataset has only {n} items: too few to split into train and test.")
    if cfg.split == "tail":
        return ds.subset(slice(0, n - n_test)), ds.subset(slice(n - n_test, n))
    g = torch.Generator().manual_seed(cfg.split_seed)
    perm = torch.randperm(n, generator=g)
    test_idx, train_idx = perm[:n_test].sort().values, perm[n_test:].sort().values
    if not in_place:
        return ds.subset(train_idx), ds.subset(test_idx)
    x = ds.x
    x_test = x[test_idx]  # the test part only; then train rows move forward and the test rows go last
    step = max(1, 1024**2 // max(1, x[0].numel() * x.element_size()))  # rows moved per block
    for i in range(0, n - n_test, step):  # train_idx[j] >= j: a block never overwrites rows still to be read
        j = min(i + step, n - n_test)
        x[i:j] = x[train_idx[i:j]]
    x[n - n_test:] = x_test
    del x_test
    order = torch.cat([train_idx, test_idx])
    factors = ds.factors[order] if ds.factors is not None else None
    ds = Dataset(x, ds.y[order], ds.classes, factors, ds.factor_names, ds.factor_levels)
    return ds.subset(slice(0, n - n_test)), ds.subset(slice(n - n_test, n))


def _digits() -> Dataset:
    """scikit-learn's 8×8 digits, which ship inside the package: no network needed."""
    images, target = _digits_arrays()
    x = torch.tensor(images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8), pixel counts 0..16
    y = torch.tensor(target, dtype=torch.int64)
    return Dataset(x, y, [str(i) for i in range(10)])


@lru_cache(maxsize=1)
def _shapes_arrays():
    from vae.shapes import generate

    return generate(seed=0)  # the grid is fixed; seed 0 fixes the file order that split="tail" uses


def _shapes() -> Dataset:
    """The procedural dSprites-style shapes with their five known factors (vae/shapes.py); no download."""
    d = _shapes_arrays()
    x = torch.from_numpy(d.images).unsqueeze(1)  # (N, 1, 32, 32), anti-aliased coverage in [0, 1]
    factors = torch.from_numpy(d.factors)  # (N, 5)
    return Dataset(x, factors[:, 0].clone(), list(d.factor_levels[0]), factors, list(d.factor_names),
                   [list(levels) for levels in d.factor_levels])


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 8, 8), target (N,)) read straight from the CSV that scikit-learn ships.

    `sklearn.datasets.load_digits` reads the same file but importing sklearn.datasets costs ~0.8 s, a third
    of the app's first page run; the public loader stays the fallback should the file ever move.
    """
    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if csv is not None and csv.is_file():
        table = np.loadtxt(csv, delimiter=",", dtype=np.float64)  # (N, 65): 64 pixels, then the label
        return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target


def _torchvision(key: str, cfg: DataConfig) -> tuple[Dataset, Dataset]:
    try:
        import torchvision.datasets as tvd
    except Exception as e:  # pragma: no cover - torchvision is a requirement
        raise DataError(f"torchvision is not available ({e}). The built-in 'digits' dataset works offline.") from e
    root = Path(cfg.data_dir).expanduser() if cfg.data_dir else default_data_dir()
    cls = getattr(tvd, TORCHVISION[key])
    parts = []
    for train in (True, False):
        try:
            ds = cls(root=str(root), train=train, download=cfg.download)
        except Exception as e:
            action = "download failed" if cfg.download else "files are missing"
            raise DataError(
                f"Could not load {key} ({action}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). "
                f"Files are expected under {root / TORCHVISION[key] / 'raw'}. "
                "Without network access, use the built-in 'digits' dataset, which works offline."
            ) from e
        x = ds.data.to(torch.float32).unsqueeze(1) / 255.0  # (N, 1, 28, 28)
        parts.append(Dataset(x, ds.targets.to(torch.int64), [str(c) for c in ds.classes]))
    return parts[0], parts[1]


def _npz(path: Path) -> Dataset:
    """An .npz read by the bounded reader (vae.npz): checked against the memory budget before decompressing."""
    from vae import npz, settings

    try:
        x, y = npz.load(path, budget=settings.DATASET_MEMORY.value(), max_file=settings.NPZ_FILE.value())
    except npz.NpzError as e:
        raise DataError(str(e)) from e
    return Dataset(_fit_side(torch.from_numpy(x)), *_labels(y, x.shape[0], path.name))


def _fit_side(x: torch.Tensor) -> torch.Tensor:
    """Downscale (N, C, H, W) so that the longer side is at most MAX_SIDE pixels."""
    h, w = x.shape[-2:]
    if max(h, w) <= MAX_SIDE:
        return x.contiguous()
    scale = MAX_SIDE / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def _labels(y: np.ndarray | None, n: int, source: str) -> tuple[torch.Tensor, list[str]]:
    if y is None:
        return torch.full((n,), -1, dtype=torch.int64), []
    y = np.asarray(y).reshape(-1)
    if y.shape[0] != n:
        raise DataError(f"{source}: 'y' has {y.shape[0]} labels for {n} images.")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{source}: 'y' must hold integer labels, not {y.dtype}.")
    # labels become indices 0..K-1 into `classes`, which keeps the original values as names ({3, 7} -> "3", "7")
    values, index = np.unique(y, return_inverse=True)
    if len(values) > MAX_CLASSES:
        raise DataError(f"{source}: 'y' has {len(values)} distinct labels; at most {MAX_CLASSES} classes are supported.")
    return torch.from_numpy(index.astype(np.int64).reshape(-1)), [str(v) for v in values]


def _image_folder(path: Path) -> Dataset:
    import warnings

    from PIL import Image, UnidentifiedImageError

    from vae import settings

    budget = settings.DATASET_MEMORY.value()

    class_dirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"{path} has no class subfolders: expected one subfolder of images per class.")
    images, labels, size = [], [], None
    for label, d in enumerate(class_dirs):
        for f in sorted(d.rglob("*")):
            if not f.is_file() or f.name.startswith("."):
                continue
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(f"{f} is not an image file (accepted: {', '.join(IMAGE_SUFFIXES)}).")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    with Image.open(f) as im:  # reads the header only: the pixel count is checked before decoding
                        if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:
                            raise DataError(f"{f} is {im.size[0]}×{im.size[1]} pixels; images may have at most "
                                            f"{MAX_IMAGE_PIXELS:,} (a larger one could be a decompression bomb).")
                        im = im.convert("L")
                        if size is None:
                            scale = min(1.0, MAX_SIDE / max(im.size))
                            size = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
                        im = im.resize(size, Image.BILINEAR) if im.size != size else im
                        images.append(np.asarray(im, dtype=np.uint8))
            except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
                    Image.DecompressionBombWarning) as e:
                raise DataError(f"{f} could not be read as an image: {e}") from e
            labels.append(label)
            if len(images) * size[0] * size[1] * 4 > budget:  # float32 once stacked
                raise DataError(f"{path} holds more images than fit in {budget // 1024**2} MB of memory "
                                f"(VAE_MAX_DATASET_MB).")
    if len(images) < 2:
        raise DataError(f"{path} holds {len(images)} images; at least 2 are needed.")
    x = torch.from_numpy(np.stack(images)).to(torch.float32).unsqueeze(1) / 255.0  # (N, 1, H, W)
    return Dataset(x, torch.tensor(labels, dtype=torch.int64), [d.name for d in class_dirs])


def _fingerprint(path: Path) -> str:
    """A cheap content id so that checkpoints from different files are not compared as equals."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        with open(f, "rb") as fh:
            h.update(fh.read(1 << 20))
        h.update(str(f.stat().st_size).encode())
    return "sha256:" + h.hexdigest()[:16]
