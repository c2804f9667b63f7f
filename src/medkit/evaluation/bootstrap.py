"""Percentile bootstrap confidence intervals.

Resamples rows (or whole groups, e.g. patients, when ``groups`` is given) with a
fixed seed; resamples where the metric is undefined (e.g. one class only for
AUROC) are skipped and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MetricResult:
    """A point estimate with its bootstrap 95% CI."""

    value: float
    ci_low: float
    ci_high: float
    n: int
    n_boot: int = 0
    n_failed: int = 0

    def __str__(self) -> str:
        return f"{self.value:.3f} (95% CI {self.ci_low:.3f}-{self.ci_high:.3f})"

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


def bootstrap_ci(
    fn: Callable[[np.ndarray, np.ndarray], float],
    y: np.ndarray,
    p: np.ndarray,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> MetricResult:
    """Point value of ``fn(y, p)`` and its percentile bootstrap CI.

    Parameters
    ----------
    fn
        Metric on ``(y, p)``.
    y, p
        Arrays with the same first dimension (``p`` may be 2-D).
    groups
        Optional cluster ids: whole clusters are resampled together.
    """
    y = np.asarray(y)
    p = np.asarray(p)
    value = float(fn(y, p))
    if n_boot <= 0:
        return MetricResult(value, float("nan"), float("nan"), len(y))
    rng = np.random.default_rng(seed)
    stats = []
    failed = 0
    if groups is None:
        idx_sets = (rng.integers(0, len(y), len(y)) for _ in range(n_boot))
    else:
        g = np.asarray(groups)
        uniq, inv = np.unique(g, return_inverse=True)
        members = [np.flatnonzero(inv == i) for i in range(len(uniq))]
        idx_sets = (np.concatenate([members[j] for j in rng.integers(0, len(uniq), len(uniq))]) for _ in range(n_boot))
    for idx in idx_sets:
        try:
            s = float(fn(y[idx], p[idx]))
        except ValueError:
            failed += 1
            continue
        if np.isnan(s):
            failed += 1
            continue
        stats.append(s)
    if not stats:
        return MetricResult(value, float("nan"), float("nan"), len(y), n_boot, failed)
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return MetricResult(value, float(lo), float(hi), len(y), n_boot, failed)
