"""medkit.imaging: read DICOM/NIfTI/PNG, classify and segment medical images, explain and export them.

See docs/imaging.md. Heavy submodules (torch, MONAI) load on first use, so ``import medkit.imaging`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Image": "medkit.imaging.image",
    "ImageLimits": "medkit.imaging.image",
    "load_image": "medkit.imaging.io",
    "read_dicom": "medkit.imaging.dicom",
    "read_dicom_series": "medkit.imaging.dicom",
    "apply_window": "medkit.imaging.dicom",
    "WINDOW_PRESETS": "medkit.imaging.dicom",
    "read_nifti": "medkit.imaging.nifti",
    "read_raster": "medkit.imaging.raster",
    "ImageClassifier": "medkit.imaging.classifier",
    "UNetSegmenter": "medkit.imaging.segmenter",
    "load_predictor": "medkit.imaging.serving",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'medkit.imaging' has no attribute {name!r}")
