"""Resampling keeps world geometry; per-modality normalisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medkit.core.errors import DataError
from medkit.imaging.dicom import apply_window, read_dicom
from medkit.imaging.nifti import read_nifti
from medkit.imaging.raster import read_raster
from medkit.imaging.transforms import normalise, resample


def test_resample_halves_the_grid_and_keeps_world_positions(nibabel_data: Path) -> None:
    img = read_nifti(nibabel_data / "anatomical.nii")  # (33, 41, 25) at 2 mm
    out = resample(img, (4.0, 4.0, 4.0))
    assert out.array.shape == (16, 20, 12) and out.spacing == pytest.approx((4.0, 4.0, 4.0), rel=0.1)
    np.testing.assert_allclose(np.linalg.norm(out.affine[:3, :3], axis=0), out.spacing)

    def world(aff: np.ndarray, idx: tuple[int, ...]) -> np.ndarray:
        return (aff @ np.array([*idx, 1.0]))[:3]

    for corner_old, corner_new in (((0, 0, 0), (0, 0, 0)), ((32, 40, 24), (15, 19, 11))):
        np.testing.assert_allclose(world(out.affine, corner_new), world(img.affine, corner_old), atol=1e-6)
    assert out.array.mean() == pytest.approx(img.array.mean(), rel=0.05)


def test_resample_refuses_pictures(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "p.png")
    with pytest.raises(DataError, match="no physical spacing"):
        resample(read_raster(tmp_path / "p.png"), (1.0, 1.0))


def test_normalise_per_modality(pydicom_files: Path, nibabel_data: Path) -> None:
    ct = read_dicom(pydicom_files / "CT_small.dcm")
    np.testing.assert_allclose(normalise(ct, window="brain").array, apply_window(ct.array, 40, 80))
    mr = normalise(read_nifti(nibabel_data / "anatomical.nii"))
    fg = mr.array > np.percentile(mr.array, 1)
    assert mr.array[fg].mean() == pytest.approx(0.0, abs=1e-3) and mr.array[fg].std() == pytest.approx(1.0, 1e-3)
