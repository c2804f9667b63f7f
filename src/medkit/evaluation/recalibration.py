"""Post-hoc recalibration of predicted risks: Platt scaling, isotonic regression, temperature scaling.

A calibrator is fitted on a *validation* set (never the test set) and reported with calibration before and
after on held-out data. :func:`cross_fit_recalibration` does this within cross-validation: each fold's
out-of-fold predictions are recalibrated by a calibrator fitted on the other folds, so "after" numbers are
honest.

* ``platt``: ``p' = sigmoid(a * logit(p) + b)`` (Platt 1999; logistic recalibration, Cox 1958);
* ``isotonic``: monotone step function (Zadrozny & Elkan 2002); needs a few hundred events;
* ``temperature``: ``p' = sigmoid(logit(p) / T)`` for binary, ``softmax(z / T)`` for multi-class logits
  (Guo et al. 2017). One parameter: fixes over/under-confidence, not calibration-in-the-large.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize
from sklearn.base import BaseEstimator

from medkit.core.errors import ConfigError, DataError, NotFittedError
from medkit.evaluation.calibration import CalibrationResult, calibration
from medkit.evaluation.metrics import check_binary_inputs

Method = Literal["platt", "isotonic", "temperature"]
METHODS: tuple[str, ...] = ("platt", "isotonic", "temperature")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


class Recalibrator(BaseEstimator):
    """Map uncalibrated scores to calibrated probabilities.

    Parameters
    ----------
    method
        ``platt``, ``isotonic`` or ``temperature``.

    Attributes
    ----------
    a_, b_ : float
        Platt slope and intercept on the logit scale.
    temperature_ : float
        Fitted temperature (``> 1`` softens over-confident predictions).
    isotonic_ : sklearn.isotonic.IsotonicRegression
    multiclass_ : bool
        True when fitted on ``(n, K)`` logits (temperature only).
    """

    def __init__(self, method: Method = "platt") -> None:
        self.method = method

    def fit(self, scores: np.ndarray, y: np.ndarray) -> Recalibrator:
        """Fit on validation ``scores`` — probabilities of class 1, shape (n,), or logits (n, K) for
        multi-class temperature scaling — and labels ``y`` (n,).

        Raises
        ------
        DataError
            Single-class validation set, NaN scores, or length mismatch.
        ConfigError
            Unknown method, or (n, K) logits with a method other than ``temperature``.
        """
        if self.method not in METHODS:
            raise ConfigError(f"unknown recalibration method '{self.method}'", where="method",
                              fix=f"use one of {', '.join(METHODS)}")
        s = np.asarray(scores, dtype=float)
        yv = np.asarray(y)
        if len(np.unique(yv)) < 2:
            raise DataError(f"the validation set has a single class ({np.unique(yv)[:1].tolist()}); a calibrator "
                            "fitted on it would map every risk to that class", where="recalibration: y",
                            fix="use a validation set that contains both outcomes (stratify the split)")
        if s.ndim == 2:
            if self.method != "temperature":
                raise ConfigError(f"'{self.method}' recalibrates binary probabilities; got (n, K) logits",
                                  where="scores", fix="use method='temperature' for multi-class logits")
            if len(s) != len(yv) or not np.isfinite(s).all():
                raise DataError("logits must be finite with one row per label", where="recalibration: scores",
                                fix="check the model output")
            yi = yv.astype(int)
            self.multiclass_ = True

            def nll(t: np.ndarray) -> float:
                z = s / t[0]
                z = z - z.max(axis=1, keepdims=True)
                return float(-np.mean(z[np.arange(len(yi)), yi] - np.log(np.exp(z).sum(axis=1))))

            res = optimize.minimize(nll, np.array([1.0]), bounds=[(0.05, 50.0)], method="L-BFGS-B")
            self.temperature_ = float(res.x[0])
            return self
        yb, p = check_binary_inputs(yv, s, where="recalibration")
        self.multiclass_ = False
        z = _logit(p)
        if self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            self.isotonic_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, yb)
        elif self.method == "platt":
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), yb)  # ~unpenalised
            self.a_, self.b_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        else:
            def nll_b(t: np.ndarray) -> float:
                zz = z / t[0]
                return float(np.mean(np.logaddexp(0, zz) - yb * zz))

            res = optimize.minimize(nll_b, np.array([1.0]), bounds=[(0.05, 50.0)], method="L-BFGS-B")
            self.temperature_ = float(res.x[0])
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities: (n,) for binary input, (n, K) for multi-class logits."""
        if not hasattr(self, "multiclass_"):
            raise NotFittedError("the recalibrator is not fitted", where="Recalibrator.transform",
                                 fix="call fit(validation_scores, validation_labels) first")
        s = np.asarray(scores, dtype=float)
        if self.multiclass_:
            return _softmax(s / self.temperature_)
        if self.method == "isotonic":
            return np.asarray(self.isotonic_.predict(s))
        z = _logit(s)
        if self.method == "platt":
            return 1 / (1 + np.exp(-(self.a_ * z + self.b_)))
        return 1 / (1 + np.exp(-z / self.temperature_))

    predict = transform


