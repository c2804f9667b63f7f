"""Evaluation of clinical models: binary (discrimination, calibration, net benefit) and survival.

Binary metrics come from :mod:`medkit.evaluation` (bootstrap CIs, calibration, decision curves);
survival metrics from :mod:`medkit.clinical.survival_metrics` (equal to scikit-survival's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medkit.clinical import survival_metrics as sm
from medkit.core.errors import DataError
from medkit.evaluation import CalibrationResult, MetricResult, binary_report, bootstrap_ci, calibration
from medkit.evaluation.decision import DecisionCurve, decision_curve


@dataclass
class BinaryEvaluation:
    """Metrics of one binary model on one data set."""

    metrics: dict[str, MetricResult]
    calibration: CalibrationResult
    decision: DecisionCurve
    n: int
    n_pos: int

    def as_dict(self) -> dict[str, Any]:
        c = self.calibration
        return {"n": self.n, "n_positive": self.n_pos, **{k: v.as_dict() for k, v in self.metrics.items()},
                "calibration": {"slope": c.slope, "intercept": c.intercept, "ece": c.ece, "ici": c.ici,
                                "brier": c.brier}}


def evaluate_binary(y: np.ndarray, p: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> BinaryEvaluation:
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    return BinaryEvaluation(binary_report(y, p, n_boot=n_boot, seed=seed), calibration(y, p), decision_curve(y, p),
                            len(y), int(y.sum()))


@dataclass
class SurvivalEvaluation:
    """Survival metrics of one model on one test set (IPCW weights from the training outcomes)."""

    harrell_c: MetricResult
    uno_c: float
    td_auc: np.ndarray
    mean_td_auc: float
    ibs: float
    times: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"harrell_c": self.harrell_c.as_dict(), "uno_c": self.uno_c, "mean_td_auc": self.mean_td_auc,
                "ibs": self.ibs, "times": self.times.tolist(), "td_auc": self.td_auc.tolist()}


def evaluate_survival(train_time: np.ndarray, train_event: np.ndarray, time: np.ndarray, event: np.ndarray,
                      risk: np.ndarray, surv_prob: np.ndarray | None, times: np.ndarray, *, n_boot: int = 200,
                      seed: int = 0) -> SurvivalEvaluation:
    """Harrell's C (bootstrap CI), Uno's C (truncated at ``times[-1]``), time-dependent AUC and IBS at ``times``.

    ``surv_prob`` is ``(N, len(times))``; without it the IBS is NaN.
    """
    t, e = np.asarray(time, float), np.asarray(event, bool)
    yy = np.column_stack([t, e.astype(float)])

    def c_fn(y2: np.ndarray, r: np.ndarray) -> float:
        try:
            return sm.harrell_c(y2[:, 0], y2[:, 1].astype(bool), r)
        except DataError:  # a resample without events or comparable pairs: skipped and counted
            return float("nan")

    hc = bootstrap_ci(c_fn, yy, np.asarray(risk, float), n_boot=n_boot, seed=seed)
    uc = sm.uno_c(train_time, train_event, t, e, risk, tau=float(times[-1]))  # truncated at the last grid time
    auc, mean_auc = sm.cumulative_dynamic_auc(train_time, train_event, t, e, risk, times)
    ibs = (sm.integrated_brier_score(train_time, train_event, t, e, surv_prob, times)
           if surv_prob is not None else float("nan"))
    return SurvivalEvaluation(hc, uc, auc, mean_auc, ibs, np.asarray(times))


def km_curve(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan–Meier step function: (times starting at 0, survival)."""
    u, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=np.asarray(event, float), minlength=len(u))
    n = np.bincount(inv, minlength=len(u)).astype(float)
    at_risk = n[::-1].cumsum()[::-1]
    return np.r_[0.0, u], np.r_[1.0, np.cumprod(1.0 - d / at_risk)]


def km_by_risk_group(time: np.ndarray, event: np.ndarray, risk: np.ndarray, title: str,
                     n_groups: int = 3, time_unit: str = "days") -> Any:
    """Kaplan–Meier curves of patients split at the tertiles (by default) of predicted risk."""
    from medkit.evaluation.plots import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.4, 4.2))
    cuts = np.quantile(risk, np.linspace(0, 1, n_groups + 1)[1:-1])
    group = np.searchsorted(cuts, risk, side="right")
    labels = ["low", "medium", "high"] if n_groups == 3 else [f"group {k + 1}" for k in range(n_groups)]
    for k in range(n_groups):
        sel = group == k
        if sel.sum() == 0:
            continue
        x, s = km_curve(np.asarray(time)[sel], np.asarray(event)[sel])
        ax.step(x, s, where="post", label=f"{labels[k]} predicted risk (n={int(sel.sum())}, "
                                            f"events={int(np.asarray(event)[sel].sum())})")
    ax.set(xlabel=f"Time ({time_unit})", ylabel="Survival probability", title=title, ylim=(0, 1.02))
    ax.legend(fontsize=7)
    return fig


def binary_plots(curves: dict[str, tuple[np.ndarray, np.ndarray]], evals: dict[str, BinaryEvaluation],
                 out: Path, prefix: str) -> dict[str, Path]:
    """ROC, calibration and decision-curve PNGs for several models on the same data."""
    from medkit.evaluation.decision import decision_plot
    from medkit.evaluation.plots import calibration_plot, roc_plot, save

    roc = save(roc_plot({f"{k} (AUROC {evals[k].metrics['auroc'].value:.3f})": v for k, v in curves.items()},
                        f"ROC — {prefix}"), out / f"{prefix}-roc.png")
    cal = save(calibration_plot({k: (evals[k].calibration, v[1]) for k, v in curves.items()},
                                f"Calibration — {prefix}"), out / f"{prefix}-calibration.png")
    dca = save(decision_plot({k: e.decision for k, e in evals.items()}, f"Decision curve — {prefix}"),
               out / f"{prefix}-decision.png")
    return {"roc": roc, "calibration": cal, "decision": dca}


def metrics_table(evals: dict[str, BinaryEvaluation]) -> list[dict[str, Any]]:
    rows = []
    for k, e in evals.items():
        m = e.metrics
        rows.append({"model": k, "AUROC": str(m["auroc"]), "AUPRC": str(m["auprc"]), "Brier": f"{m['brier'].value:.3f}",
                     "cal. slope": f"{e.calibration.slope:.2f}", "cal. intercept": f"{e.calibration.intercept:.2f}"})
    return rows
