"""Compressed DICOM (JPEG-LS, JPEG 2000, lossless JPEG, RLE) decoded through the pylibjpeg plugins.

Reference: pydicom bundles the same MR slice and the same RGB test card stored uncompressed (or RLE) and in
compressed transfer syntaxes, so lossless decoders must reproduce the uncompressed pixels exactly and
near-lossless JPEG-LS must stay within its NEAR bound.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from medkit.core.errors import DataError
from medkit.imaging.io import load_image

pytest.importorskip("pylibjpeg")
pytest.importorskip("libjpeg")  # pylibjpeg-libjpeg: JPEG, JPEG-LS
pytest.importorskip("openjpeg")  # pylibjpeg-openjpeg: JPEG 2000


@pytest.mark.parametrize(("name", "syntax"), [
    ("MR_small_jpeg_ls_lossless.dcm", "1.2.840.10008.1.2.4.80"),  # JPEG-LS lossless
    ("MR_small_jp2klossless.dcm", "1.2.840.10008.1.2.4.90"),  # JPEG 2000 lossless only
    ("MR_small_RLE.dcm", "1.2.840.10008.1.2.5"),  # RLE lossless
])
def test_lossless_mr_equals_uncompressed(pydicom_files: Path, name: str, syntax: str) -> None:
    ds = pydicom.dcmread(pydicom_files / name, stop_before_pixels=True)
    assert ds.file_meta.TransferSyntaxUID == syntax
    ref = load_image(pydicom_files / "MR_small.dcm")
    img = load_image(pydicom_files / name)
    assert img.array.shape == ref.array.shape == (64, 64)
    np.testing.assert_array_equal(img.array, ref.array)
    assert img.spacing == ref.spacing


@pytest.mark.parametrize(("name", "max_err"), [
    ("SC_rgb_jpeg_gdcm.dcm", 0),  # JPEG lossless (process 14, SV1)
    ("SC_rgb_gdcm_KY.dcm", 0),  # JPEG 2000 (reversible)
    ("SC_rgb_jls_lossy_line.dcm", 2),  # JPEG-LS near-lossless, NEAR=2, line interleaved
    ("SC_rgb_jls_lossy_sample.dcm", 2),  # JPEG-LS near-lossless, NEAR=2, sample interleaved
])
def test_rgb_codecs_against_rle_reference(pydicom_files: Path, name: str, max_err: int) -> None:
    ref = load_image(pydicom_files / "SC_rgb_rle.dcm").array.astype(np.int32)
    got = load_image(pydicom_files / name).array.astype(np.int32)
    assert got.shape == ref.shape == (100, 100, 3)
    err = np.abs(got - ref)
    assert err.max() <= max_err
    if max_err:  # near-lossless really is lossy here, so the test would notice a decoder returning the reference
        assert err.max() == max_err


def test_jpeg2000_lossy_ct_has_plausible_hu(pydicom_files: Path) -> None:
    img = load_image(pydicom_files / "693_J2KI.dcm")  # irreversible JPEG 2000 CT slice
    assert img.array.shape == (512, 512) and img.modality == "CT"
    # Air outside the body near -1000 HU and soft tissue in the middle: the modality LUT ran after decoding.
    assert img.array.min() < -900 and -200 < float(np.median(img.array[200:300, 200:300])) < 200


def test_jpeg_ls_near_lossless_16_bit(pydicom_files: Path) -> None:
    ds = pydicom.dcmread(pydicom_files / "JPEGLSNearLossless_16.dcm")
    img = load_image(pydicom_files / "JPEGLSNearLossless_16.dcm")
    assert ds.BitsStored == 16 and img.array.shape == (50, 10)
    np.testing.assert_array_equal(img.array, ds.pixel_array.astype(np.float32))
    assert img.array.max() == 65535  # 16-bit range kept, no 8-bit truncation


@pytest.mark.parametrize("name", ["JPEG-lossy.dcm", "JPEG2000-embedded-sequence-delimiter.dcm"])
def test_undecodable_stream_is_a_data_error_not_a_missing_plugin(pydicom_files: Path, name: str) -> None:
    # Both plugins are installed and both refuse these streams (a 12-bit lossy JPEG with a non-standard scan
    # header; a J2K stream with a stray delimiter), so telling the user to install decoders would be wrong.
    with pytest.raises(DataError, match="cannot decode the compressed DICOM") as exc:
        load_image(pydicom_files / name)
    assert exc.value.where == str(pydicom_files / name)
    assert "re-export" in (exc.value.fix or "")
