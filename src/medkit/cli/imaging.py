"""``medkit imaging train|check|evaluate|predict|export|info`` (heavy imports inside the commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Medical image classification (Br35H), segmentation (DRIVE) and 3-D "
                                                     "segmentation of NIfTI volumes.")

_DATA = typer.Option("--data-dir", help="Data directory (default: $MEDKIT_DATA, then ~/.medkit/data).")


@app.command()
def info(
    path: Annotated[Path, typer.Argument(help="DICOM file or series folder, NIfTI or PNG/JPEG/TIFF file.")],
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more samples than this.")] = 2**28,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print what an image file holds: modality, size, spacing, orientation, window, value range."""
    from medkit.core.runs import dumps
    from medkit.imaging.image import ImageLimits
    from medkit.imaging.io import load_image

    s = load_image(path, limits=ImageLimits(max_pixels=max_pixels)).summary()
    if as_json:
        typer.echo(dumps(s))
        return
    for k, v in s.items():
        if v not in (None, "", []):
            typer.echo(f"{k:>20}: {v}")


@app.command()
def train(
    task: Annotated[str, typer.Option(
        help="'classify' (Br35H), 'segment' (DRIVE) or 'segment3d' (NIfTI folder: --set images_dir=... "
             "--set labels_dir=...).")] = "classify",
    config: Annotated[Path | None, typer.Option(help="TOML config (ClassifyConfig / SegmentConfig keys).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key, e.g. --set epochs=30.")] = None,
    data_dir: Annotated[Path | None, _DATA] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run directories go.")] = Path("runs"),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    allow_quality_warnings: Annotated[bool, typer.Option(
        "--allow-quality-warnings", help="Train despite data-quality warnings (errors always stop).")] = False,
) -> None:
    """Train, evaluate and write a run directory with a model bundle, report.html, quality.html and model card."""
    from medkit.core.config import apply_overrides, load_config
    from medkit.core.errors import ConfigError

    if task not in {"classify", "segment", "segment3d"}:
        raise ConfigError(f"unknown task '{task}'", where="--task", fix="use 'classify', 'segment' or 'segment3d'")
    base = [f"seed={seed}", f"runs_dir='{runs_dir}'"] + ([f"data_dir='{data_dir}'"] if data_dir else [])
    base += ["allow_quality_warnings=true"] if allow_quality_warnings else []
    if task == "classify":
        from medkit.imaging.classify_workflow import ClassifyConfig, run_classify

        ccfg = (load_config(config, ClassifyConfig, base + (set_ or [])) if config else
                ClassifyConfig.model_validate(apply_overrides({}, base + (set_ or []))))
        run, m = run_classify(ccfg)
        t = m["test"]
        typer.echo(f"Br35H test: accuracy {t['accuracy']['value']:.3f}, AUROC {t['auroc']['value']:.3f} "
                   f"(n={m['n']['test']})")
    elif task == "segment3d":
        from medkit.imaging.segment3d_workflow import Segment3DConfig, run_segment3d

        base3 = [b for b in base if not b.startswith(("data_dir=", "allow_quality_warnings="))]
        vcfg = (load_config(config, Segment3DConfig, base3 + (set_ or [])) if config else
                Segment3DConfig.model_validate(apply_overrides({}, base3 + (set_ or []))))
        run, m = run_segment3d(vcfg)
        typer.echo(f"3-D segmentation ({m['scored_on']}, n={m['n_scored']}): Dice {m['test']['dice']['value']:.3f}, "
                   f"HD95 {m['test']['hd95']['value']:.1f} mm\nRun: {run.path}\nPredicted masks: {run.path / 'predictions'}\n"
                   f"Report: {run.path / 'report.html'}")
        return
    else:
        from medkit.imaging.segment_workflow import SegmentConfig, run_segment

        scfg = (load_config(config, SegmentConfig, base + (set_ or [])) if config else
                SegmentConfig.model_validate(apply_overrides({}, base + (set_ or []))))
        run, m = run_segment(scfg)
        typer.echo(f"DRIVE test: Dice {m['drive_test']['dice']['value']:.3f}, AUROC "
                   f"{m['drive_test']['auroc']['value']:.3f}")
    typer.echo(f"Run: {run.path}\nBundle: {run.path / 'bundle'}\nReport: {run.path / 'report.html'}\n"
               f"Quality: {run.path / 'quality.html'}\nModel card: {run.path / 'model_card.html'}")


@app.command()
def check(
    folder: Annotated[Path, typer.Argument(help="Image folder laid out as <folder>/<class>/<images>.")],
    out: Annotated[Path, typer.Option(help="Where quality.html and quality.json go.")] = Path("quality"),
    allow_quality_warnings: Annotated[bool, typer.Option(
        "--allow-quality-warnings", help="Exit 0 despite warnings (errors always fail).")] = False,
) -> None:
    """Data-quality gate for your own labelled image folder: corrupt files, copies across labels, near-duplicates."""
    from medkit.imaging.trust import folder_quality

    rep = folder_quality(folder, allow_warnings=allow_quality_warnings, out=out)
    q = rep.summary()
    typer.echo(f"{q['n_rows']} images: {q['n_errors']} errors, {q['n_warnings']} warnings, {q['n_info']} notes "
               f"-> {out / 'quality.html'}")


