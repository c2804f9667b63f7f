"""Survival metrics, written out in numpy (tests check them equal to scikit-survival's).

* :func:`harrell_c` — Harrell's concordance index.
* :func:`uno_c` — Uno's IPCW concordance index (censoring weights from the training data).
* :func:`cumulative_dynamic_auc` — time-dependent AUC (Uno 2007, Hung & Chiang 2010).
* :func:`integrated_brier_score` — Graf et al. (1999) IPCW Brier score integrated over time.

Conventions follow scikit-survival so numbers are comparable: ``estimate`` is a risk score
(higher = earlier event); at tied times an event is comparable with a censored
observation; the censoring distribution is the reverse Kaplan–Meier, with events at a
time removed from the risk set before censorings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medkit.core.errors import DataError


def check_survival(time: np.ndarray, event: np.ndarray, where: str = "survival outcome") -> tuple[np.ndarray, np.ndarray]:
    """Validate survival outcomes: times finite and > 0, event strictly 0/1 (or bool)."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event)
    if t.shape != e.shape or t.ndim != 1:
        raise DataError(f"time {t.shape} and event {e.shape} must be 1-D of equal length", where=where,
                        fix="pass one time and one event indicator per patient")
    bad = ~np.isfinite(t) | (t <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{int(bad.sum())} survival times are <= 0 or missing (first: row {i}, time {t[i]})",
                        where=where, fix="survival times must be positive; check the time origin and units")
    if e.dtype != bool:
        ok = np.isin(e, [0, 1])
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise DataError(f"event column must be 0/1, found {e[i]!r} at row {i}", where=where,
                            fix="encode event = 1 (died / event observed) and 0 (censored)")
    if not e.astype(bool).any():
        raise DataError("no events: every patient is censored", where=where, fix="survival models need events")
    return t, e.astype(bool)


@dataclass
class CensoringKM:
    """Reverse Kaplan–Meier estimate ``G(t) = P(C > t)`` of the censoring distribution."""

    times: np.ndarray
    prob: np.ndarray

    @classmethod
    def fit(cls, time: np.ndarray, event: np.ndarray) -> CensoringKM:
        if event.all():  # no censoring: G = 1
            return cls(np.r_[-np.inf, np.unique(time)], np.ones(len(np.unique(time)) + 1))
        u, inv = np.unique(time, return_inverse=True)
        n_event = np.bincount(inv, weights=event.astype(float), minlength=len(u))
        n_cens = np.bincount(inv, weights=(~event).astype(float), minlength=len(u))
        n_total = np.bincount(inv, minlength=len(u)).astype(float)
        at_risk = n_total[::-1].cumsum()[::-1] - n_event  # events leave the risk set first
        ratio = np.divide(n_cens, at_risk, out=np.zeros_like(n_cens), where=n_cens != 0)
        return cls(np.r_[-np.inf, u], np.r_[1.0, np.cumprod(1.0 - ratio)])

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.zeros(t.shape)
        beyond = t > self.times[-1]
        if self.prob[-1] > 0 and beyond.any():
            raise DataError(f"time {t[beyond].max():g} is beyond the last training time {self.times[-1]:g}",
                            where="censoring distribution", fix="evaluate at times within the training follow-up")
        idx = np.searchsorted(self.times, t[~beyond], side="right") - 1
        out[~beyond] = self.prob[idx]
        return out


def _concordance(time: np.ndarray, event: np.ndarray, risk: np.ndarray, weights: np.ndarray,
                 tied_tol: float = 1e-8) -> float:
    num = den = 0.0
    for i in np.flatnonzero(event):
        # j comparable to event i: later time, or same time and censored
        comp = (time > time[i]) | ((time == time[i]) & ~event)
        if not comp.any():
            continue
        r = risk[comp]
        ties = np.abs(r - risk[i]) <= tied_tol
        num += weights[i] * ((r < risk[i]) & ~ties).sum() + 0.5 * weights[i] * ties.sum()
        den += weights[i] * comp.sum()
    if den == 0:
        raise DataError("no comparable pairs", where="concordance index", fix="need events before other patients' times")
    return float(num / den)


