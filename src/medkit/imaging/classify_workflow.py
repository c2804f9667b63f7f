"""Br35H tumour classification end to end: fixed split → train → evaluate with CIs → Grad-CAM → bundle → report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from medkit.core.config import StrictModel
from medkit.core.logging import get_logger
from medkit.core.runs import RunDir
from medkit.core.seed import seed_everything

log = get_logger("medkit.imaging.classify")

LABELS = {"0": "no tumour", "1": "tumour"}


class ClassifyConfig(StrictModel):
    """``medkit imaging train --task classify`` settings (Br35H)."""

    name: str = "br35h-cnn"
    seed: int = Field(0, ge=0)
    runs_dir: Path = Path("runs")
    data_dir: Path | None = None
    image_size: int = Field(64, ge=16, le=512)
    arch: str = "resnet"
    width: int = Field(16, ge=4)
    epochs: int = Field(15, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(2e-3, gt=0)
    patience: int | None = Field(5, ge=1)
    n_train: int | None = Field(None, ge=8, description="images per class cap for train (None = all)")
    n_val: int | None = Field(None, ge=4)
    n_test: int | None = Field(None, ge=4)
    n_boot: int = Field(1000, ge=0)
    threshold: float = Field(0.5, gt=0, lt=1)
    tta: bool = False
    max_seconds: float | None = Field(None, gt=0, description="wall-clock training budget in seconds")
    n_gradcam: int = Field(6, ge=0)
    num_threads: int | None = Field(1, ge=1)
    allow_quality_warnings: bool = Field(False, description="train despite data-quality warnings (never errors)")


def _subset(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    if n is None:
        return df
    parts = [g.sample(min(len(g), n), random_state=seed) for _, g in df.groupby("label")]
    return pd.concat(parts).sort_values("name")


def load_split(cfg: ClassifyConfig) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """The fixed Br35H split (subsampled per ``n_*``), the full split table and cross-split near-duplicates."""
    from medkit.data.imaging_sets import br35h_split, near_duplicates

    full = br35h_split(cfg.data_dir)
    dups = near_duplicates(full, max_distance=4)
    parts = {"train": _subset(full[full.split == "train"], cfg.n_train, cfg.seed),
             "val": _subset(full[full.split == "val"], cfg.n_val, cfg.seed),
             "test": _subset(full[full.split == "test"], cfg.n_test, cfg.seed)}
    return parts, full, dups


def run_classify(cfg: ClassifyConfig) -> tuple[RunDir, dict[str, Any]]:
    """Train and evaluate the Br35H classifier; writes a run directory with bundle and report.html."""
    import torch

    from medkit.evaluation import binary_report
    from medkit.evaluation.metrics import confusion
    from medkit.evaluation.plots import confusion_plot, metric_bars, roc_plot, save
    from medkit.imaging.bundle import save_classifier_bundle
    from medkit.imaging.classifier import ImageClassifier
    from medkit.imaging.overlays import heatmap_overlay, save_png
    from medkit.imaging.prep import load_resized
    from medkit.interpret.gradcam import grad_cam, randomisation_check

    seed_everything(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    run = RunDir.create(cfg.name, cfg.runs_dir)
    run.save_config(cfg, seed=cfg.seed)
    parts, full, dups = load_split(cfg)
    from medkit.data import dataset_info
    from medkit.data.imaging_sets import manifest_digest

    di = dataset_info("br35h")
    run.save_datasets([{"name": "br35h", "task": di.task, "source": di.source, "licence": di.licence,
                        "citation": di.citation, "n_rows": int(sum(len(v) for v in parts.values())),
                        "n_patients": None, "split_manifest_sha256": manifest_digest(full),
                        "n": {k: len(v) for k, v in parts.items()}}])
    full[["name", "label", "split", "sha256", "cluster"]].to_csv(run.path / "split_manifest.csv", index=False)
    dups.to_csv(run.path / "near_duplicates.csv", index=False)
    # Quality gate on the images this run uses, before any training (docs/imaging.md, "Data-quality gate").
    from medkit.imaging.trust import gate_and_write, image_quality

    used = pd.concat([v.assign(split=k) for k, v in parts.items()])
    quality = image_quality(used["path"].tolist(), used["label"].to_numpy(), "br35h",
                            split=used["split"].to_numpy(), sha256=used["sha256"].to_numpy())
    gate_and_write(run, quality, cfg.allow_quality_warnings)

    t0 = time.perf_counter()
    arrays = {k: load_resized(v["path"].tolist(), cfg.image_size) for k, v in parts.items()}
    t_load = time.perf_counter() - t0
    clf = ImageClassifier(arch=cfg.arch, width=cfg.width, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                          patience=cfg.patience, tta=cfg.tta, seed=cfg.seed, num_threads=cfg.num_threads,
                          max_seconds=cfg.max_seconds)
    clf.fit(arrays["train"].array, parts["train"]["label"].to_numpy(), arrays["val"].array,
            parts["val"]["label"].to_numpy())
    t1 = time.perf_counter()
    p = clf.predict_proba(arrays["test"].array)[:, 1]
    t_pred = time.perf_counter() - t1
    y = parts["test"]["label"].to_numpy()
    rep = binary_report(y, p, n_boot=cfg.n_boot, seed=cfg.seed, threshold=cfg.threshold)
    cm = confusion(y, p, cfg.threshold)
    per_image = pd.DataFrame({"name": parts["test"]["name"].to_numpy(), "label": y, "p_tumour": p,
                              "predicted": (p >= cfg.threshold).astype(int)})
    per_image["correct"] = per_image["label"] == per_image["predicted"]
    per_image.to_csv(run.path / "test_predictions.csv", index=False)

    # Grad-CAM on a few test images: errors first, then confident hits.
    order = np.argsort(-np.abs(p - y))[: cfg.n_gradcam]
    plots = run.sub("plots")
    x = torch.from_numpy(arrays["test"].array[order][:, None])
    layer = "net.layer3" if cfg.arch == "resnet" else None
    cams = grad_cam(clf.model_, x, class_idx=1, target_layer=layer) if len(order) else np.empty((0,))
    gallery = []
    for j, i in enumerate(order):
        f = save_png(heatmap_overlay(arrays["test"].array[i], cams[j]), plots / f"gradcam_{j}.png")
        gallery.append((f, f"{parts['test']['name'].iat[i]}: label {LABELS[str(y[i])]}, P(tumour) = {p[i]:.3f}"))
    sanity = randomisation_check(clf.model_, x, target_layer=layer, class_idx=1) if len(order) else None

    metrics: dict[str, Any] = {
        "test": {k: v.as_dict() for k, v in rep.items()},
        "confusion": cm.tolist(),
        "n": {k: len(v) for k, v in parts.items()},
        "near_duplicate_pairs_across_splits": int(len(dups)),
        "gradcam_randomisation_spearman": None if sanity is None else float(np.mean(np.abs(sanity.spearman))),
        "best_epoch": clf.best_epoch_, "train_seconds": clf.train_seconds_, "load_seconds": t_load,
        "predict_images_per_s": len(p) / max(t_pred, 1e-9),
        "corrections": {k: len(v.converted) for k, v in arrays.items()},
    }
    run.save_metrics(metrics)
    bundle = save_classifier_bundle(clf, run.path / "bundle", image_size=cfg.image_size, label_map=LABELS,
                                    metrics={k: v.value for k, v in rep.items()}, run_dir=str(run.path),
                                    dataset="br35h")
    roc = save(roc_plot({f"test (AUROC {rep['auroc'].value:.3f})": (y, p)}, "ROC, Br35H test"), plots / "roc.png")
    cmf = save(confusion_plot(cm, ("no tumour", "tumour"), f"Threshold {cfg.threshold}"), plots / "confusion.png")
    bars = save(metric_bars([(k, v.value, v.ci_low, v.ci_high) for k, v in rep.items() if k != "log_loss"],
                            "Test metrics with 95% CI", "value"), plots / "metrics.png")
    from medkit.imaging.trust import write_card

    card = write_card(run, quality, n=int(sum(metrics["n"].values())), outcome="brain tumour visible on an axial "
                      "MRI slice (Br35H folder label: yes/no)", info=_CARD_INFO, limitations=_LIMITATIONS,
                      events=int(sum(int(v["label"].sum()) for v in parts.values())))
    _report(run, cfg, rep, metrics, roc, cmf, bars, gallery, sanity, per_image, dups, bundle, quality, card)
    return run, metrics


_CARD_INFO = {
    "intended_use": "Research and teaching: flag 2-D brain MRI slices that may show a tumour, for methods work on "
                    "Br35H-like data; not a diagnostic device.",
    "intended_users": "Imaging data scientists and radiology researchers.",
    "out_of_scope": "Clinical diagnosis or triage; 3-D volumes; modalities, sequences or scanners unlike Br35H; "
                    "tumour typing or grading.",
    "setting": "Retrospective single public dataset (Br35H, Kaggle 2020) of unknown scanner and patient mix.",
}
_LIMITATIONS = [
    "Br35H has no patient identifiers; images are grouped by perceptual hash, not by patient, so slices of one "
    "patient that do not look alike may still sit in train and test.",
    "Labels are folder names from a public collection; no reference standard or reader study is documented.",
    "Test metrics come from one fixed split; there is no external test set for this task.",
]


def _report(run: RunDir, cfg: ClassifyConfig, rep: dict[str, Any], metrics: dict[str, Any], roc: Path, cmf: Path,
            bars: Path, gallery: list[tuple[Path, str]], sanity: Any, per_image: pd.DataFrame, dups: pd.DataFrame,
            bundle: Path, quality: Any, card: Any) -> None:
    from medkit.reporting import Report
    from medkit.reporting.model_card import add_quality_and_card_sections

    n = metrics["n"]
    r = Report(f"{cfg.name}: brain-tumour detection on Br35H MRI",
               subtitle=f"{cfg.arch} CNN at {cfg.image_size}×{cfg.image_size}; train {n['train']}, val {n['val']}, "
                        f"test {n['test']} images", meta={"run": run.path.name, "seed": str(cfg.seed)})
    s = r.section("Headline")
    s.text(f"Test accuracy {rep['accuracy']}, AUROC {rep['auroc']}, sensitivity {rep['sensitivity']}, "
           f"specificity {rep['specificity']} at threshold {cfg.threshold} (bootstrap 95% CIs over images).")
    s.metrics(rep)
    s.figure(bars, "Test metrics with bootstrap 95% confidence intervals")
    s = r.section("Discrimination and errors")
    s.figure(roc, "ROC curve on the held-out test split")
    s.figure(cmf, "Confusion matrix")
    wrong = per_image[~per_image["correct"]].head(20)
    if len(wrong):
        s.table(wrong.to_dict("records"), caption="Misclassified test images (at most 20)")
    else:
        s.text("No test image was misclassified at this threshold.")
    s = r.section("Where the model looked (Grad-CAM)")
    if sanity is not None:
        s.text(f"Sanity check: after re-initialising all weights the Grad-CAM maps correlate with the trained "
               f"model's at mean |Spearman ρ| = {np.mean(np.abs(sanity.spearman)):.2f} "
               f"({'passed: maps depend on what was learnt' if sanity.passed else 'FAILED: do not trust the maps'}).")
    for f, cap in gallery:
        s.figure(f, cap)
    s = r.section("Data, split and leakage")
    s.text("Br35H contains many copies of the same slice. The fixed split groups images whose perceptual hashes "
           "differ in ≤ 2 of 64 bits and keeps each group in one split (stratified by label, seed 0). "
           f"{len(dups)} cross-split pairs remain at distance 3-4 bits (listed in near_duplicates.csv); published "
           "accuracies on random splits of this set are inflated by such leakage.")
    s.table([{"split": k, "images": v} for k, v in n.items()], caption="Images per split used in this run")
    add_quality_and_card_sections(r, quality, card, detail=f" on the {quality.n_rows} images of this run (errors "
                                  "always stop training; warnings unless allow_quality_warnings)")
    s = r.section("Model bundle")
    s.text(f"Bundle at {bundle}: weights, ONNX graph with intensity preprocessing, label map and metrics; load "
           "with `medkit imaging predict --bundle ...`.")
    r.write(run.path / "report.html")
