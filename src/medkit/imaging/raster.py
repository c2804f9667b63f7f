"""PNG / JPEG / TIFF / GIF reading with the size checked before decoding.

Pillow opens a file lazily: ``Image.open`` parses only the header, so the pixel count is known before any
pixel is decoded. Colour policy: a grayscale model given an RGB file whose channels are (nearly) equal -- the
usual way scanners and web exports store grey images -- gets the luminance, recorded in ``meta["converted"]``;
a truly coloured image is refused, because silently dropping colour would change what the model sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from medkit.core.errors import DataError
from medkit.imaging.image import DEFAULT_LIMITS, Image, ImageLimits

__all__ = ["read_raster", "to_grayscale", "COLOUR_TOLERANCE"]

#: Mean absolute difference between channels (grey levels, 0-255 scale) above which an RGB image is "colour".
#: Br35H's RGB-encoded grey JPEGs reach 14.4 from compression; colour fundus photographs exceed 50.
COLOUR_TOLERANCE = 20.0


def to_grayscale(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma ``0.299 R + 0.587 G + 0.114 B``, shape ``(H, W, 3) -> (H, W)``, float32."""
    a = rgb.astype(np.float32)
    return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114


def _channel_spread(rgb: np.ndarray, scale: float) -> float:
    a = rgb.astype(np.float32) * (255.0 / scale)
    return float((np.abs(a[..., 0] - a[..., 1]).mean() + np.abs(a[..., 1] - a[..., 2]).mean()) / 2)


def _decode(pil: Any, p: Path, bit_depth: int | None) -> tuple[np.ndarray, int, str]:
    mode = pil.mode
    depth = 16 if mode.startswith("I;16") or mode in {"I", "I;16B"} else 8
    if bit_depth is not None and depth != bit_depth:
        raise DataError(f"{depth}-bit image ({mode}) where {bit_depth}-bit images are expected", where=str(p),
                        fix=f"convert it to {bit_depth}-bit (e.g. rescale to 0-255) or use a model trained on "
                            f"{depth}-bit images")
    try:
        if mode in {"P", "PA", "LA", "RGBA", "CMYK", "YCbCr", "1"}:
            pil = pil.convert("RGB" if mode in {"P", "PA", "RGBA", "CMYK", "YCbCr"} else "L")
        arr = np.asarray(pil)
    except Exception as exc:  # noqa: BLE001 - truncated data surface here
        raise DataError(f"image data are corrupt or truncated ({type(exc).__name__}: {exc})", where=str(p),
                        fix="copy or export the file again") from None
    if depth == 16:
        arr = arr.astype(np.uint16)
    return arr, depth, mode


def read_raster(path: str | Path, *, limits: ImageLimits = DEFAULT_LIMITS,
                expect: Literal["grayscale", "rgb"] | None = None, bit_depth: int | None = None) -> Image:
    """Read a picture file into an :class:`Image`.

    Parameters
    ----------
    expect
        ``"grayscale"``: return ``(H, W)``; near-grey RGB is converted (counted in ``meta``), colour refused.
        ``"rgb"``: return ``(H, W, 3)`` (grey is replicated). ``None``: as stored.
    bit_depth
        If given (8 or 16), a file stored with another bit depth is refused (a model trained on 8-bit
        pictures must not be fed 16-bit ones, whose values mean something else).
    """
    from PIL import Image as PILImage

    p = Path(path)
    if not p.is_file():
        raise DataError(f"image file not found: {p}", where=str(p), fix="check the path")
    old_max = PILImage.MAX_IMAGE_PIXELS
    PILImage.MAX_IMAGE_PIXELS = None  # Pillow's bomb guard is replaced by our own, configurable limit
    try:
        pil = PILImage.open(p)  # lazy: parses the header only
        w, h = pil.size
        bands = len(pil.getbands())
        if w * h * bands > limits.max_pixels:
            raise DataError(f"image is {w}×{h} ({w * h * bands:,} samples), above the limit of "
                            f"{limits.max_pixels:,}", where=str(p),
                            fix="downsample it first or raise the limit (--max-pixels / ImageLimits)")
        arr, depth, mode = _decode(pil, p, bit_depth)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - UnidentifiedImageError, OSError, SyntaxError ...
        raise DataError(f"not a readable image file ({type(exc).__name__}: {exc})", where=str(p),
                        fix="check the file is a complete PNG/JPEG/TIFF") from None
    finally:
        PILImage.MAX_IMAGE_PIXELS = old_max
    meta: dict[str, object] = {"format": str(pil.format or p.suffix.lstrip(".").upper()), "mode": mode}
    channels = 3 if arr.ndim == 3 else 1
    if expect == "grayscale" and channels == 3:
        spread = _channel_spread(arr, 65535.0 if depth == 16 else 255.0)
        if spread > COLOUR_TOLERANCE:
            raise DataError(f"colour image (mean channel difference {spread:.1f} grey levels) where grayscale is "
                            "expected", where=str(p),
                            fix="pass a grayscale image, or use a model trained on RGB input")
        arr = to_grayscale(arr)
        channels = 1
        meta["converted"] = f"RGB→luminance (channel difference {spread:.2f})"
    elif expect == "rgb" and channels == 1:
        arr = np.repeat(arr[..., None], 3, axis=-1)
        channels = 3
        meta["converted"] = "grey replicated to RGB"
    return Image(array=arr, spacing=(1.0, 1.0), modality=str(meta["format"]), source=str(p), channels=channels,
                 bit_depth=depth, spacing_known=False, meta=meta)
