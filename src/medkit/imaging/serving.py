"""Prediction from a bundle: :func:`load_predictor` for ``medkit serve``, :func:`predict_paths` for the CLI.

The predictor takes the uploaded bytes and the original file name (the suffix selects the reader), runs the
same checks as training-time loading (size limit from the header, grayscale/bit depth, corrupt files) and
returns JSON-ready output with a Grad-CAM overlay (classifier) or a mask overlay (segmenter) as base64 PNG.
"""

from __future__ import annotations

import base64
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medkit.core.bundle import BundleInfo
from medkit.core.errors import DataError
from medkit.imaging.bundle import load_estimator
from medkit.imaging.classifier import ImageClassifier
from medkit.imaging.image import DEFAULT_LIMITS, ImageLimits
from medkit.imaging.io import load_image
from medkit.imaging.overlays import heatmap_overlay, mask_overlay, png_bytes
from medkit.imaging.prep import fundus_input, load_resized
from medkit.imaging.segmenter import UNetSegmenter

__all__ = ["ImagingPredictor", "load_predictor", "predict_paths"]

_MAX_UPLOAD_BYTES = 256 * 2**20


def _b64(rgb: np.ndarray) -> str:
    return base64.b64encode(png_bytes(rgb)).decode("ascii")


@dataclass
class ImagingPredictor:
    """Satisfies :class:`medkit.core.bundle.Predictor`."""

    info: BundleInfo
    estimator: ImageClassifier | UNetSegmenter
    limits: ImageLimits = field(default_factory=ImageLimits)

    def predict(self, inputs: Any, *, explain: bool = True) -> dict[str, Any]:
        """Predict for one image.

        Parameters
        ----------
        inputs
            ``{"bytes": b, "filename": "scan.png"}``, a ``(bytes, filename)`` pair, or a path.
        explain
            Add the overlay PNG (base64): Grad-CAM for classifiers, the mask for segmenters.
        """
        if isinstance(inputs, (str, Path)):
            return self.predict_file(Path(inputs), explain=explain)
        data, name = (inputs["bytes"], inputs.get("filename", "upload")) if isinstance(inputs, dict) else inputs
        if not isinstance(data, (bytes, bytearray)) or not data:
            raise DataError("no image bytes received", where=str(name), fix="upload a PNG, JPEG, TIFF or DICOM file")
        if len(data) > _MAX_UPLOAD_BYTES:
            raise DataError(f"upload is {len(data):,} bytes, above {_MAX_UPLOAD_BYTES:,}", where=str(name),
                            fix="downsample the image first")
        suffix = "".join(Path(str(name)).suffixes[-2:]) or ".dcm"
        with tempfile.TemporaryDirectory(prefix="medkit-img-") as tmp:
            f = Path(tmp) / f"upload{suffix}"
            f.write_bytes(bytes(data))
            try:
                out = self.predict_file(f, explain=explain)
            except DataError as exc:
                # Name the user's file, not the temporary copy.
                raise DataError(exc.what.replace(str(f), str(name)), where=str(name), fix=exc.fix) from None
        out["filename"] = str(name)
        return out

    def predict_file(self, path: Path, *, explain: bool = True) -> dict[str, Any]:
        if isinstance(self.estimator, ImageClassifier):
            return self._classify(path, explain)
        return self._segment(path, explain)

    def _classify(self, path: Path, explain: bool) -> dict[str, Any]:
        clf = self.estimator
        assert isinstance(clf, ImageClassifier)
        pre = self.info.preprocessing
        loaded = load_resized([path], int(pre["image_size"]), limits=self.limits, bit_depth=pre.get("bit_depth", 8))
        proba = clf.predict_proba(loaded.array)[0]
        k = int(np.argmax(proba))
        cls = clf.classes_[k]
        out: dict[str, Any] = {"label": self.info.label_map.get(str(cls), str(cls)), "class": int(cls),
                               "probability": float(proba[-1]), "probabilities": proba.tolist(),
                               "corrections": list(loaded.converted.values())}
        if explain:
            from medkit.interpret.gradcam import grad_cam

            x = torch.from_numpy(loaded.array[:, None])  # (1, 1, S, S)
            cam = grad_cam(clf.model_, x, class_idx=k, target_layer=pre.get("gradcam_layer"))[0]
            out["gradcam_png"] = _b64(heatmap_overlay(loaded.array[0], cam))
            out["explanation"] = f"Grad-CAM for class '{out['label']}' (red = regions that raised this score)"
        return out

    def _segment(self, path: Path, explain: bool) -> dict[str, Any]:
        from medkit.data.imaging_sets import chase_fov

        seg = self.estimator
        assert isinstance(seg, UNetSegmenter)
        img = load_image(path, limits=self.limits, expect="rgb", bit_depth=8)
        rgb = np.asarray(img.array, dtype=np.uint8)
        fov = chase_fov(rgb)
        prob = seg.predict_proba([fundus_input(rgb, fov, self.info.preprocessing.get("channels", "green"))])[0]
        mask = (prob >= seg.threshold) & fov
        out: dict[str, Any] = {"foreground_fraction": float(mask[fov].mean()) if fov.any() else 0.0,
                               "shape": list(mask.shape),
                               "mask_png": base64.b64encode(png_bytes(mask.astype(np.uint8) * 255)).decode("ascii")}
        if explain:
            out["overlay_png"] = _b64(mask_overlay(rgb, mask))
        return out