@app.command()
def evaluate(
    bundle: Annotated[Path, typer.Option(help="Bundle directory written by `train`.")],
    dataset: Annotated[str | None, typer.Option(help="br35h, drive or chase_db1 (default: the training set).")] = None,
    split: Annotated[str, typer.Option(help="Split to evaluate.")] = "test",
    data_dir: Annotated[Path | None, _DATA] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for metrics.json and per_image.csv.")] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for CIs.")] = 1000,
) -> None:
    """Evaluate a bundle with 95% CIs."""
    from medkit.imaging.evaluate import evaluate_bundle, headline

    typer.echo(headline(evaluate_bundle(bundle, dataset, split=split, data_dir=data_dir, n_boot=n_boot, out=out)))


@app.command()
def predict(
    inputs: Annotated[list[Path], typer.Argument(help="Image files or folders.")],
    bundle: Annotated[Path, typer.Option(help="Bundle directory (or a `train --task segment3d` run directory).")],
    out: Annotated[Path, typer.Option(help="Output folder (predictions.csv, overlays/).")] = Path("predictions"),
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more samples than this.")] = 2**28,
    explain: Annotated[bool, typer.Option(
        "--explain", help="Add a Grad-CAM summary per image (overlay path, peak location) to explanations.json.")] = False,
) -> None:
    """Predict labels (classifier) or masks (segmenter) and write overlays; bad files are reported, not fatal."""
    from medkit.imaging.image import ImageLimits
    from medkit.imaging.io import PICTURE_SUFFIXES
    from medkit.imaging.serving import predict_paths

    if (bundle / "model.json").is_file():  # a `train --task segment3d` run: NIfTI volumes in, NIfTI masks out
        from medkit.imaging.segment3d_workflow import predict_volume_files

        vols = [f for p in inputs for f in (sorted(p.glob("*.nii*")) if p.is_dir() else [p])]
        rows3 = predict_volume_files(bundle, vols, out)
        bad3 = [r for r in rows3 if "error" in r]
        for r in bad3:
            typer.echo(f"error: {r['error']}", err=True)
        typer.echo(f"{len(rows3) - len(bad3)} volumes segmented, {len(bad3)} refused -> {out / 'predictions.csv'}")
        if bad3 and len(bad3) == len(rows3):
            raise typer.Exit(code=2)
        return
    files: list[Path] = []
    for p in inputs:
        if p.is_dir() and not any(f.suffix.lower() == ".dcm" for f in p.iterdir()):
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in PICTURE_SUFFIXES)
        else:
            files.append(p)
    rows = predict_paths(bundle, files, out, limits=ImageLimits(max_pixels=max_pixels), explain=explain)
    bad = [r for r in rows if "error" in r]
    for r in bad:
        typer.echo(f"error: {r['error']}", err=True)
    typer.echo(f"{len(rows) - len(bad)} predicted, {len(bad)} refused -> {out / 'predictions.csv'}")
    if explain:
        typer.echo(f"Explanations: {out / 'explanations.json'}")
    if bad and len(bad) == len(rows):
        raise typer.Exit(code=2)


@app.command()
def export(
    bundle: Annotated[Path, typer.Option(help="Bundle directory.")],
    out: Annotated[Path | None, typer.Option(help="ONNX file (default: <bundle>/model.onnx).")] = None,
) -> None:
    """Export the bundle's model (with intensity preprocessing) to ONNX and check parity with onnxruntime."""
    import numpy as np
    import torch

    from medkit.core.errors import ModelError
    from medkit.imaging.bundle import load_estimator
    from medkit.imaging.classifier import ImageClassifier
    from medkit.imaging.export import export_onnx, onnx_parity

    info, est = load_estimator(bundle)
    target = out or bundle / "model.onnx"
    rng = np.random.default_rng(0)
    model: torch.nn.Module
    if isinstance(est, ImageClassifier):
        model = est.model_
        x = rng.uniform(0, est.scale, (4, *est.input_shape_)).astype(np.float32)
    else:
        model = torch.nn.Sequential(est.model_, torch.nn.Softmax(dim=1)).eval()
        x = rng.normal(size=(2, est.in_channels_, 256, 192)).astype(np.float32)  # non-square: H, W stay dynamic
    in_bundle = target.resolve().parent == bundle.resolve()
    export_onnx(model, torch.from_numpy(x[:1]), target)
    par = onnx_parity(model, target, x)
    if not par.ok:
        if in_bundle:  # never leave an unchecked artefact in the bundle (bundle.json would not list it)
            target.unlink()
        raise ModelError(f"onnxruntime output differs from torch by {par.max_abs_diff:.2e}", where=str(target),
                         fix="do not deploy the ONNX file; use the torch bundle")
    if in_bundle:  # re-record the artefact digests (bundle.json lists model.onnx from now on)
        from medkit.core.bundle import save_bundle_info

        info.extra["onnx_parity_max_abs_diff"] = par.max_abs_diff
        save_bundle_info(bundle, info)
    typer.echo(f"Wrote {target} (max |torch - onnxruntime| = {par.max_abs_diff:.1e} on {par.n_inputs} inputs)")
