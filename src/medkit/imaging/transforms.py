"""Geometry and intensity transforms on :class:`Image`: resampling to a spacing, per-modality normalisation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medkit.core.errors import DataError
from medkit.imaging.dicom import WINDOW_PRESETS, apply_window
from medkit.imaging.image import Image

__all__ = ["normalise", "resample"]


def resample(img: Image, spacing: Sequence[float], *, order: int = 1) -> Image:
    """Resample to ``spacing`` (mm per spatial axis) with spline ``order`` (0 = nearest, for label maps).

    The first and last voxel centres keep their world positions; ``spacing`` holds the realised spacing
    (within half a voxel per axis of the requested one, since the grid has an integer size).
    Images without a known spacing (plain pictures) are refused: resampling them would invent a scale.
    """
    from scipy import ndimage

    if not img.spacing_known:
        raise DataError("image has no physical spacing (a plain picture)", where=img.source,
                        fix="resize pictures by pixels (medkit.imaging.prep.resize_array) instead")
    if len(spacing) != img.ndim or any(s <= 0 for s in spacing):
        raise DataError(f"target spacing {tuple(spacing)} must have {img.ndim} positive values", where="spacing",
                        fix="pass one spacing in mm per spatial axis")
    factors = [o / n for o, n in zip(img.spacing, spacing, strict=True)]
    zoom = factors + ([1.0] if img.channels > 1 else [])
    arr = ndimage.zoom(np.asarray(img.array, dtype=np.float32 if order else img.array.dtype), zoom, order=order,
                       mode="nearest", grid_mode=False)
    # zoom(grid_mode=False) aligns the first and last voxel centres, so the realised spacing is
    # old * (n_old - 1) / (n_new - 1): record that, not the requested value.
    ratio = [(o - 1) / max(n - 1, 1) for o, n in zip(img.shape, arr.shape[: img.ndim], strict=True)]
    eff = tuple(float(s * r) for s, r in zip(img.spacing, ratio, strict=True))
    affine = None
    if img.affine is not None:
        affine = img.affine.copy()
        for k, r in enumerate(ratio[:3]):
            affine[:3, k] = affine[:3, k] * r
    out = img.with_array(arr, spacing=eff, affine=affine)
    out.meta["resampled_from"] = [float(s) for s in img.spacing]
    return out


def normalise(img: Image, *, window: str | tuple[float, float] | None = None) -> Image:
    """Intensity normalisation by modality, to float32.

    * CT (HU): the given window (preset name or (center, width)), default ``soft_tissue``, mapped to [0, 1].
    * MR / NIfTI / other scanners: z-score over foreground voxels (> 1st percentile), because MR intensities
      have no physical unit and vary between scanners and sequences.
    * Pictures: divided by the maximum of the bit depth (255 or 65535).
    """
    a = np.asarray(img.array, dtype=np.float32)
    if img.units == "HU":
        c, w = WINDOW_PRESETS[window] if isinstance(window, str) else (window or WINDOW_PRESETS["soft_tissue"])
        out, how = apply_window(a, c, w), f"CT window center {c:g} width {w:g}"
    elif img.modality in {"PNG", "JPEG", "TIFF", "GIF", "BMP", "MPO"}:
        out, how = a / (65535.0 if img.bit_depth == 16 else 255.0), "divided by the bit-depth maximum"
    else:
        fg = a > np.percentile(a, 1)
        if not fg.any():
            raise DataError("image is constant; cannot standardise", where=img.source, fix="check the file")
        mu, sd = float(a[fg].mean()), float(a[fg].std()) + 1e-6
        out, how = (a - mu) / sd, "z-score over foreground voxels"
    res = img.with_array(out.astype(np.float32), units="normalised")
    res.meta["normalisation"] = how
    return res