@dataclass(frozen=True)
class RecalibrationResult:
    """Calibration of the same held-out predictions before and after recalibration."""

    method: str
    before: CalibrationResult
    after: CalibrationResult
    n_eval: int
    params: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        keep = ("slope", "intercept", "ece", "ici", "brier")
        return {"method": self.method, "n_eval": self.n_eval, "params": self.params,
                "before": {k: getattr(self.before, k) for k in keep},
                "after": {k: getattr(self.after, k) for k in keep}}


def _params(r: Recalibrator) -> dict[str, float]:
    if r.method == "platt":
        return {"a": r.a_, "b": r.b_}
    if r.method == "temperature":
        return {"T": r.temperature_}
    return {"n_steps": float(len(r.isotonic_.X_thresholds_))}


def recalibrate(y_val: np.ndarray, p_val: np.ndarray, y_test: np.ndarray, p_test: np.ndarray,
                method: Method = "platt") -> tuple[Recalibrator, RecalibrationResult, np.ndarray]:
    """Fit on validation, evaluate on test. Returns the calibrator, before/after result and the new test risks."""
    cal = Recalibrator(method).fit(p_val, y_val)
    p_new = cal.transform(p_test)
    return cal, RecalibrationResult(method, calibration(y_test, p_test), calibration(y_test, p_new),
                                    len(np.asarray(y_test)), _params(cal)), p_new


def cross_fit_recalibration(y: np.ndarray, p: np.ndarray, folds: ArrayLike,
                            method: Method = "platt") -> tuple[RecalibrationResult, np.ndarray]:
    """Recalibrate out-of-fold predictions fold by fold (calibrator fitted on the other folds).

    Parameters
    ----------
    y, p
        Labels and out-of-fold risks, shape (n,).
    folds
        Fold number of each row, shape (n,) — e.g. ``oof_predictions.csv``'s ``fold`` column.
    """
    yv, pv = check_binary_inputs(y, p, where="cross_fit_recalibration")
    f = np.asarray(folds)
    if len(f) != len(yv):
        raise DataError(f"{len(f)} fold ids for {len(yv)} rows", where="folds", fix="pass one fold id per row")
    out = np.empty_like(pv)
    for k in np.unique(f):
        m = f == k
        out[m] = Recalibrator(method).fit(pv[~m], yv[~m]).transform(pv[m])
    full = Recalibrator(method).fit(pv, yv)
    return RecalibrationResult(method, calibration(yv, pv), calibration(yv, out), len(yv), _params(full)), out


def result_rows(results: Sequence[RecalibrationResult]) -> list[dict[str, Any]]:
    """Table rows (method × before/after) for reports."""
    rows = []
    for r in results:
        for when, c in (("before", r.before), ("after", r.after)):
            rows.append({"method": r.method, "when": when, "slope": round(c.slope, 3),
                         "intercept": round(c.intercept, 3), "ECE": round(c.ece, 4), "Brier": round(c.brier, 4)})
    return rows


def reliability_plot(result: RecalibrationResult, p_before: np.ndarray, p_after: np.ndarray,
                     title: str | None = None) -> Any:
    """Reliability diagram of the same held-out patients before and after recalibration (slope/intercept in
    the legend, histogram of risks below)."""
    from medkit.evaluation.plots import calibration_plot

    return calibration_plot({"before": (result.before, np.asarray(p_before)),
                             f"after {result.method}": (result.after, np.asarray(p_after))},
                            title or f"Calibration before/after {result.method} (n={result.n_eval})")


__all__ = ["METHODS", "RecalibrationResult", "Recalibrator", "cross_fit_recalibration", "recalibrate",
           "reliability_plot", "result_rows"]
