"""Report figures for :class:`Explanation`: global importance, per-patient waterfall, time × variable heatmap."""

from __future__ import annotations

from typing import Any

import numpy as np

from medkit.interpret.explanation import Explanation


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def importance_plot(exp: Explanation, k: int = 15, title: str | None = None) -> Any:
    """Horizontal bars of mean |attribution| for the top ``k`` features, with a dot strip of per-patient values."""
    plt = _plt()
    imp = exp.global_importance().head(k).iloc[::-1]
    pf = exp.per_feature()
    idx = {n: i for i, n in enumerate(exp.feature_names)}
    fig, ax = plt.subplots(figsize=(6.0, 0.6 + 0.32 * len(imp)))
    ys = np.arange(len(imp))
    ax.barh(ys, imp["mean_abs"], color="#4C78A8", alpha=0.35, label="mean |contribution|")
    rng = np.random.default_rng(0)
    for y, name in zip(ys, imp["feature"], strict=True):
        j = idx.get(name)
        if j is None:
            continue
        v = pf[:, j]
        ax.scatter(v, y + rng.uniform(-0.25, 0.25, len(v)), s=5, c=np.where(v > 0, "#D62728", "#1F77B4"), alpha=0.6)
    ax.axvline(0, c="grey", lw=0.8)
    ax.set_yticks(ys, imp["feature"])
    ax.set(xlabel=f"contribution ({exp.output} scale)", title=title or f"What drives the predictions ({exp.method})")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def waterfall_plot(exp: Explanation, i: int, k: int = 10, title: str | None = None) -> Any:
    """How one patient's prediction is built from the base value, top ``k`` contributions, rest pooled."""
    plt = _plt()
    pf = exp.per_feature()[i]
    order = np.argsort(-np.abs(pf))
    top, rest = order[:k], order[k:]
    labels = [exp.feature_names[j] for j in top] + ([f"{len(rest)} other features"] if len(rest) else [])
    contrib = list(pf[top]) + ([float(pf[rest].sum())] if len(rest) else [])
    fig, ax = plt.subplots(figsize=(6.0, 0.8 + 0.32 * len(labels)))
    start = float(exp.base_values[i])
    cum = start
    lefts = []
    for c in contrib:
        lefts.append(cum if c >= 0 else cum + c)
        cum += c
    ys = np.arange(len(labels))[::-1]
    ax.barh(ys, np.abs(contrib), left=lefts, color=["#D62728" if c > 0 else "#1F77B4" for c in contrib])
    ax.set_yticks(ys, labels)
    ax.axvline(start, c="grey", lw=0.8, ls="--")
    ax.axvline(float(exp.predictions[i]), c="black", lw=1.0)
    ax.set(xlabel=f"{exp.output}: base {start:.3g} → prediction {float(exp.predictions[i]):.3g}",
           title=title or f"Patient {i}: contributions")
    return fig


def sequence_heatmap(exp: Explanation, i: int | None = None, k: int = 12, title: str | None = None) -> Any:
    """Time step × variable attributions (one patient, or mean |IG| over patients) for the top ``k`` variables."""
    plt = _plt()
    if exp.values.ndim != 3:
        raise ValueError("sequence_heatmap needs (n, T, V) attributions")
    A = exp.values[i] if i is not None else np.abs(exp.values).mean(axis=0)  # (T, V)
    top = np.argsort(-np.abs(A).sum(axis=0))[:k]
    M = A[:, top].T  # (k, T)
    lim = float(np.abs(M).max()) or 1.0
    fig, ax = plt.subplots(figsize=(7.0, 0.6 + 0.3 * len(top)))
    im = ax.imshow(M, aspect="auto", cmap="RdBu_r" if i is not None else "Reds",
                   vmin=-lim if i is not None else 0, vmax=lim)
    ax.set_yticks(np.arange(len(top)), [exp.feature_names[j] for j in top])
    ax.set(xlabel="time step", title=title or (f"Patient {i}: IG attribution" if i is not None
                                               else "Mean |IG attribution| over patients"))
    fig.colorbar(im, ax=ax, fraction=0.03)
    return fig
