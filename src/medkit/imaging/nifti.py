"""NIfTI reading: reoriented to RAS (nearest canonical axes), spacing in mm, size checked from the header."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medkit.core.errors import DataError
from medkit.imaging.image import DEFAULT_LIMITS, Image, ImageLimits

__all__ = ["read_nifti"]


def read_nifti(path: str | Path, *, limits: ImageLimits = DEFAULT_LIMITS) -> Image:
    """Read a ``.nii``/``.nii.gz`` file and reorient it to RAS.

    The data are flipped/permuted (never interpolated) so that array axes run Right, Anterior, Superior;
    ``affine`` is updated to match and ``spacing`` holds the voxel sizes in that order (mm).
    A singular affine (zero-length or collinear axes) cannot be reoriented and is refused.
    """
    from medkit.core.deps import require

    nib = require("nibabel", "imaging")
    p = Path(path)
    if not p.is_file():
        raise DataError(f"NIfTI file not found: {p}", where=str(p), fix="check the path")
    try:
        img = nib.load(str(p))
    except Exception as exc:  # noqa: BLE001 - nibabel raises several types for a bad header
        raise DataError(f"not a readable NIfTI file ({type(exc).__name__}: {exc})", where=str(p),
                        fix="check that the file is NIfTI-1/2 and complete") from None
    shape = tuple(int(s) for s in img.shape)
    n = int(np.prod(shape)) if shape else 0
    if n > limits.max_pixels:
        raise DataError(f"volume has {n:,} voxels {shape}, above the limit of {limits.max_pixels:,}", where=str(p),
                        fix="crop or downsample it first, or raise the limit (--max-pixels)")
    affine = np.asarray(img.affine, dtype=float)
    lin = affine[:3, :3]
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(lin)) < 1e-12 * max(1.0, float(np.abs(lin).max()) ** 3):
        raise DataError("NIfTI affine is not invertible (zero or collinear voxel axes), so orientation is unknown",
                        where=str(p), fix="repair the sform/qform (e.g. with nibabel or fslorient) before loading")
    try:
        canon = nib.as_closest_canonical(img)
        data = np.asanyarray(canon.dataobj)  # applies scl_slope/scl_inter
    except Exception as exc:  # noqa: BLE001 - truncated data raise EOFError/ValueError
        raise DataError(f"NIfTI data cannot be read ({type(exc).__name__}: {exc})", where=str(p),
                        fix="the file is probably truncated; copy it again") from None
    zooms = tuple(float(z) for z in canon.header.get_zooms()[:3])
    codes = tuple(str(c) for c in nib.orientations.aff2axcodes(canon.affine))
    return Image(array=data, spacing=zooms[: min(3, data.ndim)], modality="NIfTI", source=str(p),
                 affine=np.asarray(canon.affine, dtype=float), orientation=codes, channels=1,
                 bit_depth=int(np.dtype(data.dtype).itemsize * 8), units="raw",
                 meta={"original_orientation": "".join(nib.orientations.aff2axcodes(affine)),
                       "ndim": int(data.ndim)})
