"""What colours the latent map: any categorical variable of the test set (the label, or a dataset's generative
factor such as shape, scale or x position), as one small checked object both map renderers read.

The canvas (ui/map/canvas_map.py) and the server-drawn Plotly map (ui/map/plotly_map.py) take the same
`ColourBy`, so a page that offers "colour by" builds one and passes it to `ui.map.panel.map_panel`. Names may come
from users (class names): the canvas writes them with textContent and Plotly escapes them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np

from ui.common import LABEL_COLORS, NO_LABEL_COLOR, current_data, encode_test, load_model

CATEGORICAL = LABEL_COLORS  # tab10: the label colours of every page, so a "3" keeps its colour here too
# matplotlib's viridis at 9 stops: ordered factors (scale, rotation, x, y) read as light = high
VIRIDIS = ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725")
NO_VALUE = NO_LABEL_COLOR
MAX_CATEGORIES = 256  # a legend of more swatches is unreadable; bin a continuous variable first
MAX_NAME = 80  # characters per category name or title shown


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(round(v)):02x}" for v in np.clip(rgb, 0, 255))


def ordered_palette(n: int) -> tuple[str, ...]:
    """n colours evenly along viridis (n = 1: its middle)."""
    stops = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in VIRIDIS], dtype=np.float64)  # (9, 3)
    t = np.linspace(0, len(VIRIDIS) - 1, n) if n > 1 else np.array([(len(VIRIDIS) - 1) / 2])
    lo = np.minimum(np.floor(t).astype(int), len(VIRIDIS) - 2)
    f = (t - lo)[:, None]
    return tuple(_hex(c) for c in (1 - f) * stops[lo] + f * stops[lo + 1])


def categorical_palette(n: int) -> tuple[str, ...]:
    """tab10 for the first 10 categories (so labels keep their colours), then evenly spaced hues."""
    out = list(CATEGORICAL[:n])
    for k in range(n - len(out)):  # golden-angle hues: neighbours stay far apart
        h = (0.61803398875 * (k + 1)) % 1.0
        out.append(_hex(255 * np.array(_hsv(h, 0.65, 0.85))))
    return tuple(out)


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    i, f = int(h * 6) % 6, h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


@dataclass(frozen=True, eq=False)
class ColourBy:
    """A colouring of the test set: `codes[row]` indexes `names` for every test row (the rows the map draws).

    title:   what the colour means, shown in the legend and the hover text ("label", "shape", "scale").
    codes:   (N_test,) integers in 0..len(names)-1.
    names:   one display name per code.
    ordered: an ordinal variable (scale, x position, ...): a sequential palette instead of distinct hues.
    palette: one CSS hex colour per code; derived from `ordered` when left empty.
    """

    title: str
    codes: np.ndarray
    names: tuple[str, ...]
    ordered: bool = False
    palette: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        codes = np.asarray(self.codes)
        if codes.ndim != 1 or not (np.issubdtype(codes.dtype, np.integer) or codes.size == 0):
            raise ValueError(f"colour '{self.title}': codes must be a 1-D integer array, got {codes.dtype} {codes.shape}")
        names = tuple(str(n)[:MAX_NAME] for n in self.names)
        if not names or len(names) > MAX_CATEGORIES:
            raise ValueError(f"colour '{self.title}': 1 to {MAX_CATEGORIES} categories, got {len(names)}")
        if codes.size and (codes.min() < 0 or codes.max() >= len(names)):
            raise ValueError(f"colour '{self.title}': every code must index the {len(names)} names")
        palette = tuple(self.palette) or (ordered_palette if self.ordered else categorical_palette)(len(names))
        if len(palette) != len(names) or not all(isinstance(c, str) and _is_hex(c) for c in palette):
            raise ValueError(f"colour '{self.title}': the palette needs one '#rrggbb' colour per name")
        object.__setattr__(self, "codes", codes.astype(np.int64))
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "title", str(self.title)[:MAX_NAME])
        object.__setattr__(self, "palette", palette)

    # --- constructors ---------------------------------------------------------------------------------------

    @classmethod
    def labels(cls, y: np.ndarray, classes: tuple[str, ...] = ()) -> ColourBy:
        """By class label, the app's default: label k keeps tab10 colour k; -1 (unlabeled) is grey."""
        y = np.asarray(y, dtype=np.int64)
        present = sorted(set(y.tolist())) or [0]
        index = {lab: i for i, lab in enumerate(present)}
        names = tuple("unlabeled" if lab < 0 else classes[lab] if lab < len(classes) else str(lab) for lab in present)
        palette = tuple(NO_VALUE if lab < 0 else CATEGORICAL[lab % len(CATEGORICAL)] for lab in present)
        return cls("label", np.array([index[v] for v in y.tolist()], dtype=np.int64), names, palette=palette)

    # --- what the renderers read ----------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """A digest of everything shown: equal colourings share it (the canvas caches by it)."""
        h = hashlib.sha1(repr((self.title, self.names, self.palette, self.ordered)).encode())
        h.update(np.ascontiguousarray(self.codes).tobytes())
        return h.hexdigest()[:16]

    def for_rows(self, rows: np.ndarray) -> np.ndarray:
        """Codes of the given test rows (the map may draw a subsample, e.g. t-SNE)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self.codes)):
            raise ValueError(f"colour '{self.title}' covers {len(self.codes)} test rows; the map asked for row {rows.max()}")
        return self.codes[rows]


def _is_hex(c: str) -> bool:
    return len(c) == 7 and c[0] == "#" and all(ch in "0123456789abcdefABCDEF" for ch in c[1:])


def colour_by(path: str, name: str, classes: tuple[str, ...] = ()) -> ColourBy:
    """The colouring a page names: "label", or a known generative factor of the checkpoint's dataset (e.g. the
    shapes dataset's shape, scale, rotation, x, y), its levels as categories. A factor whose level names read as
    numbers ("1.5 px", "3/8 turn") is ordered (viridis); others (shape) get distinct hues."""
    if name == "label":
        return ColourBy.labels(encode_test(path)["y"], classes)
    test = current_data(load_model(path)).test
    if name not in (test.factor_names or []):
        raise ValueError(f"no factor {name!r} in this dataset; known: label, {', '.join(test.factor_names or [])}")
    k = test.factor_names.index(name)
    levels = tuple(test.factor_levels[k])
    ordered = all(re.match(r"\s*[-+]?\d", lv) for lv in levels)
    return ColourBy(name, test.factors[:, k].numpy(), levels, ordered=ordered)
