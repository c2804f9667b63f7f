"""``medkit demo`` for imaging: a small Br35H classifier with Grad-CAM, and a tiny DRIVE segmenter if the data
directory holds DRIVE. Sized to finish in about two minutes on two CPU cores; full-size runs are in
``benchmarks/imaging.py``.
"""

from __future__ import annotations

from pathlib import Path

from medkit.core.demo import DemoResult
from medkit.core.logging import get_logger

log = get_logger("medkit.imaging.demo")


def run_demo(out_dir: str | Path, *, seed: int = 0, data_dir: str | Path | None = None) -> DemoResult:
    """Run the imaging demo into ``out_dir``; returns the combined ``report.html``."""
    from medkit.core.errors import DataError
    from medkit.data.paths import resolve_data_dir
    from medkit.imaging.classify_workflow import ClassifyConfig, run_classify
    from medkit.imaging.segment_workflow import SegmentConfig, run_segment
    from medkit.reporting import Report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ccfg = ClassifyConfig(name="demo-br35h", seed=seed, runs_dir=out / "runs", image_size=64, width=16, epochs=8,
                          n_train=200, n_val=60, n_test=100, n_boot=500, patience=4, num_threads=1,
                          data_dir=Path(data_dir) if data_dir else None)
    crun, cm = run_classify(ccfg)
    t = cm["test"]
    summary = (f"Br35H (demo subset, {cm['n']['test']} test images, 64×64): accuracy {t['accuracy']['value']:.3f}, "
               f"AUROC {t['auroc']['value']:.3f}.")

    seg_note = ""
    srun = sm = None
    try:
        ddir = resolve_data_dir(data_dir)
        if not (ddir / "drive" / "DRIVE.tar.gz").is_file():
            raise DataError("DRIVE not found", where=str(ddir / "drive"), fix="pass --data-dir ../shared/data")
        scfg = SegmentConfig(name="demo-drive", seed=seed, runs_dir=out / "runs", data_dir=ddir, epochs=12,
                             n_train=4, n_test=4, n_external=4, patches_per_image=32, batch_size=16, n_boot=200,
                             max_seconds=60, num_threads=1)
        srun, sm = run_segment(scfg)
        d = sm["drive_test"]
        summary += f" DRIVE (4 train / 4 test images, ~1 min training): Dice {d['dice']['value']:.3f}."
    except DataError as exc:
        seg_note = f"Vessel segmentation skipped: {exc.what} ({exc.where}). {exc.fix or ''}"
        summary += " DRIVE segmentation skipped (data directory has no DRIVE)."

    rep = Report("Imaging demo: brain-tumour MRI classification and retinal vessel segmentation",
                 subtitle="Small, fast settings: numbers here show the workflow, not the achievable accuracy "
                          "(see benchmarks/imaging.py).", meta={"seed": str(seed)})
    s = rep.section("Br35H tumour classification (CNN + Grad-CAM)")
    s.text(summary.split(" DRIVE")[0] + f" Full report: {crun.path / 'report.html'}.")
    from medkit.evaluation.bootstrap import MetricResult

    s.metrics({k: MetricResult(**{kk: vv for kk, vv in v.items() if kk in {'value', 'ci_low', 'ci_high', 'n'}})
               for k, v in t.items() if k in {"accuracy", "auroc", "sensitivity", "specificity"}})
    plots = crun.path / "plots"
    s.figure(plots / "roc.png", "ROC on the demo test subset")
    for f in sorted(plots.glob("gradcam_*.png"))[:4]:
        s.figure(f, "Grad-CAM for 'tumour' (largest errors first)")
    s.text(f"Grad-CAM randomisation check: mean |Spearman ρ| = {cm['gradcam_randomisation_spearman']:.2f} "
           "between maps of the trained and a re-initialised network (low = maps depend on the learnt weights).")
    s = rep.section("DRIVE vessel segmentation (UNet, patches + sliding window)")
    if sm is not None and srun is not None:
        d = sm["drive_test"]
        s.text(f"DRIVE test subset: Dice {d['dice']['value']:.3f}, pixel AUROC {d['auroc']['value']:.3f}, HD95 "
               f"{d['hd95']['value']:.1f} px (second observer Dice {sm['drive_second_observer_dice']:.3f}). "
               f"Full report: {srun.path / 'report.html'}.")
        if isinstance(sm.get("chase_db1"), dict):
            s.text(f"CHASE_DB1 external subset, model unchanged: Dice {sm['chase_db1']['dice']['value']:.3f}.")
        for f in sorted((srun.path / "plots").glob("*.png"))[:2]:
            s.figure(f, f.stem.replace("_", " "))
    else:
        s.text(seg_note)
    path = rep.write(out / "report.html")
    return DemoResult(title="Imaging: brain MRI classification and vessel segmentation", report=path,
                      summary=summary, run_dir=crun.path, extra={"segmentation_run": str(srun.path) if srun else ""})
