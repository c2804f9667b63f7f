"""Figures of the treatment report: policy values, Qini curves, effect calibration, CF errors."""

from __future__ import annotations

from typing import Any

import numpy as np

from medkit.evaluation.plots import _plt
from medkit.treatment.policy_value import PolicyValue
from medkit.treatment.uplift import EffectCalibration, QiniCurve


def policy_value_plot(values: list[PolicyValue], unit: str = "CD4 at 20 weeks (cells/mm³)") -> Any:
    """DR (filled) and IPW (open) policy values with 95% bootstrap CIs."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.2, 0.6 + 0.45 * len(values)))
    ys = np.arange(len(values))
    for off, attr, kw in ((-0.12, "dr", {"fmt": "o", "color": "#4C78A8", "label": "doubly robust"}),
                          (0.12, "ipw", {"fmt": "s", "mfc": "white", "color": "#F58518", "label": "IPW"})):
        v = np.array([getattr(p, attr) for p in values])
        ci = np.array([getattr(p, f"{attr}_ci") for p in values])
        ax.errorbar(v, ys + off, xerr=np.abs(np.vstack([v - ci[:, 0], ci[:, 1] - v])), capsize=3, **kw)
    ax.set_yticks(ys, [p.name for p in values])
    ax.invert_yaxis()
    ax.set(xlabel=f"policy value: mean {unit}", title="Value of each treatment rule on held-out patients")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def qini_plot(curves: dict[str, QiniCurve], title: str) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4))
    for name, c in curves.items():
        ax.plot(c.fraction, c.qini, label=f"{name} (Qini coef {c.coefficient:+.1f})")
    if curves:
        c = next(iter(curves.values()))
        ax.plot([0, 1], [0, c.qini[-1]], "k--", lw=1, label="random ranking")
    ax.set(xlabel="fraction of patients, ranked by predicted benefit", ylabel="cumulative incremental outcome",
           title=title)
    ax.legend(fontsize=7)
    return fig


def effect_calibration_plot(cals: dict[str, EffectCalibration], title: str) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4))
    lo_all, hi_all = [], []
    for name, c in cals.items():
        if len(c.predicted) == 0:
            continue
        ax.errorbar(c.predicted, c.observed, yerr=np.vstack([c.observed - c.lo, c.hi - c.observed]), fmt="o-",
                    capsize=2, label=f"{name} (slope {c.slope:.2f})")
        lo_all += [c.predicted.min(), c.lo.min()]
        hi_all += [c.predicted.max(), c.hi.max()]
    if lo_all:
        lim = (min(lo_all), max(hi_all))
        ax.plot(lim, lim, "k--", lw=1, label="ideal")
    ax.set(xlabel="mean predicted effect in group", ylabel="observed difference in means (95% CI)", title=title)
    ax.legend(fontsize=7)
    return fig


def cf_bar_plot(rows: list[tuple[str, float, float, float]], title: str, xlabel: str) -> Any:
    from medkit.evaluation.plots import metric_bars

    return metric_bars(rows, title, xlabel)