def harrell_c(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C (fraction of comparable pairs ordered correctly by ``risk``; ties in risk count 1/2)."""
    t, e = check_survival(time, event)
    return _concordance(t, e, np.asarray(risk, dtype=float), np.ones(len(t)))


def uno_c(train_time: np.ndarray, train_event: np.ndarray, time: np.ndarray, event: np.ndarray,
          risk: np.ndarray, tau: float | None = None) -> float:
    """Uno's C: pairs weighted by ``1 / G(t_i)^2`` with ``G`` fitted on the training outcomes;
    only events before ``tau`` count (default: all)."""
    tt, te = check_survival(train_time, train_event, "training survival outcome")
    t, e = check_survival(time, event)
    G = CensoringKM.fit(tt, te)
    use = e if tau is None else e & (t < tau)
    w = np.zeros(len(t))
    g = G(t[use])
    if (g == 0).any():
        raise DataError("censoring survival is zero at an event time", where="uno_c", fix="set tau below the last time")
    w[use] = 1.0 / g**2
    return _concordance(t, e, np.asarray(risk, dtype=float), w)


def cumulative_dynamic_auc(train_time: np.ndarray, train_event: np.ndarray, time: np.ndarray, event: np.ndarray,
                           risk: np.ndarray, times: np.ndarray, tied_tol: float = 1e-8) -> tuple[np.ndarray, float]:
    """Time-dependent AUC at each of ``times``: cases died by t (IPCW-weighted), controls alive after t.

    ``risk`` is ``(N,)`` or ``(N, len(times))``. Returns the AUCs and their mean weighted by the
    Kaplan–Meier drop of the test set between the times (as scikit-survival).
    """
    tt, te = check_survival(train_time, train_event, "training survival outcome")
    t, e = check_survival(time, event)
    times = np.asarray(times, dtype=float)
    est = np.asarray(risk, dtype=float)
    if est.ndim == 1:
        est = np.repeat(est[:, None], len(times), axis=1)
    G = CensoringKM.fit(tt, te)
    ipcw = np.zeros(len(t))
    # only events up to the last time point are ever cases, so G is needed (and defined) only there
    need = e & (t <= times.max())
    ipcw[need] = 1.0 / G(t[need])
    scores = np.empty(len(times))
    for k, tk in enumerate(times):
        o = np.argsort(-est[:, k], kind="quicksort")
        s, tt_k, ee_k, w = est[o, k], t[o], e[o], ipcw[o]
        case = (tt_k <= tk) & ee_k
        ctrl = tt_k > tk
        tp = np.cumsum(case * w)
        fp = np.cumsum(ctrl)
        tp, fp = tp / tp[-1], fp / ctrl.sum()
        # keep only the last position among tied scores, so tied patients move together
        last = np.r_[np.abs(np.diff(s)) > tied_tol, True]
        scores[k] = np.trapezoid(np.r_[0, tp[last]], np.r_[0, fp[last]])
    if len(times) == 1:
        return scores, float(scores[0])
    S = _km_survival(t, e, times)
    d = -np.diff(np.r_[1.0, S])
    return scores, float((scores * d).sum() / (1.0 - S[-1]))


def _km_survival(time: np.ndarray, event: np.ndarray, at: np.ndarray) -> np.ndarray:
    u, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=event.astype(float), minlength=len(u))
    n = np.bincount(inv, minlength=len(u)).astype(float)
    r = n[::-1].cumsum()[::-1]
    S = np.cumprod(1.0 - d / r)
    idx = np.searchsorted(u, at, side="right") - 1
    return np.where(idx >= 0, S[np.clip(idx, 0, None)], 1.0)


def brier_scores(train_time: np.ndarray, train_event: np.ndarray, time: np.ndarray, event: np.ndarray,
                 surv_prob: np.ndarray, times: np.ndarray) -> np.ndarray:
    """IPCW Brier score at each of ``times``; ``surv_prob`` is ``(N, len(times))`` = P(T > t).

    Test patients followed beyond the training follow-up are allowed (scikit-survival raises):
    the censoring weight is only needed for events up to the last time point.
    """
    tt, te = check_survival(train_time, train_event, "training survival outcome")
    t, e = check_survival(time, event)
    G = CensoringKM.fit(tt, te)
    g_t = G(np.asarray(times, dtype=float))
    g_t[g_t == 0] = np.inf
    g_y = np.full(len(t), np.inf)
    need = e & (t <= np.max(times))  # only these are cases at some time point
    g_y[need] = G(t[need])
    g_y[g_y == 0] = np.inf
    out = np.empty(len(times))
    for k, tk in enumerate(times):
        p = surv_prob[:, k]
        case = (t <= tk) & e
        ctrl = t > tk
        out[k] = np.mean(p**2 * case / g_y + (1.0 - p) ** 2 * ctrl / g_t[k])
    return out


def integrated_brier_score(train_time: np.ndarray, train_event: np.ndarray, time: np.ndarray, event: np.ndarray,
                           surv_prob: np.ndarray, times: np.ndarray) -> float:
    """Trapezoidal integral of :func:`brier_scores` over ``times`` divided by its span."""
    times = np.asarray(times, dtype=float)
    if len(times) < 2:
        raise DataError("the integrated Brier score needs at least two time points", where="integrated_brier_score",
                        fix="pass a grid of times")
    bs = brier_scores(train_time, train_event, time, event, surv_prob, times)
    return float(np.trapezoid(bs, times) / (times[-1] - times[0]))


def eval_times(train_time: np.ndarray, test_time: np.ndarray, n: int = 20) -> np.ndarray:
    """A grid between the 10th and 80th percentile of test times, inside the training follow-up
    (where IPCW estimates are stable)."""
    lo, hi = np.percentile(test_time, [10, 80])
    hi = min(hi, np.max(train_time) - 1e-9, np.max(test_time) - 1e-9)
    return np.unique(np.linspace(lo, hi, n))
