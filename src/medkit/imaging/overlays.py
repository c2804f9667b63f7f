"""Overlay pictures for clinicians: saliency heat maps on the image, and segmentation error maps."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

__all__ = ["heatmap_overlay", "mask_overlay", "png_bytes", "save_png"]


def _gray_rgb(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 3 and a.shape[-1] == 3:
        rgb = a
    else:
        rgb = np.repeat(a[..., None], 3, axis=-1)
    lo, hi = float(rgb.min()), float(rgb.max())
    return (rgb - lo) / max(hi - lo, 1e-6)  # (H, W, 3) in [0, 1]


def heatmap_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45, threshold: float = 0.2) -> np.ndarray:
    """Blend a ``[0, 1]`` heat map (jet colours) over ``image``; values below ``threshold`` stay transparent.

    Returns ``(H, W, 3)`` uint8.
    """
    from matplotlib import colormaps

    base = _gray_rgb(image)
    h = np.clip(np.asarray(heat, dtype=np.float32), 0, 1)
    if h.shape != base.shape[:2]:
        from medkit.imaging.prep import resize_array

        h = np.clip(resize_array(h, base.shape[:2]), 0, 1)
    col = colormaps["jet"](h)[..., :3]
    a = (alpha * (h >= threshold) * h)[..., None]
    return (255 * ((1 - a) * base + a * col)).astype(np.uint8)


def mask_overlay(image: np.ndarray, pred: np.ndarray, target: np.ndarray | None = None) -> np.ndarray:
    """Prediction outline on the image: with a reference, green = true positive, red = false positive,
    blue = missed (false negative); without one, the prediction in yellow. Returns ``(H, W, 3)`` uint8."""
    out = _gray_rgb(image) * 0.8
    p = pred.astype(bool)
    if target is None:
        out[p] = [1.0, 0.9, 0.0]
    else:
        t = target.astype(bool)
        out[p & t] = [0.1, 0.9, 0.1]
        out[p & ~t] = [1.0, 0.1, 0.1]
        out[~p & t] = [0.2, 0.4, 1.0]
    return (255 * out).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode ``(H, W, 3)`` uint8 (or ``(H, W)``) as PNG."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(np.asarray(rgb, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def save_png(rgb: np.ndarray, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(png_bytes(rgb))
    return p
