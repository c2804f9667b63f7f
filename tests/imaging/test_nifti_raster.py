"""NIfTI orientation/spacing against nibabel, picture reading, and the picture/NIfTI bad inputs of issue 6."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image as PILImage

from medkit.core.errors import DataError
from medkit.imaging.image import ImageLimits
from medkit.imaging.io import load_image
from medkit.imaging.nifti import read_nifti
from medkit.imaging.raster import read_raster


def test_nifti_reoriented_to_ras_like_nibabel(nibabel_data: Path) -> None:
    f = nibabel_data / "anatomical.nii"  # stored LAS
    img = read_nifti(f)
    ref = nib.as_closest_canonical(nib.load(f))
    np.testing.assert_array_equal(img.array, np.asanyarray(ref.dataobj))
    assert img.orientation == ("R", "A", "S") and img.meta["original_orientation"] == "LAS"
    np.testing.assert_allclose(img.affine, ref.affine)
    assert img.spacing == pytest.approx((2.0, 2.0, 2.0))


def test_same_volume_in_two_orientations_reads_the_same(tmp_path: Path, nibabel_data: Path) -> None:
    src = nib.load(nibabel_data / "anatomical.nii")
    data = np.asanyarray(src.dataobj)
    # Flip the first axis and compensate in the affine: same anatomy, different storage order.
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1, data.shape[0] - 1
    other = nib.Nifti1Image(data[::-1].copy(), src.affine @ flip)
    nib.save(other, tmp_path / "flipped.nii.gz")
    a, b = read_nifti(nibabel_data / "anatomical.nii"), read_nifti(tmp_path / "flipped.nii.gz")
    assert nib.aff2axcodes(other.affine) != nib.aff2axcodes(src.affine)
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-5)


def test_nifti_anisotropic_spacing(nibabel_data: Path) -> None:
    img = read_nifti(nibabel_data / "standard.nii.gz")
    assert img.spacing == pytest.approx((1.0, 3.0, 2.0)) and img.array.shape == (4, 5, 7)


def test_nifti_non_invertible_affine(tmp_path: Path) -> None:
    aff = np.eye(4)
    aff[2, 2] = 0.0  # third voxel axis has zero length
    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), None)
    img.set_qform(None, code=0)
    img.set_sform(aff, code=1)  # a qform cannot hold a singular matrix; a broken sform can
    nib.save(img, tmp_path / "singular.nii")
    with pytest.raises(DataError, match="not invertible") as e:
        load_image(tmp_path / "singular.nii")
    assert "singular.nii" in str(e.value.where)


def test_16bit_png(tmp_path: Path) -> None:
    arr = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    PILImage.fromarray(arr).save(tmp_path / "deep.png")
    img = read_raster(tmp_path / "deep.png")
    assert img.bit_depth == 16 and img.array.dtype == np.uint16
    np.testing.assert_array_equal(img.array, arr)
    with pytest.raises(DataError, match="16-bit") as e:
        load_image(tmp_path / "deep.png", bit_depth=8)
    assert "deep.png" in str(e.value.where)


def _png_header_only(path: Path, w: int, h: int) -> None:
    # A valid PNG signature + IHDR claiming w×h, then a tiny IDAT: enough for a header-only size check.
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
                     + chunk(b"IEND", b""))


def test_huge_image_refused_before_decoding(tmp_path: Path) -> None:
    f = tmp_path / "huge.png"
    _png_header_only(f, 30_000, 30_000)
    assert f.stat().st_size < 200  # nothing like 900 MB was ever written or decoded
    with pytest.raises(DataError, match="30000×30000") as e:
        load_image(f)
    assert "huge.png" in str(e.value.where)


def test_configurable_limit(tmp_path: Path) -> None:
    PILImage.fromarray(np.zeros((50, 60), np.uint8)).save(tmp_path / "s.png")
    assert load_image(tmp_path / "s.png", limits=ImageLimits(max_pixels=3000)).shape == (50, 60)
    with pytest.raises(DataError, match="above the limit"):
        load_image(tmp_path / "s.png", limits=ImageLimits(max_pixels=2999))


def test_rgb_where_grayscale_expected(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    PILImage.fromarray(colour).save(tmp_path / "colour.png")
    with pytest.raises(DataError, match="colour image") as e:
        load_image(tmp_path / "colour.png", expect="grayscale")
    assert "colour.png" in str(e.value.where)
    grey = np.repeat(rng.integers(0, 255, (40, 40, 1), dtype=np.uint8), 3, axis=2)
    PILImage.fromarray(grey).save(tmp_path / "grey_rgb.png")
    img = load_image(tmp_path / "grey_rgb.png", expect="grayscale")
    assert img.array.shape == (40, 40) and "luminance" in img.meta["converted"]
    np.testing.assert_allclose(img.array, grey[..., 0], atol=0.01)


def test_corrupt_and_truncated_pictures(tmp_path: Path) -> None:
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="junk.png"):
        load_image(tmp_path / "junk.png")
    PILImage.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300), dtype=np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="t.png"):
        load_image(tmp_path / "t.png")
    with pytest.raises(DataError, match="unknown image format"):
        (tmp_path / "x.xyz").write_text("?")
        load_image(tmp_path / "x.xyz")
