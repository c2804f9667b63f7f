"""Performance by subgroup (sex, age band, ICU type, site, ...) with bootstrap CIs and flagged gaps.

A subgroup is flagged when its point estimate differs from the overall one by at least ``gap_flag``
*and* the overall value lies outside the subgroup's 95% CI — a large gap that sampling noise alone
does not explain. Subgroups smaller than ``min_n`` or holding a single outcome class are listed with the
reason and not flagged: their metrics are too unstable to act on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from medkit.core.errors import ConfigError, DataError
from medkit.evaluation.bootstrap import bootstrap_ci
from medkit.evaluation.metrics import METRICS, check_binary_inputs, sensitivity, specificity

_THRESHOLDED = {"sensitivity": sensitivity, "specificity": specificity}


@dataclass(frozen=True)
class SubgroupRow:
    attribute: str
    level: str
    n: int
    n_events: int
    metric: str
    value: float
    ci_low: float
    ci_high: float
    overall: float
    gap: float
    flagged: bool
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def age_bands(age: ArrayLike, edges: Sequence[float] = (40, 65, 80)) -> np.ndarray:
    """Age in years → band labels such as ``"<40"``, ``"40-64"``, ``"65-79"``, ``">=80"``; NaN → ``"missing"``."""
    a = np.asarray(age, dtype=float)
    e = list(edges)
    labels = [f"<{e[0]:g}"] + [f"{lo:g}-{hi - 1:g}" for lo, hi in zip(e[:-1], e[1:], strict=True)] + [f">={e[-1]:g}"]
    idx = np.searchsorted(e, a, side="right")
    out = np.array([labels[i] for i in idx], dtype=object)
    out[np.isnan(a)] = "missing"
    return out


def _metric_fn(name: str, threshold: float) -> Any:
    if name in _THRESHOLDED:
        fn: Any = _THRESHOLDED[name]
        return lambda y, p: fn(y, p, threshold)
    return METRICS.get(name)


def subgroup_report(y: np.ndarray, p: np.ndarray, attributes: Mapping[str, ArrayLike] | pd.DataFrame, *,
                    metrics: Sequence[str] = ("auroc", "brier", "sensitivity", "specificity"),
                    threshold: float = 0.5, n_boot: int = 500, seed: int = 0, min_n: int = 30,
                    gap_flag: float = 0.05) -> list[SubgroupRow]:
    """Metrics with bootstrap 95% CIs per level of each attribute, and their gap to the overall value.

    Parameters
    ----------
    y, p
        Binary labels and predicted risks, shape (n,) — ideally out-of-fold or test predictions.
    attributes
        ``{name: per-row values}`` (or a DataFrame); NaN values form a ``missing`` level.
    metrics
        Names from :data:`medkit.evaluation.metrics.METRICS`; sensitivity/specificity use ``threshold``.
    gap_flag
        Absolute gap to flag (in metric units; 0.05 AUROC by default).
    """
    yv, pv = check_binary_inputs(y, p, where="subgroup_report")
    attrs = dict(attributes.items()) if isinstance(attributes, pd.DataFrame) else dict(attributes)
    if not attrs:
        raise ConfigError("no subgroup attributes given", where="attributes", fix="pass e.g. {'sex': sex_array}")
    for m in metrics:
        if m not in _THRESHOLDED and m not in METRICS:
            raise ConfigError(f"unknown metric '{m}'", where="metrics", fix=f"use one of {METRICS.names()}")
    overall = {m: float(_metric_fn(m, threshold)(yv, pv)) for m in metrics}
    rows: list[SubgroupRow] = []
    for name, values in attrs.items():
        v = pd.Series(np.asarray(values, dtype=object)).where(pd.notna(pd.Series(values).to_numpy()), "missing")
        if len(v) != len(yv):
            raise DataError(f"attribute '{name}' has {len(v)} values for {len(yv)} rows", where=f"attribute {name}",
                            fix="pass one value per row")
        for level in sorted(v.unique(), key=str):
            m = (v == level).to_numpy()
            ys, ps = yv[m], pv[m]
            n, ev = int(m.sum()), int(ys.sum())
            for metric in metrics:
                note = ""
                if n < min_n:
                    note = f"n < {min_n}: not interpreted"
                if len(np.unique(ys)) < 2 and metric in {"auroc", "auprc"}:
                    rows.append(SubgroupRow(name, str(level), n, ev, metric, float("nan"), float("nan"),
                                            float("nan"), overall[metric], float("nan"), False,
                                            "single outcome class: undefined"))
                    continue
                fn = _metric_fn(metric, threshold)
                try:
                    r = bootstrap_ci(fn, ys, ps, n_boot=n_boot, seed=seed)
                except ValueError:
                    rows.append(SubgroupRow(name, str(level), n, ev, metric, float("nan"), float("nan"),
                                            float("nan"), overall[metric], float("nan"), False, "undefined"))
                    continue
                gap = r.value - overall[metric]
                outside = not (r.ci_low <= overall[metric] <= r.ci_high) if np.isfinite(r.ci_low) else False
                flagged = bool(not note and abs(gap) >= gap_flag and outside)
                rows.append(SubgroupRow(name, str(level), n, ev, metric, r.value, r.ci_low, r.ci_high,
                                        overall[metric], float(gap), flagged, note))
    return rows


def subgroup_table(rows: Sequence[SubgroupRow]) -> list[dict[str, Any]]:
    """Rows formatted for reports: ``value (lo–hi)``, gap and a ⚑ for flagged gaps."""
    out = []
    for r in rows:
        ci = f"{r.value:.3f} ({r.ci_low:.3f}–{r.ci_high:.3f})" if np.isfinite(r.value) else "—"
        out.append({"attribute": r.attribute, "level": r.level, "n": r.n, "events": r.n_events, "metric": r.metric,
                    "value (95% CI)": ci, "overall": f"{r.overall:.3f}",
                    "gap": f"{r.gap:+.3f}" if np.isfinite(r.gap) else "—",
                    "flag": "⚑ gap" if r.flagged else r.note})
    return out


def subgroup_plot(rows: Sequence[SubgroupRow], metric: str = "auroc", title: str | None = None) -> Any:
    """Forest plot of one metric by subgroup: point, 95% CI, overall value as a dashed line; flagged in red."""
    from medkit.evaluation.plots import _plt

    sel = [r for r in rows if r.metric == metric and np.isfinite(r.value)]
    if not sel:
        raise DataError(f"no finite '{metric}' values to plot", where="subgroup_plot", fix="choose another metric")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 0.6 + 0.34 * len(sel)))
    ys = np.arange(len(sel))[::-1]
    for y, r in zip(ys, sel, strict=True):
        c = "#C0392B" if r.flagged else "#2C3E50"
        ax.errorbar(r.value, y, xerr=[[r.value - r.ci_low], [r.ci_high - r.value]], fmt="o", color=c, capsize=3)
    ax.axvline(sel[0].overall, ls="--", c="grey", lw=1, label=f"overall {sel[0].overall:.3f}")
    ax.set_yticks(ys, [f"{r.attribute}: {r.level} (n={r.n})" for r in sel])
    ax.set(xlabel=f"{metric} (95% bootstrap CI)", title=title or f"{metric} by subgroup")
    ax.legend(fontsize=8, loc="best")
    return fig
