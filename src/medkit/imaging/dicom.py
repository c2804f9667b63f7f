"""DICOM reading: single files (incl. multi-frame) and series folders, modality LUT → HU, windowing.

Design choices
--------------
* Headers are read first with ``stop_before_pixels`` so that size limits and missing pixel data are caught
  before anything large is decoded.
* The modality LUT (``RescaleSlope``/``RescaleIntercept``) is applied in float32; the result is in Hounsfield
  units for CT (``Image.units == "HU"``).
* Windowing follows the DICOM linear VOI function (PS3.3 C.11.2.1.2.1). ``MONOCHROME1`` images are inverted
  *after* windowing, for display only: the HU array keeps its physical meaning.
* A series is sorted by the position of each slice along the slice normal (ImagePositionPatient ·
  (row × column direction)), not by file name or InstanceNumber, which scanners do not guarantee.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medkit.core.errors import DataError, MissingDependencyError
from medkit.imaging.image import DEFAULT_LIMITS, Image, ImageLimits

__all__ = ["WINDOW_PRESETS", "apply_window", "read_dicom", "read_dicom_series", "is_dicom"]

#: (center, width) in HU. Sources: common radiology presets (e.g. Radiopaedia "Windowing (CT)").
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "stroke": (40.0, 40.0),
    "soft_tissue": (50.0, 400.0),
    "mediastinum": (50.0, 350.0),
    "liver": (30.0, 150.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}


def is_dicom(path: str | Path) -> bool:
    """True if the file has the DICOM preamble magic ``DICM`` at byte 128 or a ``.dcm`` suffix."""
    p = Path(path)
    if p.suffix.lower() in {".dcm", ".dicom"}:
        return True
    try:
        with p.open("rb") as fh:
            head = fh.read(132)
        return len(head) == 132 and head[128:132] == b"DICM"
    except OSError:
        return False


def _pydicom() -> Any:
    from medkit.core.deps import require

    return require("pydicom", "imaging")


def _read_header(path: Path) -> Any:
    pydicom = _pydicom()
    if not path.is_file():
        raise DataError(f"DICOM file not found: {path}", where=str(path), fix="check the path")
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except pydicom.errors.InvalidDicomError as exc:
        # Old files without the 128-byte preamble are still DICOM; accept them if they carry image tags.
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            if "SOPClassUID" in ds or "Rows" in ds:
                return ds
        except Exception:  # noqa: BLE001
            pass
        err: Exception = exc
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for a bad file
        err = exc
    raise DataError(f"not a readable DICOM file ({type(err).__name__}: {err})", where=str(path),
                    fix="check that the file is DICOM and was copied completely (re-export it from PACS)")


def _check_header(ds: Any, path: Path, limits: ImageLimits) -> None:
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        # stop_before_pixels hides PixelData; the tag is still listed in the file, so probe for it cheaply.
        if not _has_pixel_tag(path):
            sop = str(ds.get("Modality", ds.get("SOPClassUID", "unknown")))
            raise DataError(f"DICOM file has no pixel data (modality/class {sop}; e.g. a report, plan or structure "
                            "set)", where=str(path), fix="pass an image object (CT, MR, CR, DX, US, ...)")
    try:
        rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        frames, samples = int(ds.get("NumberOfFrames", 1) or 1), int(ds.get("SamplesPerPixel", 1) or 1)
    except (TypeError, ValueError) as exc:
        raise DataError(f"DICOM image size fields are invalid ({exc})", where=str(path),
                        fix="the header is damaged; re-export the file") from None
    if rows <= 0 or cols <= 0:
        raise DataError(f"DICOM header gives an image size of {rows}×{cols}", where=str(path),
                        fix="the file is damaged or not an image object; re-export it")
    n = rows * cols * frames * samples
    if n > limits.max_pixels:
        raise DataError(f"image has {n:,} samples ({rows}×{cols}), above the limit of {limits.max_pixels:,}",
                        where=str(path), fix="downsample it first or raise the limit (--max-pixels / ImageLimits)")


def _has_pixel_tag(path: Path) -> bool:
    pydicom = _pydicom()
    try:
        ds = pydicom.dcmread(path, specific_tags=["PixelData", "FloatPixelData", "DoubleFloatPixelData"])
    except Exception:  # noqa: BLE001
        return False
    return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))


def _decode(path: Path) -> tuple[Any, np.ndarray]:
    pydicom = _pydicom()
    try:
        ds = pydicom.dcmread(path, force=True)
        arr = ds.pixel_array
    except (RuntimeError, NotImplementedError) as exc:
        msg = str(exc)
        if "missing dependencies" in msg:
            raise MissingDependencyError(f"no decoder for this DICOM transfer syntax ({exc})", where=str(path),
                                         fix="pip install 'medkit[imaging]' (pylibjpeg, pylibjpeg-libjpeg, "
                                             "pylibjpeg-openjpeg)") from None
        # Decoders are installed but every one of them failed: the compressed stream itself is malformed or uses
        # a variant they do not implement (e.g. 12-bit lossy JPEG with a non-standard scan header).
        why = " ".join(x.strip() for x in msg.splitlines())[:400]
        raise DataError(f"cannot decode the compressed DICOM pixel data ({why})",
                        where=str(path), fix="re-export the image uncompressed (e.g. dcmdjpeg / gdcmconv --raw) "
                                             "or with a standard codec") from None
    except Exception as exc:  # noqa: BLE001 - truncated data raises ValueError, others vary
        raise DataError(f"DICOM pixel data are corrupt or truncated ({exc})", where=str(path),
                        fix="the file was probably cut short in transfer; copy or export it again") from None
    return ds, arr


def modality_lut(arr: np.ndarray, ds: Any) -> tuple[np.ndarray, str]:
    """Apply RescaleSlope/Intercept (float32). Returns (array, units) with units ``HU`` for CT."""
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    out = arr.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    return out, ("HU" if str(ds.get("Modality", "")) == "CT" else "raw")


def apply_window(values: np.ndarray, center: float, width: float, *, photometric: str = "MONOCHROME2") -> np.ndarray:
    """DICOM linear window/level mapped to ``[0, 1]``; ``MONOCHROME1`` is inverted for display.

    Parameters
    ----------
    values
        Any shape; HU for CT.
    center, width
        Window center and width in the units of ``values`` (``width >= 1``), or use :data:`WINDOW_PRESETS`.
    """
    if width < 1:
        raise DataError(f"window width must be >= 1, got {width}", where="window", fix="use e.g. 'brain' (40, 80)")
    x = np.asarray(values, dtype=np.float64)
    lo = center - 0.5 - (width - 1) / 2
    hi = center - 0.5 + (width - 1) / 2
    out = ((x - (center - 0.5)) / (width - 1) + 0.5)
    out = np.where(x <= lo, 0.0, np.where(x > hi, 1.0, out))
    if photometric == "MONOCHROME1":
        out = 1.0 - out
    return out.astype(np.float32)


def _window_of(ds: Any) -> tuple[float, float] | None:
    c, w = ds.get("WindowCenter"), ds.get("WindowWidth")
    if c is None or w is None:
        return None
    # Multi-valued windows: the first is the scanner's primary suggestion.
    c = c[0] if hasattr(c, "__len__") and not isinstance(c, str) else c
    w = w[0] if hasattr(w, "__len__") and not isinstance(w, str) else w
    return float(c), float(w)


def _pixel_spacing(ds: Any) -> tuple[tuple[float, float], bool]:
    for key in ("PixelSpacing", "ImagerPixelSpacing"):
        if key in ds and ds.get(key):
            ps = ds.get(key)
            return (float(ps[0]), float(ps[1])), True
    # Enhanced multi-frame objects keep spacing in the shared functional groups.
    try:
        ps = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
        return (float(ps[0]), float(ps[1])), True
    except (AttributeError, IndexError, KeyError):
        return (1.0, 1.0), False


def _lps_to_ras_affine(origin: np.ndarray, row_dir: np.ndarray, col_dir: np.ndarray, normal: np.ndarray,
                       spacing: tuple[float, float, float]) -> np.ndarray:
    # Voxel (k, i, j) = (slice, row, column); DICOM row_dir points along columns index j, col_dir along i.
    lps = np.eye(4)
    lps[:3, 0] = normal * spacing[0]
    lps[:3, 1] = col_dir * spacing[1]
    lps[:3, 2] = row_dir * spacing[2]
    lps[:3, 3] = origin
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps  # LPS → RAS


def _axcodes(affine: np.ndarray) -> tuple[str, ...]:
    try:
        import nibabel as nib

        return tuple(str(c) for c in nib.orientations.aff2axcodes(affine))
    except Exception:  # noqa: BLE001 - orientation is informative only
        return ()


def read_dicom(path: str | Path, *, limits: ImageLimits = DEFAULT_LIMITS, rescale: bool = True) -> Image:
    """Read one DICOM file (single- or multi-frame).

    Returns
    -------
    Image
        ``array`` is ``(H, W)`` or ``(frames, H, W)`` (``(..., 3)`` for RGB); float32 after the modality
        LUT when ``rescale`` (HU for CT), else the stored integers.
    """
    p = Path(path)
    header = _read_header(p)
    _check_header(header, p, limits)
    ds, arr = _decode(p)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    channels = int(ds.get("SamplesPerPixel", 1) or 1)
    tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    meta: dict[str, Any] = {"frames": int(ds.get("NumberOfFrames", 1) or 1),
                            "transfer_syntax": str(tsyntax.name) if tsyntax is not None else "",
                            "series_description": str(ds.get("SeriesDescription", ""))}
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        arr = apply_color_lut(arr, ds)
        arr = (arr >> 8).astype(np.uint8) if arr.dtype == np.uint16 else arr
        channels, photometric = 3, "RGB"
        meta["converted"] = "palette colour expanded to RGB"
    elif photometric.startswith("YBR") and channels == 3:
        photometric = "RGB"  # pydicom 3 converts YBR to RGB in pixel_array by default
    units = "raw"
    if rescale and channels == 1:
        arr, units = modality_lut(arr, ds)
    (r_sp, c_sp), known = _pixel_spacing(ds)
    spacing: tuple[float, ...] = (r_sp, c_sp)
    if meta["frames"] > 1:
        thick = float(ds.get("SpacingBetweenSlices", ds.get("SliceThickness", 1.0)) or 1.0)
        spacing = (thick, r_sp, c_sp)
    return Image(array=arr, spacing=spacing, modality=str(ds.get("Modality", "OT")), source=str(p),
                 channels=channels, bit_depth=int(ds.get("BitsStored", 8) or 8), units=units,
                 window=_window_of(ds), photometric=photometric, spacing_known=known, meta=meta)


def read_dicom_series(folder: str | Path, *, limits: ImageLimits = DEFAULT_LIMITS, series_uid: str | None = None,
                      gap_tolerance: float = 1.5) -> Image:
    """Read a folder of single-frame DICOM slices as one ``(slices, rows, columns)`` volume.

    Slices are sorted along the slice normal. Refused with :class:`DataError` (naming the file): files of
    several series (unless ``series_uid``), mixed image sizes or orientations, duplicate positions and
    missing slices (a gap larger than ``gap_tolerance`` × the median spacing).
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"not a folder: {root}", where=str(root), fix="pass the folder holding the series' files")
    files = sorted(f for f in root.iterdir() if f.is_file() and not f.name.startswith("."))
    headers = [(f, _read_header(f)) for f in files]
    if not headers:
        raise DataError("folder holds no DICOM files", where=str(root), fix="pass a folder of .dcm files")
    uids = sorted({str(h.get("SeriesInstanceUID", "")) for _, h in headers})
    if series_uid is not None:
        headers = [(f, h) for f, h in headers if str(h.get("SeriesInstanceUID", "")) == series_uid]
        if not headers:
            raise DataError(f"no file of series {series_uid}", where=str(root), fix=f"choose one of {uids}")
    elif len(uids) > 1:
        raise DataError(f"folder mixes {len(uids)} series", where=str(root),
                        fix=f"pass series_uid= (--series) with one of {uids}")
    f0, h0 = headers[0]
    size0 = (int(h0.get("Rows", 0)), int(h0.get("Columns", 0)))
    iop0 = np.asarray(h0.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0]), dtype=float)
    for f, h in headers:
        _check_header(h, f, limits)
        size = (int(h.get("Rows", 0)), int(h.get("Columns", 0)))
        if size != size0:
            raise DataError(f"slice size {size[0]}×{size[1]} differs from {size0[0]}×{size0[1]} of {f0.name}",
                            where=str(f), fix="a series must have one image size; remove the odd file")
        iop = np.asarray(h.get("ImageOrientationPatient", iop0), dtype=float)
        if not np.allclose(iop, iop0, atol=1e-4):
            raise DataError("slice orientation differs from the rest of the series", where=str(f),
                            fix="remove localiser/scout images from the folder")
    total = size0[0] * size0[1] * len(headers)
    if total > limits.max_pixels:
        raise DataError(f"series has {total:,} voxels, above the limit of {limits.max_pixels:,}", where=str(root),
                        fix="raise the limit (--max-pixels) or crop the series")
    row_dir, col_dir = iop0[:3], iop0[3:]
    normal = np.cross(row_dir, col_dir)
    if all("ImagePositionPatient" in h for _, h in headers):
        pos = np.array([float(np.dot(normal, np.asarray(h.ImagePositionPatient, float))) for _, h in headers])
    else:
        pos = np.array([float(h.get("InstanceNumber", i)) for i, (_, h) in enumerate(headers)])
    order = np.argsort(pos, kind="stable")
    pos = pos[order]
    headers = [headers[i] for i in order]
    d = np.diff(pos)
    if len(d):
        dup = np.flatnonzero(np.abs(d) < 1e-3)
        if len(dup):
            raise DataError(f"two slices share position {pos[dup[0]]:.2f} mm", where=str(headers[dup[0] + 1][0]),
                            fix="remove the duplicate file (or split the folder by acquisition)")
        med = float(np.median(d))
        gaps = np.flatnonzero(d > gap_tolerance * med)
        if len(gaps):
            g = gaps[0]
            missing = int(round(d[g] / med)) - 1
            raise DataError(f"about {missing} slice(s) missing between {pos[g]:.2f} and {pos[g + 1]:.2f} mm "
                            f"(spacing {med:.2f} mm)", where=f"{headers[g][0]} .. {headers[g + 1][0].name}",
                            fix="re-export the complete series from PACS")
    slice_sp = float(np.median(d)) if len(d) else float(h0.get("SliceThickness", 1.0) or 1.0)
    slices = [read_dicom(f, limits=limits) for f, _ in headers]
    vol = np.stack([s.array for s in slices])  # (Z, H, W)
    (r_sp, c_sp), known = _pixel_spacing(h0)
    origin = np.asarray(headers[0][1].get("ImagePositionPatient", [0, 0, 0]), dtype=float)
    affine = _lps_to_ras_affine(origin, row_dir, col_dir, normal, (slice_sp, r_sp, c_sp))
    first = slices[0]
    return Image(array=vol, spacing=(slice_sp, r_sp, c_sp), modality=first.modality, source=str(root),
                 affine=affine, orientation=_axcodes(affine), channels=1, bit_depth=first.bit_depth,
                 units=first.units, window=first.window, photometric=first.photometric, spacing_known=known,
                 meta={"slices": len(slices), "series_description": first.meta.get("series_description", ""),
                       "files_in_order": [f.name for f, _ in headers]})
