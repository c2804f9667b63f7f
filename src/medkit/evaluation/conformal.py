"""Split-conformal prediction: prediction sets for classifiers, intervals for regressors, with coverage checks.

Given a calibration set that the model never trained on and that is exchangeable with future patients,
split conformal prediction (Vovk et al. 2005; Lei et al. 2018; Angelopoulos & Bates 2021) guarantees

    P(y_new in C(x_new)) >= 1 - alpha     (marginally, over patients)

and, with continuous scores, at most ``1 - alpha + 1/(n+1)``. Scores used here:

* classification (LAC): ``s = 1 - p_model(true class)``; the set holds every class with ``1 - p_k <= q``.
  ``class_conditional=True`` ("Mondrian") calibrates per class, so that e.g. deaths are covered at 1-alpha
  too, not only patients on average.
* regression (absolute residual): ``s = |y - y_hat|``; the interval is ``y_hat ± q``.

``q`` is the ``ceil((n+1)(1-alpha))/n`` empirical quantile of calibration scores. The implementation is
~40 lines of numpy so that clinicians' statisticians can audit it; the tests check it against MAPIE.
:func:`coverage_check` states the empirical coverage on held-out data with a binomial CI.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from medkit.core.errors import ConfigError, DataError, NotFittedError
from medkit.evaluation.thresholds import wilson


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}", where="alpha", fix="e.g. 0.1 for 90% coverage")


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The finite-sample corrected ``(1 - alpha)`` quantile; ``inf`` when the calibration set is too small."""
    s = np.sort(np.asarray(scores, dtype=float))
    n = len(s)
    k = int(np.ceil((n + 1) * (1 - alpha)))
    if k > n:
        return float("inf")
    return float(s[k - 1])


def _proba_2d(proba: np.ndarray) -> np.ndarray:
    p = np.asarray(proba, dtype=float)
    if p.ndim == 1:  # binary risks of class 1
        p = np.column_stack([1 - p, p])
    if not np.isfinite(p).all():
        raise DataError("probabilities contain NaN or inf", where="conformal: proba", fix="check the model output")
    return p


class ConformalClassifier(BaseEstimator):
    """Prediction sets from any model's predicted probabilities.

    Parameters
    ----------
    alpha
        Miscoverage: sets contain the true class with probability >= 1 - alpha.
    class_conditional
        Calibrate one quantile per class (coverage holds within each true class).

    Attributes
    ----------
    quantile_ : float or ndarray of shape (K,)
    n_calibration_ : int
    """

    def __init__(self, alpha: float = 0.1, class_conditional: bool = False) -> None:
        self.alpha = alpha
        self.class_conditional = class_conditional

    def fit(self, proba: np.ndarray, y: np.ndarray) -> ConformalClassifier:
        """Calibrate on held-out ``proba`` (n, K) or binary risks (n,), and integer labels ``y`` (n,)."""
        _check_alpha(self.alpha)
        p = _proba_2d(proba)
        yv = np.asarray(y).astype(int)
        if len(yv) != len(p):
            raise DataError(f"{len(yv)} labels for {len(p)} predictions", where="conformal: y",
                            fix="pass one label per prediction")
        if yv.min() < 0 or yv.max() >= p.shape[1]:
            raise DataError(f"labels must be 0..{p.shape[1] - 1}", where="conformal: y", fix="encode classes 0..K-1")
        scores = 1 - p[np.arange(len(yv)), yv]
        self.quantile_: Any
        if self.class_conditional:
            self.quantile_ = np.array([conformal_quantile(scores[yv == k], self.alpha) for k in range(p.shape[1])])
        else:
            self.quantile_ = conformal_quantile(scores, self.alpha)
        if np.any(np.isinf(self.quantile_)):
            need = int(np.ceil(1 / self.alpha)) - 1
            raise DataError(f"calibration set too small for alpha={self.alpha} (needs >= {need} rows"
                            f"{' per class' if self.class_conditional else ''})", where="conformal: calibration set",
                            fix="use a larger calibration set or a larger alpha")
        self.n_calibration_ = len(yv)
        return self

    def predict_sets(self, proba: np.ndarray) -> np.ndarray:
        """Boolean membership matrix (n, K): ``True`` where class k is in the prediction set."""
        if not hasattr(self, "quantile_"):
            raise NotFittedError("the conformal classifier is not calibrated", where="predict_sets",
                                 fix="call fit(calibration_proba, calibration_y) first")
        p = _proba_2d(proba)
        return np.asarray((1 - p) <= np.broadcast_to(self.quantile_, p.shape))


class ConformalRegressor(BaseEstimator):
    """Symmetric prediction intervals ``y_hat ± q`` from absolute calibration residuals."""

    def __init__(self, alpha: float = 0.1) -> None:
        self.alpha = alpha

    def fit(self, pred: np.ndarray, y: np.ndarray) -> ConformalRegressor:
        _check_alpha(self.alpha)
        pr, yv = np.asarray(pred, float), np.asarray(y, float)
        if pr.shape != yv.shape or not (np.isfinite(pr).all() and np.isfinite(yv).all()):
            raise DataError("predictions and targets must be finite arrays of the same length",
                            where="conformal: calibration set", fix="drop rows with missing targets")
        self.quantile_ = conformal_quantile(np.abs(yv - pr), self.alpha)
        if np.isinf(self.quantile_):
            raise DataError(f"calibration set too small for alpha={self.alpha}", where="conformal: calibration set",
                            fix="use a larger calibration set or a larger alpha")
        self.n_calibration_ = len(yv)
        return self

    def predict_interval(self, pred: np.ndarray) -> np.ndarray:
        """Intervals, shape (n, 2): lower, upper (units of the target)."""
        if not hasattr(self, "quantile_"):
            raise NotFittedError("the conformal regressor is not calibrated", where="predict_interval",
                                 fix="call fit(calibration_pred, calibration_y) first")
        pr = np.asarray(pred, float)
        return np.column_stack([pr - self.quantile_, pr + self.quantile_])


@dataclass(frozen=True)
class CoverageResult:
    """Empirical coverage of prediction sets/intervals on held-out data."""

    target: float
    coverage: float
    ci_low: float
    ci_high: float
    n: int
    mean_size: float
    within_tolerance: bool
    tolerance: float
    per_class: dict[str, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def coverage_check(y: np.ndarray, sets_or_intervals: np.ndarray, alpha: float,
                   tolerance: float | None = None) -> CoverageResult:
    """Empirical coverage on held-out data, with a Wilson 95% CI.

    ``within_tolerance`` is True when coverage >= (1 - alpha) - tolerance. The default tolerance is
    ``max(0.02, 2.5 * sqrt(alpha (1 - alpha) / n))``: the sampling error of a coverage estimate on n patients.
    """
    _check_alpha(alpha)
    yv = np.asarray(y)
    s = np.asarray(sets_or_intervals)
    n = len(yv)
    if s.dtype == bool:
        covered = s[np.arange(n), yv.astype(int)]
        size = s.sum(axis=1).astype(float)
        per_class = {str(k): float(covered[yv == k].mean()) for k in np.unique(yv)}
    else:
        covered = (yv >= s[:, 0]) & (yv <= s[:, 1])
        size = s[:, 1] - s[:, 0]
        per_class = None
    tol = tolerance if tolerance is not None else max(0.02, 2.5 * float(np.sqrt(alpha * (1 - alpha) / n)))
    cov = float(covered.mean())
    lo, hi = wilson(int(covered.sum()), n)
    return CoverageResult(1 - alpha, cov, lo, hi, n, float(size.mean()), cov >= 1 - alpha - tol, tol, per_class)
