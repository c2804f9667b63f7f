"""Segmentation metrics inside a region of interest (e.g. the retinal field of view), per image and pooled.

Dice, IoU, sensitivity, specificity and pixel AUROC are computed on the pixels inside the FOV only.
HD95 follows MONAI's definition (symmetric: the larger of the two directed 95th percentiles of boundary-to-
boundary Euclidean distances, boundaries = mask XOR its erosion) so numbers are comparable; it is computed
on the masks restricted to the FOV, in pixels unless ``spacing`` is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from medkit.core.errors import DataError

__all__ = ["SegScores", "dice", "hd95", "iou", "score_case", "score_cases", "summarise"]


def _check(pred: np.ndarray, target: np.ndarray, where: str = "mask") -> tuple[np.ndarray, np.ndarray]:
    if pred.shape != target.shape:
        raise DataError(f"prediction {pred.shape} and reference {target.shape} differ in shape", where=where,
                        fix="predict at the reference's resolution")
    return pred.astype(bool), target.astype(bool)


def dice(pred: np.ndarray, target: np.ndarray) -> float:
    """``2|A∩B| / (|A|+|B|)``; 1.0 when both are empty (MONAI's ``ignore_empty=False`` convention)."""
    p, t = _check(pred, target)
    s = p.sum() + t.sum()
    return 1.0 if s == 0 else float(2 * (p & t).sum() / s)


def pooled_dice(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """Dice pooled over ``(pred, target)`` mask pairs: ``2·Σ|A∩B| / Σ(|A|+|B|)``, as MONAI-style validation monitors
    use it (large images weigh more than small ones); 0.0 when every mask is empty (a 1-pixel floor, so an
    all-empty validation set never looks perfect)."""
    inter = tot = 0.0
    for pred, target in pairs:
        p, t = _check(pred, target)
        inter += float((p & t).sum())
        tot += float(p.sum() + t.sum())
    return 2 * inter / max(tot, 1.0)


def iou(pred: np.ndarray, target: np.ndarray) -> float:
    """``|A∩B| / |A∪B|``; 1.0 when both are empty."""
    p, t = _check(pred, target)
    u = (p | t).sum()
    return 1.0 if u == 0 else float((p & t).sum() / u)


def _edges(m: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return m & ~ndimage.binary_erosion(m)


def hd95(pred: np.ndarray, target: np.ndarray, spacing: Sequence[float] | None = None) -> float:
    """Symmetric 95th-percentile Hausdorff distance between mask boundaries (``nan`` if either mask is empty)."""
    from scipy import ndimage

    p, t = _check(pred, target)
    if not p.any() or not t.any():
        return float("nan")
    ep, et = _edges(p), _edges(t)
    samp = tuple(spacing) if spacing is not None else None
    d_to_t = ndimage.distance_transform_edt(~et, sampling=samp)
    d_to_p = ndimage.distance_transform_edt(~ep, sampling=samp)
    a = np.percentile(d_to_t[ep], 95)
    b = np.percentile(d_to_p[et], 95)
    return float(max(a, b))


@dataclass
class SegScores:
    """Scores of one image (inside its FOV)."""

    id: str
    dice: float
    iou: float
    sensitivity: float
    specificity: float
    auroc: float
    hd95: float
    fg_fraction_true: float
    fg_fraction_pred: float


def score_case(case_id: str, prob: np.ndarray, target: np.ndarray, fov: np.ndarray | None = None,
               threshold: float = 0.5) -> SegScores:
    """Scores for one probability map ``(H, W)`` against the reference mask, inside ``fov``."""
    from sklearn.metrics import roc_auc_score

    f = np.ones(target.shape, bool) if fov is None else fov.astype(bool)
    if prob.shape != target.shape or f.shape != target.shape:
        raise DataError(f"shapes differ: prob {prob.shape}, mask {target.shape}, fov {f.shape}", where=case_id,
                        fix="predict at the reference's resolution")
    t = target.astype(bool) & f
    p = (prob >= threshold) & f
    tp, fp = float((p & t).sum()), float((p & ~t & f).sum())
    fn, tn = float((~p & t).sum()), float((~p & ~t & f).sum())
    yt, yp = t[f], prob[f]
    auc = float(roc_auc_score(yt, yp)) if 0 < yt.sum() < yt.size else float("nan")
    return SegScores(case_id, dice(p, t), iou(p, t), tp / max(tp + fn, 1), tn / max(tn + fp, 1), auc, hd95(p, t),
                     float(yt.mean()), float(p[f].mean()))


def score_cases(ids: Sequence[str], probs: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                fovs: Sequence[np.ndarray | None] | None = None, threshold: float = 0.5) -> pd.DataFrame:
    """Per-image table (one row per image)."""
    rows = [asdict(score_case(i, p, t, None if fovs is None else fovs[k], threshold))
            for k, (i, p, t) in enumerate(zip(ids, probs, targets, strict=True))]
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Mean over images with a percentile bootstrap 95 % CI over images (images are the unit of replication)."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    for col in ("dice", "iou", "sensitivity", "specificity", "auroc", "hd95"):
        v = table[col].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if not len(v):
            out[col] = {"value": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
            continue
        boots = [float(np.mean(rng.choice(v, len(v)))) for _ in range(n_boot)] if n_boot else [float(v.mean())]
        out[col] = {"value": float(v.mean()), "ci_low": float(np.percentile(boots, 2.5)),
                    "ci_high": float(np.percentile(boots, 97.5))}
    return out
