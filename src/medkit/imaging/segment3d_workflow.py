"""3-D segmentation from a NIfTI folder: pair images with labels → train a 3-D UNet → score held-out volumes.

Layout (nnU-Net-like): ``images_dir/<case>.nii[.gz]`` and ``labels_dir/<case>.nii[.gz]`` with the same file
names; labels are binary (0 background, 1 foreground) on the image's voxel grid. Both are reoriented to RAS,
optionally resampled to one spacing, images normalised per modality (:func:`medkit.imaging.transforms.normalise`).
Predicted masks are written as NIfTI on the RAS grid with its affine, so viewers overlay them on the input.

:func:`rule_label` derives a label from intensities alone (Otsu threshold + largest connected component). It
exists to *exercise* the 3-D path on real volumes that ship without annotations (nibabel's example MRI); a
model trained on it learns a threshold rule, not anatomy, and its scores say nothing about clinical use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from medkit.core.config import StrictModel
from medkit.core.errors import DataError
from medkit.core.runs import RunDir

__all__ = ["Segment3DConfig", "Volume", "load_volume_pairs", "otsu_threshold", "predict_volume_files", "rule_label",
           "run_segment3d"]

_NII = (".nii", ".nii.gz")


class Segment3DConfig(StrictModel):
    """``medkit imaging train --task segment3d`` settings (a folder of NIfTI volumes and labels)."""

    name: str = "volume-unet3d"
    seed: int = Field(0, ge=0)
    runs_dir: Path = Path("runs")
    images_dir: Path | None = None
    labels_dir: Path | None = None
    spacing: tuple[float, float, float] | None = None
    n_test: int = Field(1, ge=0, description="volumes held out for testing (0 = score the training volumes)")
    channels: tuple[int, ...] = (8, 16, 32, 64)
    patch_size: int = Field(32, ge=8)
    patches_per_volume: int = Field(32, ge=1)
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(4, ge=1)
    lr: float = Field(3e-3, gt=0)
    max_seconds: float | None = Field(None, gt=0)
    threshold: float = Field(0.5, gt=0, lt=1)
    n_boot: int = Field(1000, ge=0)
    num_threads: int | None = Field(1, ge=1)


@dataclass
class Volume:
    """One case: normalised image ``(D, H, W)`` on the RAS grid, its binary label, spacing (mm) and affine."""

    id: str
    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, ...]
    affine: np.ndarray
    source: str


def otsu_threshold(a: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (maximum between-class variance of the intensity histogram)."""
    hist, edges = np.histogram(np.asarray(a, dtype=np.float64), bins)
    mid = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    s0 = np.cumsum(hist * mid)
    m0 = s0 / np.maximum(w0, 1)
    m1 = (s0[-1] - s0) / np.maximum(w1, 1)
    return float(mid[int(np.argmax(w0 * w1 * (m0 - m1) ** 2))])


def rule_label(volume: np.ndarray) -> np.ndarray:
    """RULE-DERIVED label: voxels above Otsu's threshold, largest 3-D connected component (bool ``(D, H, W)``).

    For nibabel's T1 example this is brain tissue versus CSF/ventricles; for its EPI example, brain versus
    background. Not an annotation: use it to test pipelines, never to claim segmentation accuracy.
    """
    from scipy import ndimage

    m = np.asarray(volume) > otsu_threshold(volume)
    lab, n = ndimage.label(m)
    if n == 0:
        raise DataError("no voxel lies above the Otsu threshold", where="volume", fix="check the volume")
    return lab == int(np.argmax(np.bincount(lab.ravel())[1:]) + 1)


