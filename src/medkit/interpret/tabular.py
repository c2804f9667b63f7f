"""SHAP explanations for tabular scikit-learn models (binary classifiers and regressors).

Choice of explainer, most exact first:

* tree ensembles (random forest, extra trees, gradient boosting, HistGradientBoosting, XGBoost, LightGBM):
  ``shap.TreeExplainer`` — exact Shapley values of the tree model (Lundberg et al. 2020), on the model's raw
  output (probability for forests, log-odds for boosting);
* linear models (logistic/linear regression): ``shap.LinearExplainer`` — exact for a linear model under
  feature independence, on the log-odds (classifiers) or target scale;
* anything else with ``predict_proba``/``predict``: ``shap.PermutationExplainer`` on the probability of
  class 1, against a background sample (model-agnostic; additive by construction, Shapley values estimated).

A scikit-learn ``Pipeline`` is explained at its last step, on the features after the earlier steps, as long
as those keep one column per input feature (imputers, scalers); names are kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from medkit.core.deps import require
from medkit.core.errors import ModelError
from medkit.interpret.explanation import Explanation

_TREE_NAMES = ("RandomForest", "ExtraTrees", "GradientBoosting", "HistGradientBoosting", "DecisionTree",
               "XGB", "LGBM", "CatBoost")
_LINEAR_NAMES = ("LogisticRegression", "LinearRegression", "Ridge", "Lasso", "ElasticNet", "SGDClassifier",
                 "LinearSVC")


def _split_pipeline(model: Any, X: pd.DataFrame) -> tuple[Any, Any, list[str]]:
    """(final estimator, function mapping raw X to its input, feature names)."""
    names = list(X.columns) if isinstance(X, pd.DataFrame) else [f"x{i}" for i in range(np.shape(X)[1])]
    steps = getattr(model, "steps", None)
    if not steps:
        return model, (lambda Z: Z), names
    head = model[:-1]
    final = steps[-1][1]

    def pre(Z: Any) -> np.ndarray:
        return np.asarray(head.transform(Z), dtype=float)

    n_out = pre(X.iloc[:2] if isinstance(X, pd.DataFrame) else np.asarray(X)[:2]).shape[1]
    if n_out != len(names):
        try:
            names = [str(n) for n in head.get_feature_names_out(names)]
        except (AttributeError, ValueError):
            names = [f"f{i}" for i in range(n_out)]
    return final, pre, names


def _kind(est: Any) -> str:
    cls = type(est).__name__
    if cls.startswith(_TREE_NAMES):
        return "tree"
    if cls.startswith(_LINEAR_NAMES):
        return "linear"
    return "permutation"


def _is_classifier(est: Any) -> bool:
    return hasattr(est, "predict_proba")


def applicable(model: Any) -> list[str]:
    """SHAP variants that apply to ``model`` (empty if it has no predict/predict_proba)."""
    if not (hasattr(model, "predict_proba") or hasattr(model, "predict")):
        return []
    final = model.steps[-1][1] if getattr(model, "steps", None) else model
    k = _kind(final)
    return [f"shap-{k}", "shap-permutation"] if k != "permutation" else ["shap-permutation"]


def explain_tabular(model: Any, X: Any, *, method: str = "shap", background: Any = None,
                    n_background: int = 100, seed: int = 0, max_evals: int | None = None) -> Explanation:
    """SHAP values for ``X`` (n, F) under a fitted scikit-learn model.

    Parameters
    ----------
    method
        ``shap`` (pick the most exact), ``shap-tree``, ``shap-linear`` or ``shap-permutation``.
    background
        Reference rows for linear/permutation explainers (default: ``X`` itself, subsampled to
        ``n_background`` rows with ``seed``). Explain held-out patients against the training data.
    max_evals
        Model evaluations per row for the permutation explainer (default ``4 * (2F + 1)``, i.e. 4 permutations).
    """
    shap = require("shap", "trust")
    Xdf = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=float))
    if len(Xdf) == 0:
        raise ModelError("nothing to explain: X has no rows", where="explain: X", fix="pass at least one row")
    bg_raw = Xdf if background is None else (background if isinstance(background, pd.DataFrame)
                                             else pd.DataFrame(np.asarray(background, float), columns=Xdf.columns))
    if len(bg_raw) > n_background:
        bg_raw = bg_raw.sample(n_background, random_state=seed)
    final, pre, names = _split_pipeline(model, Xdf)
    kind = _kind(final) if method == "shap" else method.removeprefix("shap-")
    if kind not in {"tree", "linear", "permutation"}:
        raise ModelError(f"unknown SHAP method '{method}'", where="explain(method=...)",
                         fix="use shap, shap-tree, shap-linear or shap-permutation")
    if kind != "permutation" and _kind(final) != kind:
        raise ModelError(f"'{method}' does not apply to {type(final).__name__}", where="explain(method=...)",
                         fix=f"use one of {applicable(model)}")
    Z = pre(Xdf)
    clf = _is_classifier(final)
    if kind == "tree":
        ex = shap.TreeExplainer(final)
        sv = ex(Z, check_additivity=True)
        vals, base = np.asarray(sv.values), np.asarray(sv.base_values)
        if vals.ndim == 3:  # (n, F, classes): explain the positive class
            vals, base = vals[..., -1], base[..., -1]
        if clf and hasattr(final, "decision_function") and type(final).__name__.startswith(("Gradient", "Hist")):
            pred, output = np.asarray(final.decision_function(Z), float).reshape(len(Z)), "log-odds"
        elif clf:
            pred, output = final.predict_proba(Z)[:, -1], "probability"
        else:
            pred, output = np.asarray(final.predict(Z), float), "prediction"
    elif kind == "linear":
        Bz = pre(bg_raw)
        ex = shap.LinearExplainer(final, shap.maskers.Independent(Bz, max_samples=len(Bz)))
        sv = ex(Z)
        vals, base = np.asarray(sv.values), np.asarray(sv.base_values)
        if vals.ndim == 3:
            vals, base = vals[..., -1], base[..., -1]
        if clf:
            pred, output = np.asarray(final.decision_function(Z), float).reshape(len(Z)), "log-odds"
        else:
            pred, output = np.asarray(final.predict(Z), float), "prediction"
    else:
        if clf:
            def f(A: np.ndarray) -> np.ndarray:
                return np.asarray(model.predict_proba(pd.DataFrame(A, columns=Xdf.columns))[:, -1])
            output = "probability"
        else:
            def f(A: np.ndarray) -> np.ndarray:
                return np.asarray(model.predict(pd.DataFrame(A, columns=Xdf.columns)), float)
            output = "prediction"
        masker = shap.maskers.Independent(bg_raw.to_numpy(float), max_samples=len(bg_raw))
        ex = shap.PermutationExplainer(f, masker, seed=seed)
        sv = ex(Xdf.to_numpy(float), max_evals=max_evals or 4 * (2 * Xdf.shape[1] + 1), silent=True)
        vals, base = np.asarray(sv.values), np.asarray(sv.base_values)
        pred = f(Xdf.to_numpy(float))
        names = list(map(str, Xdf.columns))
        Z = Xdf.to_numpy(float)
    base = np.broadcast_to(np.asarray(base, float).reshape(-1), (len(Z),)).copy()
    return Explanation(method=f"shap-{kind}", values=vals.astype(float), base_values=base,
                       predictions=np.asarray(pred, float), feature_names=[str(n) for n in names], output=output,
                       additive=True, data=np.asarray(Z, dtype=float), extra={"explainer": type(ex).__name__,
                                                      "estimator": type(final).__name__})
