"""Host-side preprocessing: load + resize pictures for the classifier, normalise fundus images for the segmenter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medkit.core.errors import DataError
from medkit.imaging.image import DEFAULT_LIMITS, Image, ImageLimits
from medkit.imaging.io import load_image

__all__ = ["LoadedImages", "fundus_input", "load_resized", "resize_array"]


def resize_array(arr: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Antialiased resize of a ``(H, W)`` array to ``size`` (square if an int), float32, via Pillow."""
    from PIL import Image as PILImage

    hw = (size, size) if isinstance(size, int) else size
    im = PILImage.fromarray(np.asarray(arr, dtype=np.float32), mode="F")
    return np.asarray(im.resize((hw[1], hw[0]), PILImage.Resampling.BILINEAR, reducing_gap=2.0), dtype=np.float32)


@dataclass
class LoadedImages:
    """Resized images ``(N, S, S)`` float32 in stored units (0-255 for 8-bit) plus what was corrected."""

    array: np.ndarray
    sources: list[str]
    converted: dict[str, str] = field(default_factory=dict)


def _to_2d(img: Image) -> np.ndarray:
    a = np.asarray(img.array, dtype=np.float32)
    if img.ndim == 3:  # a volume or multi-frame file: take the middle slice
        a = a[a.shape[0] // 2]
    if a.ndim != 2:
        raise DataError(f"expected a grayscale 2-D image, got array {a.shape}", where=img.source,
                        fix="pass a grayscale picture or single-frame DICOM")
    return a


def load_resized(paths: Sequence[str | Path], size: int, *, limits: ImageLimits = DEFAULT_LIMITS,
                 bit_depth: int | None = 8) -> LoadedImages:
    """Load grayscale images and resize to ``size``×``size`` (aspect ratio not kept: Br35H slices are near-square).

    Near-grey RGB files are converted to luminance and listed in ``converted``; colour images, 16-bit files
    (when ``bit_depth=8``) and oversized files are refused with a :class:`DataError` naming the file.
    DICOM input is windowed with the file's own window (or min-max) to 0-255 so it matches 8-bit training data.
    """
    out = np.empty((len(paths), size, size), dtype=np.float32)
    converted: dict[str, str] = {}
    for i, p in enumerate(paths):
        img = load_image(p, limits=limits, expect="grayscale",
                         bit_depth=bit_depth if str(p).lower().endswith((".png", ".jpg", ".jpeg", ".tif", ".tiff",
                                                                         ".gif", ".bmp")) else None)
        a = _to_2d(img)
        if img.modality not in {"PNG", "JPEG", "TIFF", "GIF", "BMP", "MPO"}:
            from medkit.imaging.dicom import apply_window

            c, w = img.window or (float((a.max() + a.min()) / 2), float(max(a.max() - a.min(), 1.0)))
            a = apply_window(a, c, w, photometric=img.photometric) * 255.0
            converted[str(p)] = f"{img.modality} windowed (center {c:g}, width {w:g}) to 0-255"
        if "converted" in img.meta:
            converted[str(p)] = str(img.meta["converted"])
        out[i] = resize_array(a, size)
    return LoadedImages(out, [str(p) for p in paths], converted)


def fundus_input(image: np.ndarray, fov: np.ndarray | None = None, channels: str = "green") -> np.ndarray:
    """Fundus photograph ``(H, W, 3)`` uint8 → network input ``(C, H, W)`` float32, standardised inside the FOV.

    Per-image standardisation (mean 0, sd 1 over FOV pixels; outside the FOV the nearest FOV value) removes most of the brightness and contrast
    differences between cameras, which is what lets a DRIVE-trained model run on CHASE_DB1 unchanged.
    ``channels="green"`` keeps the green channel (highest vessel contrast), ``"rgb"`` all three.
    """
    if image.ndim != 3 or image.shape[-1] != 3:
        raise DataError(f"expected an RGB fundus image (H, W, 3), got {image.shape}", where="image",
                        fix="pass the colour photograph")
    a = image.astype(np.float32)
    a = a[..., 1:2] if channels == "green" else a
    m = fov if fov is not None else np.ones(a.shape[:2], dtype=bool)
    if not m.any():
        raise DataError("field-of-view mask is empty", where="fov", fix="check the FOV mask")
    mu = a[m].mean(axis=0)
    sd = a[m].std(axis=0) + 1e-6
    z = (a - mu) / sd
    if not m.all():
        # Outside the FOV, copy the nearest FOV pixel: a hard dark rim would look like a vessel edge to the
        # network and produce false positives all around the FOV border.
        from scipy import ndimage

        idx = ndimage.distance_transform_edt(~m, return_distances=False, return_indices=True)
        z = z[idx[0], idx[1]]
    return np.ascontiguousarray(z.transpose(2, 0, 1), dtype=np.float32)  # (C, H, W)
