"""Matplotlib figures for reports (Agg backend, PNG). Each returns the figure; save with :func:`save`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medkit.evaluation.calibration import CalibrationResult


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return p


def roc_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str = "ROC curve") -> Any:
    """``curves`` maps a label (e.g. ``"fold 1 (AUROC 0.99)"``) to ``(y, p)``."""
    from sklearn.metrics import roc_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    for label, (y, p) in curves.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, lw=1.6, label=label)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.set(xlabel="1 - specificity (false-positive rate)", ylabel="Sensitivity (true-positive rate)", title=title,
           xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=8, loc="lower right")
    return fig


def pr_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str = "Precision-recall") -> Any:
    from sklearn.metrics import precision_recall_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    for label, (y, p) in curves.items():
        prec, rec, _ = precision_recall_curve(y, p)
        ax.plot(rec, prec, lw=1.6, label=label)
    ax.set(xlabel="Recall (sensitivity)", ylabel="Precision (PPV)", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=8, loc="lower left")
    return fig


def calibration_plot(results: dict[str, tuple[CalibrationResult, np.ndarray]], title: str = "Calibration") -> Any:
    """Reliability diagram with a histogram of predictions; ``results`` maps label to ``(calib, p)``."""
    plt = _plt()
    fig, (ax, axh) = plt.subplots(2, 1, figsize=(4.8, 5.6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfect")
    for label, (c, p) in results.items():
        ax.plot(c.bin_mean_pred, c.bin_frac_pos, marker="o", lw=1.4,
                label=f"{label}: slope {c.slope:.2f}, int. {c.intercept:.2f}")
        axh.hist(p, bins=20, range=(0, 1), alpha=0.5)
    ax.set(ylabel="Observed event rate", title=title, ylim=(0, 1.01))
    axh.set(xlabel="Predicted probability", ylabel="n")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def confusion_plot(cm: np.ndarray, labels: tuple[str, str] = ("negative", "positive"),
                   title: str = "Confusion matrix") -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(3.8, 3.4))
    ax.imshow(cm, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black", fontsize=13)
    ax.set_xticks([0, 1], [f"pred. {labels[0]}", f"pred. {labels[1]}"])
    ax.set_yticks([0, 1], [f"true {labels[0]}", f"true {labels[1]}"])
    ax.set_title(title)
    return fig


def metric_bars(rows: list[tuple[str, float, float, float]], title: str, xlabel: str) -> Any:
    """Horizontal bars with CI whiskers: rows of ``(label, value, lo, hi)``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 0.5 + 0.4 * len(rows)))
    ys = np.arange(len(rows))
    vals = np.array([r[1] for r in rows])
    err = np.array([[r[1] - r[2], r[3] - r[1]] for r in rows]).T
    ax.barh(ys, vals, xerr=np.nan_to_num(err), color="#4C78A8", capsize=3)
    ax.set_yticks(ys, [r[0] for r in rows])
    ax.set(xlabel=xlabel, title=title)
    return fig
