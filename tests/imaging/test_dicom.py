"""DICOM: HU and windowing against pydicom, multi-frame, series sorting, and every bad input of issue 6."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from medkit.core.errors import DataError, MedkitError
from medkit.imaging.dicom import WINDOW_PRESETS, apply_window, read_dicom, read_dicom_series
from medkit.imaging.image import ImageLimits
from medkit.imaging.io import load_image


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_modality_lut_matches_pydicom(pydicom_files: Path, name: str) -> None:
    ds = pydicom.dcmread(pydicom_files / name)
    ref = apply_modality_lut(ds.pixel_array, ds)
    img = read_dicom(pydicom_files / name)
    np.testing.assert_allclose(img.array, ref, rtol=0, atol=1e-4)
    assert img.units == ("HU" if ds.Modality == "CT" else "raw")


def test_ct_hu_values_are_plausible(pydicom_files: Path) -> None:
    img = read_dicom(pydicom_files / "CT_small.dcm")
    # CT_small: slope 1, intercept -1024 (pydicom test data); tissue sits between air (-1000) and bone.
    assert img.array.min() >= -1024 and img.array.max() <= 3071
    assert img.spacing == pytest.approx((0.661468, 0.661468), abs=1e-5)


@pytest.mark.parametrize("preset", ["brain", "lung", "bone", "soft_tissue"])
def test_window_matches_pydicom_voi(pydicom_files: Path, preset: str) -> None:
    ds = pydicom.dcmread(pydicom_files / "CT_small.dcm")
    hu = apply_modality_lut(ds.pixel_array, ds)
    c, w = WINDOW_PRESETS[preset]
    ds.WindowCenter, ds.WindowWidth = c, w
    ref = apply_voi_lut(hu, ds, prefer_lut=False).astype(float)  # pydicom maps to its own output range
    ours = apply_window(hu, c, w).astype(float)
    # Same linear DICOM window function up to the output range: ref = a * ours + b exactly.
    a, b = np.polyfit(ours.ravel(), ref.ravel(), 1)
    np.testing.assert_allclose(a * ours + b, ref, atol=1e-3 * max(1.0, abs(a)))
    assert ours.min() >= 0 and ours.max() <= 1


def test_monochrome1_is_inverted_for_display() -> None:
    x = np.array([-100.0, 40.0, 200.0])
    np.testing.assert_allclose(apply_window(x, 40, 80, photometric="MONOCHROME1"), 1 - apply_window(x, 40, 80))


def test_multiframe_and_colour(pydicom_files: Path) -> None:
    dose = read_dicom(pydicom_files / "rtdose.dcm")
    assert dose.array.shape == (15, 10, 10) and dose.meta["frames"] == 15
    rgb = read_dicom(pydicom_files / "SC_rgb_rle_2frame.dcm")
    assert rgb.array.shape == (2, 100, 100, 3) and rgb.channels == 3
    pal = read_dicom(pydicom_files / "examples_palette.dcm")
    assert pal.array.shape == (350, 800, 3) and pal.photometric == "RGB"


def test_every_bundled_file_loads_or_gives_a_medkit_error(pydicom_files: Path) -> None:
    ok = 0
    for f in sorted(pydicom_files.glob("*.dcm")):
        try:
            load_image(f)
            ok += 1
        except MedkitError as exc:
            assert exc.where and exc.fix, f.name
    # pydicom 3.0.2 ships 79 .dcm files: 58 decode with pylibjpeg (JPEG-LS, JPEG 2000, lossless JPEG), 50 without;
    # the rest hold no image (SR, RTPLAN, ECG ...) or are deliberately broken.
    import importlib.util

    assert ok >= (58 if importlib.util.find_spec("openjpeg") and importlib.util.find_spec("libjpeg") else 50)


def _series(src: Path, folder: Path, positions: list[float], rows: int | None = None) -> list[Path]:
    folder.mkdir()
    out = []
    rng = np.random.default_rng(0)
    for k, z in enumerate(positions):
        ds = pydicom.dcmread(src)
        ds.ImagePositionPatient = [0.0, 0.0, float(z)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.InstanceNumber = int(rng.integers(1000))  # scrambled: sorting must use positions
        ds.SeriesInstanceUID = "1.2.3"
        arr = ds.pixel_array.copy()
        arr[:] = k  # slice k holds value k (raw), so the order is visible
        if rows is not None and k == 1:
            arr = arr[:rows]
            ds.Rows = rows
        ds.PixelData = arr.tobytes()
        name = folder / f"f{rng.integers(10**6):07d}.dcm"
        ds.save_as(name)
        out.append(name)
    return out


def test_series_sorted_by_position(tmp_path: Path, pydicom_files: Path) -> None:
    positions = [5.0, -2.5, 0.0, 2.5, 7.5, -5.0]
    _series(pydicom_files / "CT_small.dcm", tmp_path / "s", positions)
    vol = read_dicom_series(tmp_path / "s")
    assert vol.array.shape == (6, 128, 128)
    # Slice order by z: -5, -2.5, 0, 2.5, 5, 7.5 -> raw values 5, 1, 2, 3, 0, 4 (+ intercept -1024).
    np.testing.assert_array_equal(vol.array[:, 0, 0] + 1024, [5, 1, 2, 3, 0, 4])
    assert vol.spacing[0] == pytest.approx(2.5)
    assert vol.orientation == ("S", "P", "L")  # slice normal +z = S; DICOM rows run P, columns L
    np.testing.assert_allclose(vol.affine[:3, 3], [0, 0, -5.0])


def test_series_with_missing_slice_is_refused(tmp_path: Path, pydicom_files: Path) -> None:
    _series(pydicom_files / "CT_small.dcm", tmp_path / "s", [0.0, 2.5, 5.0, 10.0, 12.5])
    with pytest.raises(DataError, match="missing") as e:
        read_dicom_series(tmp_path / "s")
    assert ".dcm" in str(e.value.where)


def test_series_with_mixed_sizes_is_refused(tmp_path: Path, pydicom_files: Path) -> None:
    files = _series(pydicom_files / "CT_small.dcm", tmp_path / "s", [0.0, 2.5, 5.0], rows=64)
    with pytest.raises(DataError, match="differs") as e:
        read_dicom_series(tmp_path / "s")
    assert str(e.value.where) in {str(f) for f in files}


def test_truncated_dicom(tmp_path: Path, pydicom_files: Path) -> None:
    with pytest.raises(DataError, match="truncated") as e:
        read_dicom(pydicom_files / "MR_truncated.dcm")
    assert "MR_truncated.dcm" in str(e.value)
    cut = tmp_path / "cut.dcm"
    data = (pydicom_files / "CT_small.dcm").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.dcm"):
        read_dicom(cut)


def test_corrupt_dicom(tmp_path: Path) -> None:
    bad = tmp_path / "noise.dcm"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DataError, match="noise.dcm"):
        load_image(bad)


def test_dicom_without_pixel_data(pydicom_files: Path) -> None:
    with pytest.raises(DataError, match="no pixel data") as e:
        read_dicom(pydicom_files / "rtplan.dcm")
    assert "rtplan.dcm" in str(e.value.where)


def test_size_limit_checked_before_decoding(pydicom_files: Path, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    import medkit.imaging.dicom as mod

    def boom(_p: Path) -> None:
        raise AssertionError("pixel data were decoded")

    monkeypatch.setattr(mod, "_decode", boom)
    with pytest.raises(DataError, match="above the limit"):
        read_dicom(pydicom_files / "CT_small.dcm", limits=ImageLimits(max_pixels=128 * 127))
    shutil.copy(pydicom_files / "CT_small.dcm", tmp_path / "a.dcm")
    with pytest.raises(DataError, match="a.dcm"):
        load_image(tmp_path / "a.dcm", limits=ImageLimits(max_pixels=100))