def load_predictor(bundle_dir: str | Path, *, limits: ImageLimits = DEFAULT_LIMITS) -> ImagingPredictor:
    """Load an imaging bundle for prediction (used by ``medkit serve`` and ``medkit imaging predict``)."""
    info, est = load_estimator(bundle_dir)
    max_px = info.preprocessing.get("max_pixels")
    if max_px and limits == DEFAULT_LIMITS:
        limits = ImageLimits(max_pixels=int(max_px))
    return ImagingPredictor(info, est, limits)


def predict_paths(bundle_dir: str | Path, inputs: list[Path], out_dir: str | Path,
                  limits: ImageLimits = DEFAULT_LIMITS, explain: bool = False) -> list[dict[str, Any]]:
    """Predict every file, write ``predictions.csv`` and overlay PNGs to ``out_dir``; bad files get an error row.

    With ``explain`` (classifier bundles), each row gets ``explanation``: the summary of
    :func:`medkit.interpret.explain` Grad-CAM output (overlay path, peak location; no arrays), and all rows are
    written to ``explanations.json``.
    """
    import pandas as pd

    pred = load_predictor(bundle_dir, limits=limits)
    out = Path(out_dir)
    (out / "overlays").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for f in inputs:
        try:
            r = pred.predict_file(f, explain=True)
        except DataError as exc:
            rows.append({"file": str(f), "error": str(exc)})
            continue
        for key in ("gradcam_png", "overlay_png", "mask_png"):
            if key in r:
                target = out / "overlays" / f"{f.stem}_{key.replace('_png', '')}.png"
                target.write_bytes(base64.b64decode(r.pop(key)))
                r[key.replace("_png", "_path")] = str(target)
        if explain and isinstance(pred.estimator, ImageClassifier):
            r["explanation"] = _explain_file(pred, f, r.get("class"), r.get("gradcam_path"))
        rows.append({"file": str(f), **{k: v for k, v in r.items() if not isinstance(v, list)}})
    pd.DataFrame([{k: v for k, v in r.items() if k != "explanation"} for r in rows]).to_csv(
        out / "predictions.csv", index=False)
    if explain:
        from medkit.core.runs import atomic_write_text, dumps

        atomic_write_text(out / "explanations.json", dumps([{"file": r["file"], "explanation": r.get("explanation"),
                                                              "error": r.get("error")} for r in rows]))
    return rows


def _explain_file(pred: ImagingPredictor, path: Path, cls: Any, overlay: str | None) -> dict[str, Any]:
    """Grad-CAM through :func:`medkit.interpret.explain` for the predicted class, summarised (no arrays)."""
    from medkit.imaging.trust import explanation_summary
    from medkit.interpret import explain

    clf = pred.estimator
    assert isinstance(clf, ImageClassifier)
    pre = pred.info.preprocessing
    loaded = load_resized([path], int(pre["image_size"]), limits=pred.limits, bit_depth=pre.get("bit_depth", 8))
    k = int(np.flatnonzero(np.asarray(clf.classes_) == cls)[0]) if cls is not None else None
    kw: dict[str, Any] = {"class_idx": k}
    if pre.get("gradcam_layer"):
        kw["target_layer"] = pre["gradcam_layer"]
    exp = explain(clf.model_, loaded.array[:, None], method="grad-cam", **kw)
    return explanation_summary(exp, 0, overlay)
