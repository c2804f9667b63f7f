"""Upload checks and safe storage. The type comes from the file's content (magic bytes), never from its name, and
the stored file gets a generated name, so ``../`` or absolute paths in a client's file name go nowhere."""

from __future__ import annotations

import gzip
import io
import struct
import uuid
from pathlib import Path

from medkit.serve.errors import UnsupportedMedia


def sniff_image(data: bytes) -> str:
    """``png``, ``jpeg``, ``tiff``, ``dicom`` or ``nifti`` from the first bytes; :class:`UnsupportedMedia` otherwise."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    head = data[:352]
    if data.startswith(b"\x1f\x8b"):
        try:
            head = gzip.GzipFile(fileobj=io.BytesIO(data)).read(352)
        except (OSError, EOFError):
            head = b""
    if len(head) >= 348 and (struct.unpack("<i", head[:4])[0] == 348 or struct.unpack(">i", head[:4])[0] == 348):
        if head[344:347] in (b"n+1", b"ni1"):
            return "nifti"
    raise UnsupportedMedia("the uploaded file is not a PNG, JPEG, TIFF, DICOM or NIfTI image", where="file",
                           fix="upload a .png/.jpg/.tif, a DICOM file (with its 128-byte preamble) or a .nii/.nii.gz")


def decode_csv(data: bytes) -> str:
    """The text of an uploaded CSV; refuses binary files and non-UTF-8 text."""
    if b"\x00" in data[:8192]:
        raise UnsupportedMedia("the uploaded file is binary, not a CSV table", where="file",
                               fix="upload a comma-separated text file with a header row")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedMedia(f"the uploaded CSV is not UTF-8 text (byte {exc.start})", where="file",
                               fix="save the table as CSV UTF-8") from None


_SUFFIX = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif", "dicom": ".dcm", "nifti": ".nii.gz", "csv": ".csv"}


def safe_name(data: bytes, kind: str) -> str:
    """A generated file name with the suffix of the sniffed type: what the imaging readers see instead of the
    client's name (which may hold ``../``, an absolute path or a patient's name)."""
    suffix = _SUFFIX[kind]
    if kind == "nifti" and not data.startswith(b"\x1f\x8b"):
        suffix = ".nii"
    return f"upload{suffix}"


def store(upload_dir: Path, data: bytes, kind: str) -> Path:
    """Write ``data`` under a generated name inside ``upload_dir`` and return the path."""
    upload_dir.mkdir(parents=True, exist_ok=True)
    suffix = _SUFFIX[kind]
    if kind == "nifti" and not data.startswith(b"\x1f\x8b"):
        suffix = ".nii"
    path = upload_dir / f"{uuid.uuid4().hex}{suffix}"
    with open(path, "xb") as fh:  # "x": never overwrite
        fh.write(data)
    return path
