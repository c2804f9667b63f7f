"""The one image type of the imaging pillar.

Every reader (DICOM, NIfTI, PNG/JPEG/TIFF) returns an :class:`Image`: the pixel array plus the geometry
needed to put it back in the patient (spacing, affine, orientation) and the metadata a clinician asks for
(modality, window, photometric interpretation, source file). Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from medkit.core.config import StrictModel

__all__ = ["Image", "ImageLimits", "DEFAULT_LIMITS"]


class ImageLimits(StrictModel):
    """Limits checked from the file header *before* pixel data are decoded.

    A 30,000×30,000 image would need 900 MB as uint8 and 3.6 GB as float32; a hospital PACS export or a
    decompression bomb should be refused with a clear error, not kill the worker.

    Attributes
    ----------
    max_pixels
        Largest number of voxels (rows × columns × frames × samples) accepted; default 2**28 (≈ 268 M,
        e.g. 16,384² × 1). Configurable per call or via the CLI ``--max-pixels``.
    """

    max_pixels: int = 2**28


DEFAULT_LIMITS = ImageLimits()


@dataclass
class Image:
    """Pixel data with geometry and provenance.

    Attributes
    ----------
    array
        Spatial axes first, then an optional trailing channel axis: ``(H, W)`` or ``(H, W, C)`` for 2-D
        images, ``(D0, D1, D2)`` for volumes. For NIfTI the axes are the RAS voxel axes after reorientation;
        for a DICOM series they are ``(slice, row, column)``.
    spacing
        Physical size of one voxel along each spatial axis of ``array``, in millimetres (``1.0`` when the
        file gives no spacing, e.g. PNG; ``spacing_known`` is then ``False``).
    affine
        4×4 matrix mapping voxel indices (array order) to RAS world coordinates in mm, or ``None`` for
        plain 2-D pictures.
    orientation
        Axis codes of ``affine`` (e.g. ``("R", "A", "S")``), empty for plain pictures.
    modality
        DICOM Modality (``CT``, ``MR``, ...), ``"NIfTI"`` or the picture format (``"PNG"``).
    channels
        1 for grayscale, 3 for RGB.
    bit_depth
        Bits per sample as stored in the file (8 or 16 for pictures, BitsStored for DICOM).
    units
        ``"HU"`` after a CT modality LUT, otherwise ``"raw"``.
    window
        Default (center, width) from the file, if any.
    photometric
        DICOM PhotometricInterpretation (``MONOCHROME1`` means low values are *white*).
    source
        File or folder the image came from.
    meta
        Further non-identifying header fields (series description, slice count, corrections made).
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    modality: str
    source: str
    affine: np.ndarray | None = None
    orientation: tuple[str, ...] = ()
    channels: int = 1
    bit_depth: int = 8
    units: str = "raw"
    window: tuple[float, float] | None = None
    photometric: str = "MONOCHROME2"
    spacing_known: bool = True
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions (2 or 3)."""
        return self.array.ndim - (1 if self.channels > 1 else 0)

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape."""
        return tuple(self.array.shape[: self.ndim])

    def with_array(self, array: np.ndarray, **changes: Any) -> Image:
        """A copy holding ``array`` (same geometry unless overridden)."""
        return replace(self, array=array, meta=dict(self.meta), **changes)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description for ``medkit imaging info`` (no patient identifiers)."""
        arr = self.array
        out: dict[str, Any] = {
            "source": self.source,
            "modality": self.modality,
            "shape": list(self.shape),
            "channels": self.channels,
            "dtype": str(arr.dtype),
            "bit_depth": self.bit_depth,
            "spacing_mm": [round(float(s), 4) for s in self.spacing] if self.spacing_known else None,
            "orientation": "".join(self.orientation) or None,
            "units": self.units,
            "photometric": self.photometric,
            "window": list(self.window) if self.window else None,
            "min": float(np.min(arr)) if arr.size else None,
            "max": float(np.max(arr)) if arr.size else None,
        }
        out.update({k: v for k, v in self.meta.items() if isinstance(v, (str, int, float, bool, list))})
        return out