def _find(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(f"folder not found: {folder}", where=str(folder), fix="pass an existing folder")
    out = {}
    for f in sorted(folder.iterdir()):
        for suf in _NII:
            if f.name.endswith(suf):
                out[f.name[: -len(suf)]] = f
    if not out:
        raise DataError("no .nii/.nii.gz files in the folder", where=str(folder), fix="put one NIfTI file per case")
    return out


def load_volume_pairs(images_dir: Path, labels_dir: Path, spacing: tuple[float, float, float] | None = None
                      ) -> list[Volume]:
    """Read, pair, check, (re)sample and normalise every case; each problem is a :class:`DataError` naming the file."""
    from medkit.imaging.nifti import read_nifti
    from medkit.imaging.transforms import normalise, resample

    images, labels = _find(Path(images_dir)), _find(Path(labels_dir))
    missing = sorted(set(images) - set(labels))
    if missing:
        raise DataError(f"{len(missing)} image(s) have no label file: {missing[:5]}",
                        where=str(images[missing[0]]), fix=f"add {labels_dir}/<same name>.nii.gz for each image")
    vols = []
    for case, ipath in images.items():
        img, lab = read_nifti(ipath), read_nifti(labels[case])
        for im in (img, lab):
            if im.array.ndim != 3:
                raise DataError(f"expected a 3-D volume, got shape {im.array.shape}", where=im.source,
                                fix="split 4-D series into 3-D volumes (e.g. fslsplit) and label each")
        if img.array.shape != lab.array.shape or not np.allclose(img.affine, lab.affine, atol=1e-3):  # type: ignore[arg-type]
            raise DataError(f"label grid {lab.array.shape} does not match image grid {img.array.shape} "
                            "(shape or affine after RAS reorientation)", where=lab.source,
                            fix="save the label on the image's voxel grid (same shape and affine)")
        values = np.unique(np.asarray(lab.array))
        if not set(values.tolist()) <= {0, 1}:
            raise DataError(f"label holds values {values[:8].tolist()}, expected only 0 and 1", where=lab.source,
                            fix="binarise the label (this segmenter is binary: 1 = structure, 0 = rest)")
        if spacing is not None:
            img, lab = resample(img, spacing, order=1), resample(lab, spacing, order=0)
        norm = normalise(img)
        vols.append(Volume(case, norm.array.astype(np.float32), np.asarray(lab.array) > 0.5, tuple(img.spacing),
                           np.asarray(img.affine), str(ipath)))
    return vols


def score_volumes(ids: list[str], probs: list[np.ndarray], vols: list[Volume], threshold: float) -> pd.DataFrame:
    """Per-volume Dice, IoU, sensitivity, specificity, voxel AUROC and HD95 (in millimetres, using the spacing)."""
    from dataclasses import asdict

    from medkit.imaging.metrics import hd95, score_case

    rows = []
    for i, p, v in zip(ids, probs, vols, strict=True):
        r = asdict(score_case(i, p, v.label, None, threshold))
        r["hd95"] = hd95(p >= threshold, v.label, spacing=v.spacing)  # mm, not voxels
        rows.append(r)
    return pd.DataFrame(rows)


def save_mask_nifti(mask: np.ndarray, affine: np.ndarray, path: Path) -> Path:
    """Write a binary mask as uint8 NIfTI with ``affine`` (RAS grid of the input after reorientation)."""
    import nibabel as nib

    nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine), str(path))
    return path


