"""One entry point: :func:`load_image` picks the reader from the path (DICOM file/series, NIfTI, picture)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from medkit.core.errors import DataError
from medkit.imaging.dicom import is_dicom, read_dicom, read_dicom_series
from medkit.imaging.image import DEFAULT_LIMITS, Image, ImageLimits
from medkit.imaging.nifti import read_nifti
from medkit.imaging.raster import read_raster

__all__ = ["PICTURE_SUFFIXES", "load_image", "image_kind"]

PICTURE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp"}


def image_kind(path: str | Path) -> str:
    """``"dicom-series"``, ``"dicom"``, ``"nifti"`` or ``"picture"``; raises for anything else."""
    p = Path(path)
    if p.is_dir():
        return "dicom-series"
    name = p.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if p.suffix.lower() in PICTURE_SUFFIXES:
        return "picture"
    if is_dicom(p):
        return "dicom"
    if not p.exists():
        raise DataError(f"file not found: {p}", where=str(p), fix="check the path")
    raise DataError(f"unknown image format '{p.suffix or p.name}'", where=str(p),
                    fix="pass DICOM (.dcm or a series folder), NIfTI (.nii/.nii.gz) or PNG/JPEG/TIFF")


def load_image(path: str | Path, *, limits: ImageLimits = DEFAULT_LIMITS,
               expect: Literal["grayscale", "rgb"] | None = None, bit_depth: int | None = None) -> Image:
    """Load any supported medical image. See :func:`read_dicom`, :func:`read_nifti`, :func:`read_raster`."""
    kind = image_kind(path)
    if kind == "dicom-series":
        img = read_dicom_series(path, limits=limits)
    elif kind == "dicom":
        img = read_dicom(path, limits=limits)
    elif kind == "nifti":
        img = read_nifti(path, limits=limits)
    else:
        return read_raster(path, limits=limits, expect=expect, bit_depth=bit_depth)
    if expect == "grayscale" and img.channels != 1:
        raise DataError(f"{img.modality} image has {img.channels} channels ({img.photometric}) where grayscale is "
                        "expected", where=str(path), fix="pass a grayscale image or a model trained on RGB")
    return img
