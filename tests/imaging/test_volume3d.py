"""3-D segmentation on real MRI volumes (nibabel's bundled examples) with RULE-DERIVED labels.

The volumes are real (a 2 mm T1 brain crop and two time points of an EPI brain series); the labels come
from :func:`rule_label` (Otsu threshold + largest component), because the files ship without annotations.
These tests prove the 3-D machinery (patches, 3-D UNet, sliding windows, NIfTI in/out, CLI), not anatomy.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from medkit.core.errors import DataError
from medkit.imaging.augment import RandomFlip3D, flip3d_fixed
from medkit.imaging.metrics import dice
from medkit.imaging.nifti import read_nifti
from medkit.imaging.segment3d_workflow import load_volume_pairs, otsu_threshold, rule_label
from medkit.imaging.segmenter3d import VolumeSegmenter, sample_patches_3d
from medkit.imaging.transforms import normalise


@pytest.fixture(scope="module")
def anat(nibabel_data: Path) -> tuple[np.ndarray, np.ndarray]:
    img = read_nifti(nibabel_data / "anatomical.nii")  # (33, 41, 25) T1, 2 mm
    return normalise(img).array[None], rule_label(img.array)  # (1, D, H, W), (D, H, W)


@pytest.fixture(scope="module")
def epi_folder(nibabel_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """images/ and labels/ holding the two time points of example4d.nii.gz as 3-D volumes (128×96×24).

    The rule label (brain vs background) covers 34 % of the voxels, so labelling everything would score
    Dice 0.51: the Dice bound below needs a model that learnt where the brain is.
    """
    root = tmp_path_factory.mktemp("epi")
    src = nib.load(str(nibabel_data / "example4d.nii.gz"))
    data, aff = np.asarray(src.dataobj), src.affine  # (128, 96, 24, 2) int16
    for sub in ("images", "labels"):
        (root / sub).mkdir()
    for t in range(2):
        vol = data[..., t]
        nib.save(nib.Nifti1Image(vol, aff), str(root / "images" / f"epi_t{t}.nii.gz"))
        nib.save(nib.Nifti1Image(rule_label(vol).astype(np.uint8), aff), str(root / "labels" / f"epi_t{t}.nii.gz"))
    return root


def test_flip3d_twin_replays_and_keeps_mask_aligned() -> None:
    x = torch.randn(3, 1, 6, 7, 8)
    m = (x > 0.3).long()  # a label that is a function of the image: alignment must survive any flip
    g = torch.Generator().manual_seed(1)
    xa, ma = RandomFlip3D(gain=0.0, bias=0.0)(x, m, generator=g)
    g = torch.Generator().manual_seed(1)
    flips = (torch.rand(3, 3, generator=g) < 0.5).float()
    xb, mb = flip3d_fixed(x, flips, torch.ones(3), torch.zeros(3), m)
    assert torch.equal(xa, xb) and torch.equal(ma, mb)  # type: ignore[arg-type]
    assert torch.equal(ma, (xa > 0.3).long())  # type: ignore[arg-type]
    assert flips.sum() > 0  # seed 1 flips something, so the test is not an identity check


def test_patches_3d_shapes_foreground_share_and_padding() -> None:
    vol = np.zeros((1, 20, 30, 10), np.float32)  # last axis smaller than the patch: padded
    mask = np.zeros((20, 30, 10), bool)
    mask[5:7, 5:7, 2:4] = True
    x, y = sample_patches_3d([vol], [mask], 16, 10, seed=0, fg_fraction=0.5)
    assert x.shape == (10, 1, 16, 16, 16) and y.shape == (10, 16, 16, 16)
    assert all(y[k].any() for k in range(5))  # the first half is centred on foreground


def test_otsu_splits_a_bimodal_volume_between_modes() -> None:
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.normal(100, 10, 5000), rng.normal(300, 20, 3000)])
    t = otsu_threshold(a)
    # Any cut in the empty gap between the modes is optimal; Otsu's must separate the two classes.
    assert (a[:5000] <= t).mean() > 0.999 and (a[5000:] > t).mean() > 0.999
    # Between-class variance at Otsu's threshold is the maximum over all candidate cut points.
    def bcv(c: float) -> float:
        lo, hi = a[a <= c], a[a > c]
        return len(lo) * len(hi) * (lo.mean() - hi.mean()) ** 2
    assert bcv(t) >= max(bcv(c) for c in np.linspace(120, 280, 81)) * 0.999


def test_unet3d_overfits_a_real_mri_volume(anat: tuple[np.ndarray, np.ndarray]) -> None:
    torch.set_num_threads(1)
    x, m = anat
    assert 0.2 < m.mean() < 0.9  # a real split of the crop into tissue and CSF, not all-or-nothing
    seg = VolumeSegmenter(channels=(8, 16, 32), patch_size=16, patches_per_volume=32, epochs=12, batch_size=8,
                          augment=False, seed=0, num_threads=1).fit([x], [m])
    assert any(isinstance(mod, torch.nn.Conv3d) for mod in seg.model_.modules())
    prob = seg.predict_proba([x])[0]  # 33×41×25 is tiled by 16³ windows: sliding-window inference
    assert prob.shape == m.shape and prob.dtype == np.float32
    assert dice(prob >= 0.5, m) > 0.9
    assert seg.history_[-1]["train_loss"] < seg.history_[0]["train_loss"] * 0.6

    # Validation Dice (pooled, shared with the 2-D segmenter) is recorded per epoch and the best epoch is restored;
    # a time budget keeps the last epoch instead, as in 2-D.
    from medkit.imaging.metrics import pooled_dice

    val = VolumeSegmenter(channels=(8, 16, 32), patch_size=16, patches_per_volume=16, epochs=3, batch_size=8,
                          augment=False, seed=0, num_threads=1).fit([x], [m], val=([x], [m]))
    scores = [h["val_dice"] for h in val.history_]
    assert val.best_epoch_ == int(np.argmax(scores))
    assert pooled_dice([(val.predict([x])[0], m > 0)]) == pytest.approx(scores[val.best_epoch_], abs=1e-9)
    short = VolumeSegmenter(channels=(8, 16, 32), patch_size=16, patches_per_volume=16, epochs=10_000, batch_size=8,
                            augment=False, seed=0, num_threads=1, max_seconds=1.0).fit([x], [m], val=([x], [m]))
    assert short.stopped_by_time_ and short.best_epoch_ == len(short.history_) - 1 < 10_000


def test_pooled_dice_by_hand() -> None:
    from medkit.imaging.metrics import pooled_dice

    p = np.array([[1, 1, 0, 0]], bool)
    t = np.array([[1, 0, 0, 0]], bool)
    assert pooled_dice([(p, t)]) == pytest.approx(2 * 1 / 3)
    assert pooled_dice([(p, t), (t, t)]) == pytest.approx(2 * 2 / 5)  # pooled over pairs, not averaged
    assert pooled_dice([(~p & p, ~t & t)]) == 0.0  # both empty: 0 by the 1-voxel floor, never a division by zero


def test_cli_trains_on_a_nifti_folder_and_writes_masks(epi_folder: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medkit.cli.imaging import app

    r = CliRunner().invoke(app, ["train", "--task", "segment3d", "--runs-dir", str(tmp_path / "runs"),
                                 "--set", f"images_dir='{epi_folder / 'images'}'",
                                 "--set", f"labels_dir='{epi_folder / 'labels'}'", "--set", "patch_size=16",
                                 "--set", "channels=[8, 16, 32]", "--set", "epochs=6", "--set", "patches_per_volume=32",
                                 "--set", "batch_size=8", "--set", "n_boot=50"])
    assert r.exit_code == 0, r.output
    run = next((tmp_path / "runs").iterdir())
    import json

    m = json.loads((run / "metrics.json").read_text())
    assert m["scored_on"] == "held-out volumes" and m["n_train"] == 1 and m["n_scored"] == 1
    (scored,) = m["scored_ids"]
    assert m["train_ids"] != [scored]
    pred = read_nifti(run / "predictions" / f"{scored}_pred.nii.gz")
    ref = read_nifti(epi_folder / "images" / f"{scored}.nii.gz")
    lab = read_nifti(epi_folder / "labels" / f"{scored}.nii.gz")
    assert pred.array.shape == ref.array.shape and np.allclose(pred.affine, ref.affine)  # type: ignore[arg-type]
    assert dice(pred.array > 0, lab.array > 0) == pytest.approx(m["test"]["dice"]["value"], abs=1e-6)
    assert m["test"]["dice"]["value"] > 0.85
    assert (run / "report.html").exists() and (run / "model.pt").exists()
    # The saved weights + parameters rebuild the model: it predicts the written mask again.
    from medkit.imaging.segment3d_workflow import load_volume_pairs
    from medkit.imaging.segmenter3d import load_volume_segmenter

    seg = load_volume_segmenter(run / "model.pt", m["model_params"])
    vol = {v.id: v for v in load_volume_pairs(epi_folder / "images", epi_folder / "labels")}[scored]
    np.testing.assert_array_equal(seg.predict([vol.image[None]])[0], pred.array > 0)
    # `medkit imaging predict --bundle RUN` applies it to NIfTI files; an unreadable file gets an error row.
    junk = tmp_path / "junk.nii.gz"
    junk.write_bytes(b"not a nifti")
    r = CliRunner().invoke(app, ["predict", "--bundle", str(run), "--out", str(tmp_path / "pred3d"),
                                 str(epi_folder / "images" / f"{scored}.nii.gz"), str(junk)])
    assert r.exit_code == 0, r.output
    assert "1 volumes segmented, 1 refused" in r.output
    again = read_nifti(tmp_path / "pred3d" / f"{scored}_pred.nii.gz")
    np.testing.assert_array_equal(again.array, pred.array)
    import pandas as pd

    rows = pd.read_csv(tmp_path / "pred3d" / "predictions.csv")
    ok = rows[rows["file"].str.endswith(f"{scored}.nii.gz")].iloc[0]
    assert ok["foreground_voxels"] == int((pred.array > 0).sum())
    assert ok["foreground_ml"] == pytest.approx(ok["foreground_voxels"] * np.prod(pred.spacing) / 1000, rel=1e-6)
    assert "junk.nii.gz" in rows.loc[rows["file"].str.endswith("junk.nii.gz"), "error"].iloc[0]


def test_bad_label_folders_are_refused_naming_the_file(epi_folder: Path, tmp_path: Path) -> None:
    img = epi_folder / "images" / "epi_t0.nii.gz"
    src = nib.load(str(img))
    cases = {
        "values": nib.Nifti1Image(np.full(src.shape, 2, np.uint8), src.affine),
        "grid": nib.Nifti1Image(np.zeros((10, 10, 10), np.uint8), src.affine),
    }
    for what, bad in cases.items():
        (tmp_path / what / "images").mkdir(parents=True)
        (tmp_path / what / "labels").mkdir()
        (tmp_path / what / "images" / "a.nii.gz").write_bytes(img.read_bytes())
        nib.save(bad, str(tmp_path / what / "labels" / "a.nii.gz"))
        with pytest.raises(DataError) as exc:
            load_volume_pairs(tmp_path / what / "images", tmp_path / what / "labels")
        assert exc.value.where == str(tmp_path / what / "labels" / "a.nii.gz")
    (tmp_path / "nolabel" / "images").mkdir(parents=True)
    (tmp_path / "nolabel" / "labels").mkdir()
    (tmp_path / "nolabel" / "images" / "b.nii.gz").write_bytes(img.read_bytes())
    nib.save(nib.Nifti1Image(np.zeros(src.shape, np.uint8), src.affine), str(tmp_path / "nolabel/labels/c.nii.gz"))
    with pytest.raises(DataError, match="no label file"):
        load_volume_pairs(tmp_path / "nolabel" / "images", tmp_path / "nolabel" / "labels")
    with pytest.raises(DataError, match="3-D volume"):
        four_d = tmp_path / "4d"
        (four_d / "images").mkdir(parents=True)
        (four_d / "labels").mkdir()
        nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.int16), src.affine), str(four_d / "images/x.nii.gz"))
        nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.uint8), src.affine), str(four_d / "labels/x.nii.gz"))
        load_volume_pairs(four_d / "images", four_d / "labels")
