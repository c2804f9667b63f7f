"""Decision-curve analysis (net benefit) for binary risk models (Vickers & Elkin 2006)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DecisionCurve:
    thresholds: np.ndarray
    model: np.ndarray
    treat_all: np.ndarray
    treat_none: np.ndarray


def net_benefit(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    """Net benefit = TP/n - FP/n * t/(1-t) at threshold probability ``t``."""
    y = np.asarray(y)
    pred = np.asarray(p) >= threshold
    n = len(y)
    tp = np.sum(pred & (y == 1))
    fp = np.sum(pred & (y == 0))
    return float(tp / n - fp / n * threshold / (1 - threshold))


def decision_curve(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray | None = None) -> DecisionCurve:
    t = np.linspace(0.01, 0.8, 80) if thresholds is None else np.asarray(thresholds)
    y = np.asarray(y)
    prev = y.mean()
    model = np.array([net_benefit(y, p, x) for x in t])
    treat_all = prev - (1 - prev) * t / (1 - t)
    return DecisionCurve(t, model, treat_all, np.zeros_like(t))


def decision_plot(curves: dict[str, DecisionCurve], title: str = "Decision curve") -> object:
    from medkit.evaluation.plots import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    first = next(iter(curves.values()))
    ax.plot(first.thresholds, first.treat_all, c="grey", lw=1, label="treat all")
    ax.plot(first.thresholds, first.treat_none, c="black", lw=1, ls="--", label="treat none")
    for label, c in curves.items():
        ax.plot(c.thresholds, c.model, lw=1.6, label=label)
    ymax = max(float(np.max(c.model)) for c in curves.values())
    ax.set(xlabel="Threshold probability", ylabel="Net benefit", title=title, ylim=(-0.05, max(0.05, ymax * 1.1)))
    ax.legend(fontsize=8)
    return fig
