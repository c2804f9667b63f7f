"""Binary risk models on a plain table of features (WDBC, or any CSV with a 0/1 label)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from medkit.clinical.estimators import MLPClassifier, make_gbm, make_logistic
from medkit.core.errors import ConfigError, NotFittedError, SchemaError

TabKind = Literal["logistic", "gbm", "mlp"]


class TabularRiskModel(BaseEstimator):  # type: ignore[misc]
    """``logistic`` / ``gbm`` / ``mlp`` on numeric columns, with per-feature occlusion contributions.

    Parameters
    ----------
    kind
        Which model.
    seed, max_epochs, setup_hook
        Passed to the model (``max_epochs``/``setup_hook`` only for ``mlp``).
    """

    def __init__(self, kind: TabKind = "logistic", seed: int = 0, max_epochs: int | None = None,
                 setup_hook: Any = None, C: float = 1.0) -> None:
        self.kind, self.seed, self.max_epochs, self.setup_hook, self.C = kind, seed, max_epochs, setup_hook, C

    def fit(self, X: pd.DataFrame, y: Any) -> TabularRiskModel:
        X = pd.DataFrame(X)
        if self.kind == "logistic":
            self.model_ = make_logistic(C=self.C, seed=self.seed)
        elif self.kind == "gbm":
            self.model_ = make_gbm(seed=self.seed)
        elif self.kind == "mlp":
            kw: dict[str, Any] = {"seed": self.seed, "setup_hook": self.setup_hook}
            if self.max_epochs is not None:
                kw["max_epochs"] = self.max_epochs
            self.model_ = MLPClassifier(**kw)
        else:
            raise ConfigError(f"model '{self.kind}' is not a tabular binary model", where="model",
                              fix="use logistic, gbm or mlp")
        self.feature_names_in_ = list(X.columns)
        self.medians_ = X.median(numeric_only=True).reindex(X.columns)
        self.model_.fit(X.astype(float), np.asarray(y).astype(int))
        return self

    def _align(self, X: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "model_"):
            raise NotFittedError("TabularRiskModel used before fit", where="predict", fix="call fit first")
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise SchemaError(f"input lacks {len(missing)} feature columns, e.g. {missing[:3]}", where="input columns",
                              fix="supply every column the model was trained on (see bundle.json inputs)")
        return X[self.feature_names_in_].astype(float)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model_.predict_proba(self._align(X)))

    def contributions(self, X: pd.DataFrame, top_k: int = 5) -> list[list[dict[str, Any]]]:
        """Per row, the ``top_k`` features whose replacement by the training median changes the risk most
        (``contribution`` = risk - risk with that feature at the median)."""
        Xa = self._align(X)
        base = self.predict_proba(Xa)[:, 1]
        deltas = np.zeros((len(Xa), Xa.shape[1]))
        for j, c in enumerate(Xa.columns):
            Xo = Xa.copy()
            Xo[c] = self.medians_[c]
            deltas[:, j] = base - self.predict_proba(Xo)[:, 1]
        out = []
        for i in range(len(Xa)):
            order = np.argsort(-np.abs(deltas[i]))[:top_k]
            out.append([{"feature": str(Xa.columns[j]), "value": float(Xa.iat[i, j]),
                         "contribution": float(deltas[i, j])} for j in order])
        return out
