"""Point metrics (registered by name) and the standard binary/regression reports.

Every metric is a function ``f(y_true, y_score) -> float``; for thresholded metrics
``y_score`` is a probability and the threshold is 0.5 unless given.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn import metrics as skm

from medkit.core.errors import DataError
from medkit.core.registry import Registry
from medkit.evaluation.bootstrap import MetricResult, bootstrap_ci

MetricFn = Callable[[np.ndarray, np.ndarray], float]
METRICS: Registry[MetricFn] = Registry("metric")


def _register(name: str) -> Callable[[MetricFn], MetricFn]:
    return METRICS.register(name)


@_register("auroc")
def auroc(y: np.ndarray, p: np.ndarray) -> float:
    return float(skm.roc_auc_score(y, p))


@_register("auprc")
def auprc(y: np.ndarray, p: np.ndarray) -> float:
    return float(skm.average_precision_score(y, p))


@_register("accuracy")
def accuracy(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> float:
    return float(np.mean((np.asarray(p) >= threshold).astype(int) == np.asarray(y)))


@_register("f1")
def f1(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> float:
    return float(skm.f1_score(y, (np.asarray(p) >= threshold).astype(int), zero_division=0))


@_register("sensitivity")
def sensitivity(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> float:
    y = np.asarray(y)
    pos = y == 1
    return float(np.mean(np.asarray(p)[pos] >= threshold)) if pos.any() else float("nan")


@_register("specificity")
def specificity(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> float:
    y = np.asarray(y)
    neg = y == 0
    return float(np.mean(np.asarray(p)[neg] < threshold)) if neg.any() else float("nan")


@_register("brier")
def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, float) - np.asarray(y, float)) ** 2))


@_register("log_loss")
def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    return float(skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]))


@_register("rmse")
def rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y, float) - np.asarray(p, float)) ** 2)))


@_register("mae")
def mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y, float) - np.asarray(p, float))))


@_register("r2")
def r2(y: np.ndarray, p: np.ndarray) -> float:
    return float(skm.r2_score(y, p))


def check_binary_inputs(y: np.ndarray, p: np.ndarray, where: str = "predictions") -> tuple[np.ndarray, np.ndarray]:
    """Validate labels (0/1, both classes) and scores (finite, same length)."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=float)
    if y.shape[0] != p.shape[0]:
        raise DataError(f"{len(y)} labels but {len(p)} scores", where=where, fix="pass one score per label")
    if not np.isfinite(p).all():
        raise DataError(f"{int((~np.isfinite(p)).sum())} scores are NaN or infinite", where=where,
                        fix="check the model's inputs for missing values")
    if not set(np.unique(y)) <= {0, 1}:
        raise DataError(f"labels must be 0/1, found {np.unique(y)[:5]}", where=where, fix="encode outcome as 0/1")
    if len(np.unique(y)) < 2:
        raise DataError("only one class present; AUROC and calibration are undefined", where=where,
                        fix="evaluate on a set that has both outcomes")
    return y.astype(int), p


def binary_report(y: np.ndarray, p: np.ndarray, *, n_boot: int = 1000, seed: int = 0, threshold: float = 0.5,
                  groups: np.ndarray | None = None) -> dict[str, MetricResult]:
    """AUROC, AUPRC, accuracy, F1, sensitivity, specificity, Brier with bootstrap 95% CIs."""
    y, p = check_binary_inputs(y, p)
    out: dict[str, MetricResult] = {}
    for name in ("auroc", "auprc", "brier", "log_loss"):
        out[name] = bootstrap_ci(METRICS.get(name), y, p, n_boot=n_boot, seed=seed, groups=groups)
    for name, fn in (("accuracy", accuracy), ("f1", f1), ("sensitivity", sensitivity), ("specificity", specificity)):
        def thr_fn(yy: np.ndarray, pp: np.ndarray, _fn: Callable[..., float] = fn) -> float:
            return _fn(yy, pp, threshold)

        out[name] = bootstrap_ci(thr_fn, y, p, n_boot=n_boot, seed=seed, groups=groups)
    return out


def regression_report(y: np.ndarray, p: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> dict[str, MetricResult]:
    """RMSE, MAE and R² with bootstrap 95% CIs."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    if not (np.isfinite(y).all() and np.isfinite(p).all()):
        raise DataError("targets or predictions contain NaN/inf", where="regression report", fix="drop missing targets")
    return {name: bootstrap_ci(METRICS.get(name), y, p, n_boot=n_boot, seed=seed) for name in ("rmse", "mae", "r2")}


def confusion(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """2×2 confusion matrix ``[[TN, FP], [FN, TP]]``."""
    return np.asarray(skm.confusion_matrix(np.asarray(y), (np.asarray(p) >= threshold).astype(int), labels=[0, 1]))
