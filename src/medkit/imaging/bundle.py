"""Imaging model bundles (see :mod:`medkit.core.bundle`): weights, ONNX graph, preprocessing, labels, metrics.

Layout::

    bundle.json   pillar "imaging", kind "classifier" | "segmenter", preprocessing, label_map, metrics
    model.pt      {"params": estimator params, "state_dict", "classes", "input_shape" | "in_channels"}
    model.onnx    model + intensity preprocessing (classifier) / network + softmax (segmenter)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from medkit.core.bundle import BundleInfo, load_bundle_info, save_bundle_info
from medkit.core.errors import ModelError
from medkit.imaging.classifier import ImageClassifier
from medkit.imaging.export import export_onnx, onnx_parity
from medkit.imaging.nets import Preprocess, WithPreprocess, make_classifier_net, make_segmenter_net
from medkit.imaging.segmenter import UNetSegmenter

__all__ = ["load_estimator", "save_classifier_bundle", "save_segmenter_bundle"]


def _params(est: Any) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in est.get_params().items()}


def save_classifier_bundle(clf: ImageClassifier, path: str | Path, *, image_size: int, label_map: dict[str, str],
                           metrics: dict[str, Any] | None = None, run_dir: str | None = None,
                           dataset: str = "", max_pixels: int | None = None, onnx: bool = True) -> Path:
    """Write a classifier bundle; the ONNX parity (≤ 1e-4) is checked on random inputs and recorded."""
    clf._check()
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    torch.save({"params": _params(clf), "state_dict": clf.model_.state_dict(), "classes": clf.classes_.tolist(),
                "input_shape": list(clf.input_shape_)}, p / "model.pt")
    extra: dict[str, Any] = {"dataset": dataset}
    if onnx:
        x = np.random.default_rng(0).uniform(0, clf.scale, (4, *clf.input_shape_)).astype(np.float32)
        export_onnx(clf.model_, torch.from_numpy(x[:1]), p / "model.onnx")
        par = onnx_parity(clf.model_, p / "model.onnx", x)
        extra["onnx_parity_max_abs_diff"] = par.max_abs_diff
    pre = clf.model_.pre.config()
    info = BundleInfo(
        pillar="imaging", kind="classifier", name=p.name,
        inputs={"type": "image", "formats": ["png", "jpeg", "tiff", "dicom"], "grayscale": True, "bit_depth": 8},
        outputs={"label": "str", "probability": "float", "gradcam_png": "base64"},
        metrics=metrics or {}, label_map=label_map, run_dir=run_dir,
        preprocessing={"image_size": image_size, **pre, "expect": "grayscale", "bit_depth": 8,
                       "max_pixels": max_pixels, "gradcam_layer": "net.layer3" if clf.arch == "resnet" else None,
                       "resize": "bilinear, antialiased (Pillow), aspect ratio not kept"},
        extra=extra)
    save_bundle_info(p, info)
    return p


def save_segmenter_bundle(seg: UNetSegmenter, path: str | Path, *, channels: str = "green",
                          label_map: dict[str, str] | None = None, metrics: dict[str, Any] | None = None,
                          run_dir: str | None = None, dataset: str = "", onnx: bool = True) -> Path:
    """Write a segmenter bundle (fundus vessel segmentation preprocessing)."""
    seg._check()
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    torch.save({"params": _params(seg), "state_dict": seg.model_.state_dict(), "in_channels": seg.in_channels_},
               p / "model.pt")
    extra: dict[str, Any] = {"dataset": dataset}
    if onnx:
        wrapped = torch.nn.Sequential(seg.model_, torch.nn.Softmax(dim=1)).eval()
        x = np.random.default_rng(0).normal(size=(2, seg.in_channels_, 256, 192)).astype(np.float32)
        export_onnx(wrapped, torch.from_numpy(x[:1]), p / "model.onnx")
        extra["onnx_parity_max_abs_diff"] = onnx_parity(wrapped, p / "model.onnx", x).max_abs_diff
    info = BundleInfo(
        pillar="imaging", kind="segmenter", name=p.name,
        inputs={"type": "image", "formats": ["png", "jpeg", "tiff"], "rgb": True},
        outputs={"mask_png": "base64", "foreground_fraction": "float", "overlay_png": "base64"},
        metrics=metrics or {}, label_map=label_map or {"0": "background", "1": "vessel"}, run_dir=run_dir,
        preprocessing={"input": "fundus", "channels": channels, "standardise": "per image inside FOV",
                       "fov": "derived from red channel > 20 when no mask is given", "roi_size": seg.roi_size,
                       "threshold": seg.threshold},
        extra=extra)
    save_bundle_info(p, info)
    return p


def load_estimator(path: str | Path) -> tuple[BundleInfo, ImageClassifier | UNetSegmenter]:
    """Rebuild the fitted estimator stored in a bundle directory."""
    info = load_bundle_info(path)
    if info.pillar != "imaging":
        raise ModelError(f"bundle is for pillar '{info.pillar}', not imaging", where=str(path),
                         fix="use `medkit <pillar> predict` for that bundle")
    f = Path(path) / "model.pt"
    if not f.is_file():
        raise ModelError("bundle has no model.pt", where=str(path), fix="re-create it with `medkit imaging train`")
    try:
        blob = torch.load(f, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"cannot read model.pt ({exc})", where=str(f), fix="re-create the bundle") from None
    params = blob["params"]
    if info.kind == "classifier":
        clf = ImageClassifier(**params)
        shape = tuple(blob["input_shape"])
        pre = info.preprocessing
        net = make_classifier_net(clf.arch, in_channels=shape[0], n_classes=len(blob["classes"]), width=clf.width)
        clf.model_ = WithPreprocess(Preprocess(pre["scale"], pre["mean"], pre["std"]), net)
        clf.model_.load_state_dict(blob["state_dict"])
        clf.model_.eval()
        clf.classes_ = np.asarray(blob["classes"])
        clf.input_shape_ = shape
        return info, clf
    if info.kind == "segmenter":
        params["channels"] = tuple(params["channels"])
        seg = UNetSegmenter(**params)
        seg.in_channels_ = int(blob["in_channels"])
        seg.model_ = make_segmenter_net(seg.arch, in_channels=seg.in_channels_, n_classes=2,
                                        channels=seg.channels, num_res_units=seg.num_res_units)
        seg.model_.load_state_dict(blob["state_dict"])
        seg.model_.eval()
        return info, seg
    raise ModelError(f"unknown imaging bundle kind '{info.kind}'", where=str(path), fix="re-create the bundle")
