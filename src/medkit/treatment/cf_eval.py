"""Evaluation of collaborative filtering: RMSE/MAE and ranking metrics with repeated k-fold on observed entries.

Ranking (per entity, over its held-out treatments; an entity needs ≥ 2 held-out entries):

* precision@k: share of the predicted top-k that are in the true top-k (k capped at the entity's count);
* NDCG@k: Σ gain / log2(rank + 1) over the predicted top-k, divided by the same sum for the true order;
  gain = the true score min-max scaled to [0, 1] within the entity.

"Top" means best: for ln(IC50) lower is better (a more sensitive cell line), so pass
``higher_is_better=False``. Splits: entries (``split="entries"``, KFold over observed pairs) or entities
(``split="entities"``, all of an entity's entries held out together — cold start).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, KFold


@dataclass
class CFScores:
    """Mean over folds with a ±1.96·SE band across folds (folds share data: indicative, not exact)."""

    model: str
    split: str
    per_fold: dict[str, list[float]] = field(default_factory=dict)

    def summary(self) -> dict[str, tuple[float, float, float]]:
        out = {}
        for k, v in self.per_fold.items():
            a = np.asarray(v, dtype=float)
            se = a.std(ddof=1) / np.sqrt(len(a)) if len(a) > 1 else float("nan")
            out[k] = (float(a.mean()), float(a.mean() - 1.96 * se), float(a.mean() + 1.96 * se))
        return out


def ranking_metrics(entity: np.ndarray, y: np.ndarray, pred: np.ndarray, k: int = 10,
                    higher_is_better: bool = True) -> dict[str, float]:
    """Mean precision@k and NDCG@k over entities with ≥ 2 held-out entries (see module docstring)."""
    sign = 1.0 if higher_is_better else -1.0
    df = pd.DataFrame({"e": entity, "s": sign * np.asarray(y, float), "p": sign * np.asarray(pred, float)})
    g = df.groupby("e")
    df["n"] = g["s"].transform("size")
    df = df[df["n"] >= 2].copy()
    if df.empty:
        return {f"precision@{k}": float("nan"), f"ndcg@{k}": float("nan")}
    g = df.groupby("e")
    df["rp"] = g["p"].rank(ascending=False, method="first")
    df["rt"] = g["s"].rank(ascending=False, method="first")
    lo, hi = g["s"].transform("min"), g["s"].transform("max")
    df["gain"] = np.where(hi > lo, (df["s"] - lo) / (hi - lo).where(hi > lo, 1.0), 1.0)
    df["kk"] = np.minimum(k, df["n"])
    df["hit"] = ((df["rp"] <= df["kk"]) & (df["rt"] <= df["kk"])).astype(float)
    df["dcg"] = np.where(df["rp"] <= df["kk"], df["gain"] / np.log2(df["rp"] + 1), 0.0)
    df["idcg"] = np.where(df["rt"] <= df["kk"], df["gain"] / np.log2(df["rt"] + 1), 0.0)
    agg = df.groupby("e").agg(hit=("hit", "sum"), kk=("kk", "first"), dcg=("dcg", "sum"), idcg=("idcg", "sum"))
    prec = (agg["hit"] / agg["kk"]).mean()
    ndcg = (agg["dcg"] / agg["idcg"].where(agg["idcg"] > 0)).mean()
    return {f"precision@{k}": float(prec), f"ndcg@{k}": float(ndcg)}


def cf_folds(X: np.ndarray, split: str, n_splits: int, n_repeats: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test index pairs: KFold over entries, or GroupKFold over entities (shuffled per repeat)."""
    folds = []
    for r in range(n_repeats):
        if split == "entries":
            folds += list(KFold(n_splits, shuffle=True, random_state=seed + r).split(X))
        else:
            ents = np.unique(X[:, 0])
            perm = np.random.default_rng(seed + r).permutation(ents)
            relabel = np.empty(ents.max() + 1, dtype=np.int64)
            relabel[perm] = np.arange(len(perm))
            folds += list(GroupKFold(n_splits).split(X, groups=relabel[X[:, 0]]))
    return folds


def cross_validate_cf(models: dict[str, Any], X: np.ndarray, y: np.ndarray, *, split: str = "entries",
                      n_splits: int = 5, n_repeats: int = 1, seed: int = 0, k: int = 10,
                      higher_is_better: bool = False, fit_kwargs: dict[str, dict[str, Any]] | None = None,
                      folds: list[tuple[np.ndarray, np.ndarray]] | None = None,
                      on_fold: Callable[[str, int], None] | None = None) -> dict[str, CFScores]:
    """RMSE, MAE, precision@k, NDCG@k and fit+predict seconds per model over the same folds.

    ``models`` values are sklearn-style estimators (cloned per fold) or callables
    ``f(X_train, y_train, X_test) -> pred`` (for baselines such as the treatment mean).
    """
    folds = folds if folds is not None else cf_folds(X, split, n_splits, n_repeats, seed)
    out = {name: CFScores(name, split) for name in models}
    for f, (tr, te) in enumerate(folds):
        for name, model in models.items():
            t0 = time.perf_counter()
            if callable(model) and not hasattr(model, "fit"):
                pred = model(X[tr], y[tr], X[te])
            else:
                est = clone(model).fit(X[tr], y[tr], **(fit_kwargs or {}).get(name, {}))
                pred = est.predict(X[te])
            secs = time.perf_counter() - t0
            err = pred - y[te]
            scores = {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
                      **ranking_metrics(X[te, 0], y[te], pred, k=k, higher_is_better=higher_is_better),
                      "fit_predict_s": secs}
            for key, v in scores.items():
                out[name].per_fold.setdefault(key, []).append(v)
            if on_fold is not None:
                on_fold(name, f)
    return out


def treatment_mean(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray) -> np.ndarray:
    """Baseline: each treatment's mean training response (global mean for unseen treatments)."""
    n_t = int(max(X_train[:, 1].max(), X_test[:, 1].max())) + 1
    s = np.bincount(X_train[:, 1], y_train, minlength=n_t)
    c = np.bincount(X_train[:, 1], minlength=n_t)
    means = np.where(c > 0, s / np.maximum(c, 1), y_train.mean())
    return means[X_test[:, 1]]
