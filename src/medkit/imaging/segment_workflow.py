"""DRIVE vessel segmentation end to end, with CHASE_DB1 as an external test set.

Train on the 20 official DRIVE training images, evaluate inside the FOV on the 20 official test images
(second observer as the human reference), apply the model unchanged to CHASE_DB1, write overlays, a bundle
and report.html.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from medkit.core.config import StrictModel
from medkit.core.runs import RunDir
from medkit.core.seed import seed_everything


class SegmentConfig(StrictModel):
    """``medkit imaging train --task segment`` settings (DRIVE)."""

    name: str = "drive-unet"
    seed: int = Field(0, ge=0)
    runs_dir: Path = Path("runs")
    data_dir: Path | None = None
    arch: str = "unet"
    channels: tuple[int, ...] = (16, 32, 64, 128)
    input_channels: str = "green"
    patch_size: int = Field(64, ge=16)
    patches_per_image: int = Field(64, ge=1)
    roi_size: int = Field(608, ge=16)
    epochs: int = Field(40, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(3e-3, gt=0)
    max_seconds: float | None = Field(None, gt=0)
    n_train: int | None = Field(None, ge=1, le=20)
    n_test: int | None = Field(None, ge=1, le=20)
    external: bool = True
    n_external: int | None = Field(None, ge=1, le=28)
    n_boot: int = Field(1000, ge=0)
    num_threads: int | None = Field(1, ge=1)
    allow_quality_warnings: bool = Field(False, description="train despite data-quality warnings (never errors)")


def evaluate_cases(seg: Any, cases: list[Any], channels: str, n_boot: int, seed: int
                   ) -> tuple[pd.DataFrame, dict[str, dict[str, float]], list[np.ndarray], float]:
    """Predict each case, score inside its FOV; returns table, summary with CIs, probability maps, images/s."""
    from medkit.imaging.metrics import score_cases, summarise
    from medkit.imaging.prep import fundus_input

    t0 = time.perf_counter()
    probs = seg.predict_proba([fundus_input(c.image, c.fov, channels) for c in cases])
    ips = len(cases) / max(time.perf_counter() - t0, 1e-9)
    table = score_cases([c.id for c in cases], probs, [c.mask for c in cases], [c.fov for c in cases],
                        seg.threshold)
    return table, summarise(table, n_boot=n_boot, seed=seed), probs, ips


def observer_agreement(cases: list[Any]) -> float:
    """Mean Dice of the second observer against the first inside the FOV (human reference)."""
    from medkit.imaging.metrics import dice

    vals = [dice(c.mask2 & c.fov, c.mask & c.fov) for c in cases if c.mask2 is not None]
    return float(np.mean(vals)) if vals else float("nan")


def run_segment(cfg: SegmentConfig) -> tuple[RunDir, dict[str, Any]]:
    """Train and evaluate the DRIVE segmenter; writes a run directory with bundle and report.html."""
    import torch

    from medkit.data import load_dataset
    from medkit.imaging.bundle import save_segmenter_bundle
    from medkit.imaging.overlays import heatmap_overlay, mask_overlay, save_png
    from medkit.imaging.prep import fundus_input
    from medkit.imaging.segmenter import UNetSegmenter

    seed_everything(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    run = RunDir.create(cfg.name, cfg.runs_dir)
    run.save_config(cfg, seed=cfg.seed)
    drive = load_dataset("drive", data_dir=cfg.data_dir)
    prov = [drive.provenance()]
    train = drive.data["train"][: cfg.n_train]
    test = drive.data["test"][: cfg.n_test]
    from medkit.imaging.trust import gate_and_write, segmentation_quality, write_card

    quality = segmentation_quality(list(train) + list(test), "drive")
    gate_and_write(run, quality, cfg.allow_quality_warnings)
    seg = UNetSegmenter(arch=cfg.arch, channels=cfg.channels, patch_size=cfg.patch_size,
                        patches_per_image=cfg.patches_per_image, roi_size=cfg.roi_size, epochs=cfg.epochs,
                        batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, num_threads=cfg.num_threads,
                        max_seconds=cfg.max_seconds)
    seg.fit([fundus_input(c.image, c.fov, cfg.input_channels) for c in train], [c.mask for c in train],
            [c.fov for c in train])
    table, summary, probs, ips = evaluate_cases(seg, test, cfg.input_channels, cfg.n_boot, cfg.seed)
    table.to_csv(run.path / "drive_test_per_image.csv", index=False)
    metrics: dict[str, Any] = {"drive_test": summary, "drive_images_per_s": ips,
                               "drive_second_observer_dice": observer_agreement(test),
                               "train_seconds": seg.train_seconds_, "epochs_run": len(seg.history_),
                               "stopped_by_time_budget": seg.stopped_by_time_, "n_train": len(train),
                               "n_test": len(test)}
    ext_table = None
    if cfg.external:
        try:
            chase = load_dataset("chase_db1", data_dir=cfg.data_dir)
            prov.append(chase.provenance())
            ext = chase.data["test"][: cfg.n_external]
            ext_table, ext_summary, _, ext_ips = evaluate_cases(seg, ext, cfg.input_channels, cfg.n_boot, cfg.seed)
            ext_table.to_csv(run.path / "chase_db1_per_image.csv", index=False)
            metrics.update(chase_db1=ext_summary, chase_db1_images_per_s=ext_ips,
                           chase_db1_second_observer_dice=observer_agreement(ext))
        except Exception as exc:  # noqa: BLE001 - the external set is optional; say why it is missing
            metrics["chase_db1"] = f"not evaluated: {exc}"
    run.save_datasets(prov)
    run.save_metrics(metrics)
    plots = run.sub("plots")
    figs = []
    for c, p in list(zip(test, probs, strict=True))[:2]:
        figs.append((save_png(mask_overlay(c.image, (p >= seg.threshold) & c.fov, c.mask & c.fov),
                              plots / f"drive_{c.id}_errors.png"),
                     f"DRIVE {c.id}: green = correct vessel, red = false positive, blue = missed"))
        figs.append((save_png(heatmap_overlay(c.image[..., 1], p * c.fov, threshold=0.1),
                              plots / f"drive_{c.id}_prob.png"), f"DRIVE {c.id}: vessel probability"))
    bundle = save_segmenter_bundle(seg, run.path / "bundle", channels=cfg.input_channels,
                                   metrics={k: v["value"] for k, v in summary.items()}, run_dir=str(run.path),
                                   dataset="drive")
    card = write_card(run, quality, n=len(train) + len(test), outcome="retinal vessel pixels in colour fundus "
                      "photographs (DRIVE observer 1 masks)", info=_CARD_INFO, limitations=_LIMITATIONS)
    _report(run, cfg, metrics, table, ext_table, figs, bundle, quality, card)
    return run, metrics


_CARD_INFO = {
    "intended_use": "Research: segment retinal vessels in colour fundus photographs for vessel-morphology studies; "
                    "not a diagnostic device.",
    "intended_users": "Ophthalmic imaging researchers.",
    "out_of_scope": "Diagnosis of retinopathy; images from cameras or fields of view unlike DRIVE without "
                    "re-validation (see the CHASE_DB1 external result).",
    "setting": "Retrospective public datasets (DRIVE: Dutch diabetic-retinopathy screening; CHASE_DB1: UK children).",
}
_LIMITATIONS = [
    "DRIVE has 20 training and 20 test images; confidence intervals are wide.",
    "Performance drops on CHASE_DB1 (other camera, children), so expect a drop on any new camera.",
]


def _fmt(d: dict[str, float]) -> str:
    return f"{d['value']:.3f} ({d['ci_low']:.3f}–{d['ci_high']:.3f})"


def _report(run: RunDir, cfg: SegmentConfig, metrics: dict[str, Any], table: pd.DataFrame,
            ext_table: pd.DataFrame | None, figs: list[tuple[Path, str]], bundle: Path, quality: Any,
            card: Any) -> None:
    from medkit.reporting import Report

    s_ = metrics["drive_test"]
    r = Report(f"{cfg.name}: retinal vessel segmentation (DRIVE → CHASE_DB1)",
               subtitle=f"MONAI {cfg.arch} {list(cfg.channels)}, {cfg.input_channels} channel, patches "
                        f"{cfg.patch_size}px, sliding window {cfg.roi_size}px; trained on {metrics['n_train']} "
                        f"DRIVE images", meta={"run": run.path.name, "seed": str(cfg.seed)})
    sec = r.section("Headline (inside the field of view)")
    budget = " Training stopped at the time budget." if metrics["stopped_by_time_budget"] else ""
    sec.text(f"DRIVE test ({metrics['n_test']} images): Dice {_fmt(s_['dice'])}, pixel AUROC {_fmt(s_['auroc'])}, "
             f"HD95 {_fmt(s_['hd95'])} px. Second human observer: Dice "
             f"{metrics['drive_second_observer_dice']:.3f}. {metrics['epochs_run']} epochs in "
             f"{metrics['train_seconds']:.0f} s.{budget}")
    sec.table([{"metric": k, "mean (95% CI over images)": _fmt(v)} for k, v in s_.items()],
              caption="DRIVE test, mean over images with bootstrap CI")
    for f, cap in figs:
        sec.figure(f, cap)
    sec = r.section("External test: CHASE_DB1 (model applied unchanged)")
    if isinstance(metrics.get("chase_db1"), dict):
        e = metrics["chase_db1"]
        sec.text(f"Dice {_fmt(e['dice'])}, pixel AUROC {_fmt(e['auroc'])}; second observer Dice "
                 f"{metrics['chase_db1_second_observer_dice']:.3f}. CHASE_DB1 images are children's eyes from "
                 "another camera (30° FOV, 999×960); the FOV is derived from the red channel.")
    else:
        sec.text(str(metrics.get("chase_db1", "not evaluated")))
    sec = r.section("Per-image results")
    sec.table(table.round(4).to_dict("records"), caption="DRIVE test, one row per image")
    if ext_table is not None:
        sec.table(ext_table.round(4).to_dict("records"), caption="CHASE_DB1, one row per image")
    sec = r.section("Model bundle")
    sec.text(f"Bundle at {bundle}; `medkit imaging predict --bundle ... image.tif` writes masks and overlays.")
    sec = r.section("Data quality, model card and TRIPOD+AI checklist")
    q = quality.summary()
    sec.text(f"Image/mask/FOV pairing and sizes: {q['n_errors']} errors, {q['n_warnings']} warnings on "
             f"{quality.n_rows} cases.")
    sec.link("quality.html", "Data-quality report")
    sec.link(card.html.name, "Model card")
    sec.link(card.tripod_markdown.name, "TRIPOD+AI checklist")
    r.write(run.path / "report.html")
