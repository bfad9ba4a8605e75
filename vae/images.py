"""A user's image file as one model input: hostile bytes in, a (C, H, W) float32 array in [0, 1] out, or ImageError."""

from __future__ import annotations

import io
import warnings

import numpy as np

from vae.errors import VaeError

MAX_UPLOAD_BYTES = 5 * 1024**2  # a photo of a digit is far smaller; more is an accident or an attack
MAX_PIXELS = 4096 * 4096  # decoded size limit: a tiny compressed file can declare an enormous image
FORMATS = ("PNG", "JPEG")


class ImageError(VaeError, ValueError):
    """The file is not a usable image; the message says why, in words for the user."""


def image_to_input(data: bytes, shape: tuple[int, int, int], *, invert: bool | None = None) -> np.ndarray:
    """Decode PNG/JPEG bytes and fit them to the dataset's (C, H, W): grey or RGB, resized with a box filter.

    MNIST-like data are light strokes on black; a photo of ink on paper is the opposite. With invert=None the
    image is inverted when its border is mostly light, so either kind lands the dataset's way round.
    """
    from PIL import Image, UnidentifiedImageError

    c, h, w = shape
    if not data:
        raise ImageError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"the file is {len(data) / 1024**2:.1f} MB; images up to {MAX_UPLOAD_BYTES // 1024**2} MB are accepted")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # refuse, do not just warn
            with Image.open(io.BytesIO(data)) as img:
                if img.format not in FORMATS:
                    raise ImageError(f"a {img.format or 'unknown'} file: upload a PNG or JPEG image")
                if img.width * img.height > MAX_PIXELS:
                    raise ImageError(f"the image is {img.width}×{img.height} pixels; at most {MAX_PIXELS:,} pixels are accepted")
                img.draft("L" if c == 1 else "RGB", (max(w, 64), max(h, 64)))  # JPEG: decode at reduced size
                img = img.convert("RGBA")
                flat = Image.new("RGBA", img.size, (255, 255, 255, 255))  # transparency shows as paper
                flat.alpha_composite(img)
                img = flat.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BOX)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"the image declares too many pixels to decode safely ({e})") from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"not a readable PNG or JPEG image ({type(e).__name__})") from e
    a = np.asarray(img, dtype=np.float32) / 255.0  # (H, W) or (H, W, 3)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    if c not in (1, a.shape[0]):
        a = np.repeat(a[:1], c, axis=0)
    if invert is None:
        border = np.concatenate([a[:, 0].ravel(), a[:, -1].ravel(), a[:, :, 0].ravel(), a[:, :, -1].ravel()])
        invert = bool(border.mean() > 0.5)
    return np.ascontiguousarray(1.0 - a if invert else a, dtype=np.float32)
