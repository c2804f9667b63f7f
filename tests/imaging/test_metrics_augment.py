"""Segmentation metrics against MONAI; augmentation twins."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from medkit.imaging.augment import AugmentParams, RandomAugment, augment_fixed
from medkit.imaging.metrics import dice, hd95, iou, score_case


def _blobs(seed: int, shape: tuple[int, int] = (64, 80)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.binary_dilation(rng.random(shape) > 0.97, iterations=2)


@pytest.mark.parametrize("seed", range(4))
def test_dice_iou_hd95_match_monai(seed: int) -> None:
    from monai.metrics import compute_dice, compute_hausdorff_distance, compute_iou

    a, b = _blobs(seed), _blobs(seed + 100)
    ta, tb = (torch.from_numpy(m)[None, None].float() for m in (a, b))
    assert dice(a, b) == pytest.approx(compute_dice(ta, tb).item(), abs=1e-6)
    assert iou(a, b) == pytest.approx(compute_iou(ta, tb).item(), abs=1e-6)
    assert hd95(a, b) == pytest.approx(compute_hausdorff_distance(ta, tb, percentile=95).item(), abs=1e-4)
    sp = (0.5, 2.0)
    ref = compute_hausdorff_distance(ta, tb, percentile=95, spacing=sp).item()
    assert hd95(a, b, spacing=sp) == pytest.approx(ref, abs=1e-4)


def test_score_case_uses_only_the_fov() -> None:
    t = _blobs(1)
    fov = np.zeros_like(t)
    fov[:, :40] = True
    prob = t.astype(float)
    prob[:, 40:] = 1.0 - prob[:, 40:]  # everything outside the FOV is wrong, inside is perfect
    s = score_case("x", prob, t, fov)
    assert s.dice == pytest.approx(1.0) and s.auroc == pytest.approx(1.0) and s.hd95 == pytest.approx(0.0)
    assert score_case("x", prob, t, None).dice < 0.5


def test_random_augment_equals_its_deterministic_twin() -> None:
    x = torch.randn(4, 1, 32, 32)
    m = (torch.rand(4, 1, 32, 32) > 0.8).long()
    aug = RandomAugment(rot90=True)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    xa, ma = aug(x, m, generator=g1)
    params = aug.sample(4, g2)
    xb, mb = augment_fixed(x, params, m)
    torch.testing.assert_close(xa, xb)
    assert ma is not None and mb is not None and torch.equal(ma, mb)


def test_identity_params_and_geometry_follow_the_mask() -> None:
    x = torch.randn(2, 1, 16, 16)
    same, _ = augment_fixed(x, AugmentParams.identity(2))
    torch.testing.assert_close(same, x)
    p = AugmentParams.identity(2)
    p.flip = torch.ones(2)
    xf, mf = augment_fixed(x, p, (x > 0).long())
    torch.testing.assert_close(xf, torch.flip(x, dims=[-1]), atol=1e-5, rtol=0)
    assert mf is not None and torch.equal(mf, (torch.flip(x, dims=[-1]) > 0).long())
