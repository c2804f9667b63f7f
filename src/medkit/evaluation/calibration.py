"""Calibration of predicted probabilities: slope, intercept, ECE, ICI, reliability curve.

* slope: coefficient of logit(p) in a logistic regression of y on logit(p)
  (ideal 1; < 1 means predictions are too extreme);
* intercept: calibration-in-the-large, the intercept of a logistic regression of y
  with logit(p) as offset (ideal 0);
* ECE: expected calibration error over equal-width bins;
* ICI: integrated calibration index, mean |smoothed observed - predicted|, with a
  LOWESS-free isotonic smoother so it needs no extra dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from medkit.evaluation.metrics import brier, check_binary_inputs


@dataclass(frozen=True)
class CalibrationResult:
    slope: float
    intercept: float
    ece: float
    ici: float
    brier: float
    bin_mean_pred: list[float] = field(default_factory=list)
    bin_frac_pos: list[float] = field(default_factory=list)
    bin_count: list[int] = field(default_factory=list)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-8, 1 - 1e-8)
    return np.log(p / (1 - p))


def _fit_logistic(x: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None,
                  fit_slope: bool = True) -> tuple[float, float]:
    """Unpenalised logistic regression y ~ a + b*x (+ offset), by Newton / BFGS."""
    off = np.zeros_like(x) if offset is None else offset

    def nll(theta: np.ndarray) -> float:
        a, b = theta[0], (theta[1] if fit_slope else 0.0)
        z = a + b * x + off
        return float(np.sum(np.logaddexp(0, z) - y * z))

    def grad(theta: np.ndarray) -> np.ndarray:
        a, b = theta[0], (theta[1] if fit_slope else 0.0)
        r = 1 / (1 + np.exp(-(a + b * x + off))) - y
        g = [np.sum(r)]
        if fit_slope:
            g.append(np.sum(r * x))
        return np.array(g)

    x0 = np.array([0.0, 1.0]) if fit_slope else np.array([0.0])
    res = optimize.minimize(nll, x0, jac=grad, method="BFGS")
    return float(res.x[0]), float(res.x[1]) if fit_slope else 1.0


def calibration(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> CalibrationResult:
    """Calibration summary and reliability curve for binary outcomes."""
    y, p = check_binary_inputs(y, p, where="calibration")
    lp = _logit(p)
    _, slope = _fit_logistic(lp, y)
    intercept, _ = _fit_logistic(np.zeros_like(lp), y, offset=lp, fit_slope=False)
    edges = np.linspace(0, 1, n_bins + 1)
    bins = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    mp, fp, cnt = [], [], []
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if not m.any():
            continue
        mp.append(float(p[m].mean()))
        fp.append(float(y[m].mean()))
        cnt.append(int(m.sum()))
        ece += m.mean() * abs(p[m].mean() - y[m].mean())
    from sklearn.isotonic import IsotonicRegression

    smooth = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(p, y).predict(p)
    ici = float(np.mean(np.abs(smooth - p)))
    return CalibrationResult(slope=slope, intercept=intercept, ece=float(ece), ici=ici, brier=brier(y, p),
                             bin_mean_pred=mp, bin_frac_pos=fp, bin_count=cnt)
