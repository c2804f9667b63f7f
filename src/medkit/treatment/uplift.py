"""Qini / uplift curves and calibration of predicted effects by effect-quantile groups (randomised data).

For one contrast (arm a vs reference) only patients who received a or the reference are used. Patients are
ranked by predicted effect τ̂ (largest first); at each cut-off φ (fraction of the ranked patients)::

    Qini(φ)   = Y_a(φ) − Y_ref(φ) · N_a(φ) / N_ref(φ)      (cumulative sums of outcomes and counts)
    uplift(φ) = (Ȳ_a(φ) − Ȳ_ref(φ)) · φ

The Qini coefficient is the area between the Qini curve and the straight line of random ranking, divided by
the number of patients (outcome units per patient); > 0 means the ranking finds patients who benefit more.
Calibration: patients are split into ``n_groups`` quantile groups of τ̂; in each, the observed effect is the
difference in mean outcome between arms (unbiased by randomisation) with a normal-approximation 95 % CI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class QiniCurve:
    fraction: np.ndarray  # (m,) share of ranked patients, 0..1
    qini: np.ndarray  # (m,) outcome units (cumulative)
    uplift: np.ndarray  # (m,)
    coefficient: float  # area between Qini and random line / n
    n: int


@dataclass
class EffectCalibration:
    predicted: np.ndarray  # (G,) mean predicted effect per group
    observed: np.ndarray  # (G,) observed difference in means
    lo: np.ndarray  # (G,)
    hi: np.ndarray  # (G,)
    n: np.ndarray  # (G,) patients per group
    slope: float  # weighted least-squares slope of observed on predicted (1 = calibrated)


def qini_curve(tau: np.ndarray, y: np.ndarray, treated: np.ndarray) -> QiniCurve:
    """Qini and uplift curve for a contrast.

    Parameters
    ----------
    tau : (n,) predicted effect.   y : (n,) outcome.   treated : (n,) bool, True = arm a, False = reference.
    """
    order = np.argsort(-np.asarray(tau), kind="stable")
    t = np.asarray(treated, dtype=bool)[order]
    yy = np.asarray(y, dtype=float)[order]
    n_t = np.cumsum(t)
    n_c = np.cumsum(~t)
    y_t = np.cumsum(np.where(t, yy, 0.0))
    y_c = np.cumsum(np.where(~t, yy, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        qini = np.where(n_c > 0, y_t - y_c * n_t / np.maximum(n_c, 1), 0.0)
        uplift = np.where((n_t > 0) & (n_c > 0), (y_t / np.maximum(n_t, 1) - y_c / np.maximum(n_c, 1)), 0.0)
    n = len(yy)
    frac = np.arange(1, n + 1) / n
    uplift = uplift * frac
    random_line = frac * qini[-1]
    coef = float(np.trapezoid(qini - random_line, frac)) / n if n > 1 else 0.0
    return QiniCurve(np.r_[0.0, frac], np.r_[0.0, qini], np.r_[0.0, uplift], coef, n)


def effect_calibration(tau: np.ndarray, y: np.ndarray, treated: np.ndarray, n_groups: int = 5) -> EffectCalibration:
    """Predicted vs observed effect in quantile groups of the predicted effect (see module docstring)."""
    tau = np.asarray(tau, dtype=float)
    t = np.asarray(treated, dtype=bool)
    yy = np.asarray(y, dtype=float)
    edges = np.quantile(tau, np.linspace(0, 1, n_groups + 1))
    g = np.clip(np.searchsorted(edges, tau, side="right") - 1, 0, n_groups - 1)
    pred, obs, lo, hi, cnt, w = [], [], [], [], [], []
    for k in range(n_groups):
        m = g == k
        a, c = yy[m & t], yy[m & ~t]
        if len(a) < 2 or len(c) < 2:
            continue
        d = a.mean() - c.mean()
        se = np.sqrt(a.var(ddof=1) / len(a) + c.var(ddof=1) / len(c))
        pred.append(tau[m].mean())
        obs.append(d)
        lo.append(d - 1.96 * se)
        hi.append(d + 1.96 * se)
        cnt.append(int(m.sum()))
        w.append(1 / se**2 if se > 0 else 0.0)
    p, o, ww = np.array(pred), np.array(obs), np.array(w)
    slope = float("nan")
    if len(p) >= 2 and np.ptp(p) > 0:
        pm, om = np.average(p, weights=ww), np.average(o, weights=ww)
        slope = float(np.sum(ww * (p - pm) * (o - om)) / np.sum(ww * (p - pm) ** 2))
    return EffectCalibration(p, o, np.array(lo), np.array(hi), np.array(cnt), slope)