def run_segment3d(cfg: Segment3DConfig) -> tuple[RunDir, dict[str, Any]]:
    """Train a 3-D UNet on a NIfTI folder and score held-out volumes; writes masks, metrics and report.html."""
    import torch

    from medkit.core.errors import ConfigError
    from medkit.core.seed import seed_everything
    from medkit.imaging.metrics import summarise
    from medkit.imaging.segmenter3d import VolumeSegmenter

    if cfg.images_dir is None or cfg.labels_dir is None:
        raise ConfigError("3-D segmentation needs images_dir and labels_dir", where="images_dir/labels_dir",
                          fix="--set images_dir='scans/images' --set labels_dir='scans/labels'")
    seed_everything(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    vols = load_volume_pairs(cfg.images_dir, cfg.labels_dir, cfg.spacing)
    if cfg.n_test >= len(vols):
        raise ConfigError(f"n_test={cfg.n_test} leaves no training volume out of {len(vols)}", where="n_test",
                          fix=f"use n_test < {len(vols)} (0 scores the training volumes)")
    order = np.random.default_rng(cfg.seed).permutation(len(vols))
    test = [vols[k] for k in order[: cfg.n_test]]
    train = [vols[k] for k in order[cfg.n_test:]]
    scored, on_train = (test, False) if test else (train, True)
    run = RunDir.create(cfg.name, cfg.runs_dir)
    run.save_config(cfg, seed=cfg.seed)
    seg = VolumeSegmenter(channels=cfg.channels, patch_size=cfg.patch_size, patches_per_volume=cfg.patches_per_volume,
                          epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, threshold=cfg.threshold,
                          seed=cfg.seed, num_threads=cfg.num_threads, max_seconds=cfg.max_seconds)
    seg.fit([v.image[None] for v in train], [v.label for v in train])
    probs = seg.predict_proba([v.image[None] for v in scored])
    table = score_volumes([v.id for v in scored], probs, scored, seg.threshold)
    table.to_csv(run.path / "per_volume.csv", index=False)
    pred_dir = run.sub("predictions")
    for v, p in zip(scored, probs, strict=True):
        save_mask_nifti(p >= seg.threshold, v.affine, pred_dir / f"{v.id}_pred.nii.gz")
    torch.save(seg.model_.state_dict(), run.path / "model.pt")
    # model.json marks the run directory as a 3-D model that `medkit imaging predict --bundle RUN` can apply.
    run.write_json("model.json", {"kind": "volume_segmenter", "weights": "model.pt", "params": seg.get_params(),
                                  "in_channels": seg.in_channels_, "spacing": cfg.spacing,
                                  "normalisation": "medkit.imaging.transforms.normalise (per modality)"})
    summary = summarise(table, n_boot=cfg.n_boot, seed=cfg.seed)
    metrics: dict[str, Any] = {
        "scored_on": "training volumes (n_test=0): an overfit check, not a test" if on_train else "held-out volumes",
        "test": summary, "hd95_unit": "mm",
        "n_train": len(train), "n_scored": len(scored), "train_ids": [v.id for v in train],
        "scored_ids": [v.id for v in scored], "epochs_run": len(seg.history_), "train_seconds": seg.train_seconds_,
        "stopped_by_time_budget": seg.stopped_by_time_, "model_params": seg.get_params()}
    run.save_metrics(metrics)
    _report(run, cfg, metrics, table, scored, probs, seg.threshold)
    return run, metrics


def predict_volume_files(model_dir: str | Path, paths: list[Path], out_dir: str | Path) -> list[dict[str, Any]]:
    """Apply a 3-D model (a ``segment3d`` run directory) to NIfTI files; write masks and ``predictions.csv``.

    Each input is preprocessed as in training (RAS, optional resampling, normalisation); the mask is saved as
    ``<out>/<case>_pred.nii.gz`` on that grid with its affine. A file that cannot be read gets an error row.
    """
    import json

    from medkit.core.errors import MedkitError
    from medkit.imaging.nifti import read_nifti
    from medkit.imaging.segmenter3d import load_volume_segmenter
    from medkit.imaging.transforms import normalise, resample

    meta = json.loads((Path(model_dir) / "model.json").read_text())
    seg = load_volume_segmenter(Path(model_dir) / meta["weights"], meta["params"], meta["in_channels"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for f in paths:
        case = f.name[: -len(".nii.gz")] if f.name.endswith(".nii.gz") else f.stem
        try:
            img = read_nifti(f)
            if img.array.ndim != 3:
                raise DataError(f"expected a 3-D volume, got shape {img.array.shape}", where=str(f),
                                fix="split 4-D series into 3-D volumes")
            if meta.get("spacing"):
                img = resample(img, meta["spacing"], order=1)
            mask = seg.predict([normalise(img).array[None]])[0]
        except MedkitError as exc:
            rows.append({"file": str(f), "error": str(exc)})
            continue
        target = save_mask_nifti(mask, np.asarray(img.affine), out / f"{case}_pred.nii.gz")
        voxel_ml = float(np.prod(img.spacing)) / 1000.0  # mm³ → ml
        rows.append({"file": str(f), "mask_path": str(target), "shape": "x".join(map(str, mask.shape)),
                     "foreground_voxels": int(mask.sum()), "foreground_ml": float(mask.sum()) * voxel_ml})
    pd.DataFrame(rows).to_csv(out / "predictions.csv", index=False)
    return rows


def _report(run: RunDir, cfg: Segment3DConfig, metrics: dict[str, Any], table: pd.DataFrame, scored: list[Volume],
            probs: list[np.ndarray], threshold: float) -> None:
    from medkit.imaging.overlays import mask_overlay, save_png
    from medkit.reporting import Report

    s = metrics["test"]
    r = Report(f"{cfg.name}: 3-D segmentation", subtitle=f"MONAI UNet (3-D) {list(cfg.channels)}, {cfg.patch_size}³ "
               f"patches, sliding-window inference; trained on {metrics['n_train']} volume(s)",
               meta={"run": run.path.name, "seed": str(cfg.seed)})
    sec = r.section("Headline")
    sec.text(f"Scored on {metrics['scored_on']} ({metrics['n_scored']}): Dice {s['dice']['value']:.3f}, IoU "
             f"{s['iou']['value']:.3f}, HD95 {s['hd95']['value']:.1f} mm. {metrics['epochs_run']} epochs in "
             f"{metrics['train_seconds']:.0f} s. With few volumes the CIs are not meaningful.")
    sec.table(table.round(4).to_dict("records"), caption="One row per scored volume")
    plots = run.sub("plots")
    for v, p in list(zip(scored, probs, strict=True))[:3]:
        k = v.image.shape[2] // 2  # middle axial slice (RAS: third axis runs inferior → superior)
        png = save_png(mask_overlay(v.image[:, :, k].T[::-1], (p[:, :, k] >= threshold).T[::-1],
                                    v.label[:, :, k].T[::-1]), plots / f"{v.id}_axial.png")
        sec.figure(png, f"{v.id}, middle axial slice: green = agreed, red = extra, blue = missed")
    r.write(run.path / "report.html")
