"""Trust services for imaging runs: data-quality gate, model card + TRIPOD+AI checklist, per-image explanations.

* :func:`image_quality` runs :func:`medkit.quality.check_images` (byte-identical copies within/across classes,
  perceptual near-duplicates, class balance) after checking that every file opens, and — when the split is given —
  re-grades duplicate findings the split already handles: copies that all sit in one split cannot leak between
  train and test, so they become ``info`` (counted, listed, not blocking). Copies carrying both labels stay errors.
* :func:`gate_and_write` writes ``quality.html`` / ``quality.json`` into the run and refuses to train.
* :func:`folder_quality` does the same for a user folder with one sub-folder per class.
* :func:`segmentation_quality` is the light check for (image, mask, FOV) cases: pairing and sizes.
* :func:`write_card` writes ``trust.json`` and the model card / checklist via
  :func:`medkit.reporting.model_card.write_model_card`.
* :func:`explanation_summary` turns :func:`medkit.interpret.explain` (Grad-CAM) output into a small dict.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from medkit.core.errors import DataError
from medkit.core.runs import RunDir

__all__ = ["explanation_summary", "folder_quality", "gate_and_write", "image_quality", "segmentation_quality",
           "write_card"]


def _check_readable(paths: list[Path], source: str) -> None:
    """Every file must decode; name the first that does not (a corrupt file would otherwise crash hashing)."""
    from PIL import Image

    for p in paths:
        try:
            with Image.open(p) as im:
                im.load()
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for broken files
            raise DataError(f"image file cannot be decoded ({type(exc).__name__}: {exc})", where=f"{source}: {p}",
                            fix="remove or replace the corrupt file and run again") from None


def image_quality(paths: list[Path], labels: np.ndarray, source: str, split: np.ndarray | None = None,
                  sha256: np.ndarray | None = None, group_distance: int = 2) -> Any:
    """Quality report for a labelled image set.

    Parameters
    ----------
    paths, labels
        Files and their class labels, ``(n,)``.
    source
        Name used in findings (dataset name or folder).
    split
        ``(n,)`` split names of a split that groups images whose pHash differ in ≤ ``group_distance`` bits
        (:func:`medkit.data.imaging_sets.br35h_split`). When given, same-label duplicate warnings are re-graded
        to ``info`` if every byte-identical copy sits in one split (verified here) — near-duplicates at the
        check's distance (2 bits) are grouped by construction.
    sha256
        ``(n,)`` digests matching ``paths`` (used for the verification; computed by the check otherwise).

    Raises
    ------
    DataError
        A file cannot be decoded (names the file).
    """
    from medkit.core.hashing import sha256_file
    from medkit.quality import Finding, check_images

    paths = [Path(p) for p in paths]
    _check_readable(paths, source)
    rep = check_images(paths, np.asarray(labels), source, near=True)
    if split is None or group_distance < 2:
        return rep
    split = np.asarray(split)
    digests = np.asarray(sha256) if sha256 is not None else np.array([sha256_file(p) for p in paths])
    straddle = {d for d in set(digests) if len(set(split[digests == d])) > 1}
    # Near-identical images under different labels are label noise, which grouping does not fix: keep warning.
    cross = int(rep.tables.get("near_duplicates", [{}])[0].get("pairs with different labels", 0))
    handled = []
    for f in rep.findings:
        near = "perceptual hash" in f.message
        if f.check == "duplicates" and f.severity == "warning" and not straddle and not (near and cross):
            handled.append(replace(f, severity="info", message=f.message + " — handled: the split keeps each "
                                   f"group of copies (pHash distance ≤ {group_distance}) inside one split",
                                   fix="nothing to do for this split; de-duplicate before any other split"))
        else:
            handled.append(f)
    if straddle:
        handled.append(Finding("duplicates", "error", f"{len(straddle)} byte-identical image(s) sit in more than "
                               "one split", where=source, fix="group copies before splitting"))
    rep.findings = handled
    return rep


def gate_and_write(run: RunDir, rep: Any, allow_warnings: bool) -> dict[str, Any]:
    """Write ``quality.json``/``quality.html`` into ``run`` and refuse on errors (and warnings unless allowed)."""
    from medkit.quality import gate

    rep.write_json(run.path / "quality.json")
    rep.write_html(run.path / "quality.html", title=f"Data quality: {rep.source}")
    gate(rep, allow_warnings=allow_warnings)
    return dict(rep.summary())


def folder_quality(folder: str | Path, allow_warnings: bool = False, out: str | Path | None = None) -> Any:
    """Quality-check a user image folder laid out as ``folder/<class>/*.png|jpg|...`` before training.

    Writes ``quality.html``/``quality.json`` to ``out`` (default ``folder``'s parent is left untouched: nothing
    is written unless ``out`` is given) and raises :class:`medkit.core.errors.ValidationError` when the gate
    refuses, :class:`DataError` for a corrupt file or a folder without two classes.
    """
    from medkit.imaging.io import PICTURE_SUFFIXES
    from medkit.quality import gate

    root = Path(folder)
    classes = sorted(d for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    if len(classes) < 2:
        raise DataError(f"expected one sub-folder per class, found {len(classes)}", where=str(root),
                        fix="arrange images as <folder>/<class name>/<image files> with at least two classes")
    paths, labels = [], []
    for k, d in enumerate(classes):
        files = sorted(f for f in d.iterdir() if f.suffix.lower() in PICTURE_SUFFIXES)
        paths += files
        labels += [k] * len(files)
    rep = image_quality(paths, np.asarray(labels), str(root))
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        rep.write_json(Path(out) / "quality.json")
        rep.write_html(Path(out) / "quality.html", title=f"Data quality: {root}")
    gate(rep, allow_warnings=allow_warnings)
    return rep


def segmentation_quality(cases: list[Any], source: str) -> Any:
    """Light check for segmentation cases: image, mask and FOV exist, have the same height × width, masks are
    non-empty inside the FOV. Mismatches are errors naming the case id."""
    from medkit.quality import Finding, QualityReport

    rep = QualityReport(source=source, n_rows=len(cases), n_columns=3)
    rows = []
    for c in cases:
        hw = tuple(np.asarray(c.image).shape[:2])
        shapes = {"mask": tuple(np.asarray(c.mask).shape[:2]), "fov": tuple(np.asarray(c.fov).shape[:2])}
        bad = [k for k, s in shapes.items() if s != hw]
        if bad:
            rep.add(Finding("pairing", "error", f"{'/'.join(bad)} size differs from the image {hw}",
                            where=f"{source}: case {c.id}", fix="pair each image with its own mask"))
        elif not np.asarray(c.mask)[np.asarray(c.fov, dtype=bool)].any():
            rep.add(Finding("pairing", "warning", "mask is empty inside the field of view",
                            where=f"{source}: case {c.id}", fix="check the mask file belongs to this image"))
        rows.append({"case": str(c.id), "height": hw[0], "width": hw[1]})
    sizes = {(r["height"], r["width"]) for r in rows}
    rep.tables["sizes"] = [{"distinct image sizes": len(sizes), "cases": len(rows)}]
    rep.checks_run += ["pairing", "sizes"]
    return rep


def write_card(run: RunDir, quality: Any, *, n: int | None, outcome: str, info: dict[str, Any],
               limitations: list[str], events: int | None = None) -> Any:
    """Write ``trust.json`` and the model card + TRIPOD+AI checklist; returns ``ModelCardPaths``.

    ``n`` counts images (Br35H has no patient ids), ``events`` the images with the positive label.
    """
    from medkit.reporting.model_card import ModelCardInfo, write_model_card

    pop: dict[str, Any] = {"n": n, "n_features": None, "unit": "images"}
    if events is not None and n:
        pop.update(events=events, prevalence=events / n)
    explanation = {"method": "Grad-CAM", "n": None, "summary": "saliency overlays for test images are shown in "
                   "report.html; the map passes the weight-randomisation sanity check (docs/imaging.md)"}
    run.write_json("trust.json", {"quality": quality.summary(), "population": pop, "outcome": outcome,
                                  "limitations": limitations, "explanation": explanation})
    return write_model_card(run.path, ModelCardInfo(**info))


def explanation_summary(exp: Any, i: int, overlay: str | None = None) -> dict[str, Any]:
    """Small JSON-ready summary of one image's Grad-CAM: method, class score, peak (row, col) in model-input
    pixels and as fractions of height/width, the fraction of the map above 0.5, and the overlay path."""
    m = np.asarray(exp.values[i])  # (H, W) in [0, 1]
    r, c = np.unravel_index(int(np.argmax(m)), m.shape)
    cls = exp.extra.get("class_idx")
    return {"method": exp.method, "output": exp.output, "score": float(exp.predictions[i]),
            "class_idx": None if cls is None else int(np.asarray(cls)[i]),
            "target_layer": str(exp.extra.get("target_layer", "")), "map_shape": list(m.shape),
            "peak_row": int(r), "peak_col": int(c), "peak_row_frac": round(float(r) / m.shape[0], 4),
            "peak_col_frac": round(float(c) / m.shape[1], 4), "fraction_above_half": float((m > 0.5).mean()),
            "overlay": overlay}
