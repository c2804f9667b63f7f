"""Choosing a decision threshold by a clinical criterion, with the operating point it gives.

* :func:`threshold_for_sensitivity` — the highest threshold whose sensitivity is at least the target
  (a rule-out test: "miss at most 1 in 20 cancers");
* :func:`threshold_for_specificity` — the lowest threshold whose specificity is at least the target;
* :func:`threshold_by_net_benefit` — the decision threshold with the highest net benefit (Vickers & Elkin
  2006) at a threshold probability agreed with clinicians.

Threshold choice is itself fitted: choose it on validation data and report its operating point on test
data (:func:`operating_point`), or the sensitivity you quote is optimistic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from medkit.core.errors import ConfigError
from medkit.evaluation.decision import net_benefit
from medkit.evaluation.metrics import check_binary_inputs


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score 95% interval for a proportion ``k / n`` (NaN when n = 0)."""
    if n == 0:
        return float("nan"), float("nan")
    ph = k / n
    d = 1 + z * z / n
    c = (ph + z * z / (2 * n)) / d
    h = z * np.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / d
    return float(max(0.0, c - h)), float(min(1.0, c + h))


@dataclass(frozen=True)
class OperatingPoint:
    """Performance at one threshold; proportions with Wilson 95% CIs."""

    threshold: float
    criterion: str
    sensitivity: float
    sensitivity_ci: tuple[float, float]
    specificity: float
    specificity_ci: tuple[float, float]
    ppv: float
    npv: float
    net_benefit: float
    flagged_fraction: float
    n: int
    net_benefit_treat_all: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def operating_point(y: np.ndarray, p: np.ndarray, threshold: float, criterion: str = "fixed") -> OperatingPoint:
    """Sensitivity, specificity, PPV, NPV and net benefit of ``p >= threshold``."""
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"threshold must be in (0, 1), got {threshold}", where="threshold", fix="e.g. 0.2")
    yv, pv = check_binary_inputs(y, p, where="operating_point")
    pred = pv >= threshold
    tp = int(np.sum(pred & (yv == 1)))
    fp = int(np.sum(pred & (yv == 0)))
    fn = int(np.sum(~pred & (yv == 1)))
    tn = int(np.sum(~pred & (yv == 0)))
    return OperatingPoint(
        threshold=float(threshold), criterion=criterion,
        sensitivity=tp / (tp + fn), sensitivity_ci=wilson(tp, tp + fn),
        specificity=tn / (tn + fp), specificity_ci=wilson(tn, tn + fp),
        ppv=tp / (tp + fp) if tp + fp else float("nan"), npv=tn / (tn + fn) if tn + fn else float("nan"),
        net_benefit=net_benefit(yv, pv, threshold), flagged_fraction=float(pred.mean()), n=len(yv))


def _candidates(p: np.ndarray) -> np.ndarray:
    u = np.unique(p)
    return u[(u > 0) & (u < 1)]


def threshold_for_sensitivity(y: np.ndarray, p: np.ndarray, target: float = 0.9) -> OperatingPoint:
    """Highest threshold with sensitivity >= ``target`` (fewest false positives at that sensitivity)."""
    if not 0.0 < target <= 1.0:
        raise ConfigError(f"target sensitivity must be in (0, 1], got {target}", where="target", fix="e.g. 0.9")
    yv, pv = check_binary_inputs(y, p, where="threshold_for_sensitivity")
    pos = np.sort(pv[yv == 1])[::-1]
    # The k-th highest positive score keeps k positives at or above it.
    k = int(np.ceil(target * len(pos)))
    t = float(pos[k - 1])
    t = min(max(t, 1e-6), 1 - 1e-6)
    return operating_point(yv, pv, t, f"sensitivity >= {target:g}")


def threshold_for_specificity(y: np.ndarray, p: np.ndarray, target: float = 0.9) -> OperatingPoint:
    """Lowest threshold with specificity >= ``target``."""
    if not 0.0 < target <= 1.0:
        raise ConfigError(f"target specificity must be in (0, 1], got {target}", where="target", fix="e.g. 0.9")
    yv, pv = check_binary_inputs(y, p, where="threshold_for_specificity")
    neg = np.sort(pv[yv == 0])
    k = int(np.ceil(target * len(neg)))
    # Negatives strictly below t are called negative: t just above the k-th lowest negative score.
    t = float(np.nextafter(neg[k - 1], 1.0))
    t = min(max(t, 1e-6), 1 - 1e-6)
    return operating_point(yv, pv, t, f"specificity >= {target:g}")


def threshold_by_net_benefit(y: np.ndarray, p: np.ndarray, threshold_probability: float = 0.1) -> OperatingPoint:
    """Decision threshold that maximises net benefit at a clinically chosen threshold probability.

    ``threshold_probability`` (p_t) encodes the harm-to-benefit trade-off agreed with clinicians: treating
    ``p_t / (1 - p_t)`` false positives is worth one true positive (p_t = 0.1: up to 9 unnecessary biopsies
    per cancer found). Net benefit ``TP/n - FP/n * p_t/(1 - p_t)`` is maximised over decision thresholds
    ``t``; for a perfectly calibrated model the optimum is ``t = p_t``, and a different optimum shows
    miscalibration around the decision point. Net benefits are only comparable at the same p_t, so p_t is an
    input, not something searched over. ``extra`` fields give treat-all net benefit for comparison.
    """
    if not 0.0 < threshold_probability < 1.0:
        raise ConfigError(f"threshold_probability must be in (0, 1), got {threshold_probability}",
                          where="threshold_probability", fix="agree one with clinicians, e.g. 0.1")
    yv, pv = check_binary_inputs(y, p, where="threshold_by_net_benefit")
    w = threshold_probability / (1 - threshold_probability)
    cand = np.unique(np.concatenate([_candidates(pv), [threshold_probability]]))
    order = np.argsort(-pv)
    ys = yv[order]
    tp, fp = np.cumsum(ys), np.cumsum(1 - ys)  # calling the top-k patients positive
    # For each candidate t, k = number of p >= t.
    k = len(pv) - np.searchsorted(np.sort(pv), cand, side="left")
    tpk = np.where(k > 0, tp[np.maximum(k - 1, 0)], 0)
    fpk = np.where(k > 0, fp[np.maximum(k - 1, 0)], 0)
    nb = (tpk - w * fpk) / len(pv)
    t = float(cand[int(np.argmax(nb))])
    op = operating_point(yv, pv, min(max(t, 1e-6), 1 - 1e-6), f"max net benefit at p_t = {threshold_probability:g}")
    prev = float(yv.mean())
    return OperatingPoint(**{**op.as_dict(), "net_benefit": float(nb.max()),
                             "net_benefit_treat_all": prev - (1 - prev) * w})
