"""ICU in-hospital mortality from PhysioNet-format records: one estimator over all model kinds.

:class:`ICUMortalityModel` takes :class:`~medkit.data.physionet.PhysioNetRecords` (already
cleaned) and builds what its model needs — engineered features for ``logistic``, ``gbm`` and
``mlp``, the hourly grid for ``grud``. ``ensemble`` fits logistic + gbm + grud on 80% of the
training records, chooses blending weights on the other 20% (AUROC, grid over the simplex)
and fits a logistic recalibration of the blend there; the test set is never used.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from medkit.clinical.estimators import GRUDClassifier, MLPClassifier, make_gbm, make_logistic
from medkit.clinical.features import FeatureSet, physionet_features
from medkit.clinical.timeseries import to_grid
from medkit.core.errors import ConfigError, NotFittedError
from medkit.data.physionet import PARAMETERS, PhysioNetRecords

Kind = Literal["logistic", "gbm", "mlp", "grud", "ensemble"]
KINDS: tuple[str, ...] = ("logistic", "gbm", "mlp", "grud", "ensemble")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class ICUMortalityModel(BaseEstimator):  # type: ignore[misc]
    """Risk of in-hospital death from the first 48 h of an ICU stay.

    Parameters
    ----------
    kind
        ``logistic``, ``gbm``, ``mlp``, ``grud`` or ``ensemble``.
    features
        Feature set of the tabular models (``basic`` or ``extended``).
    seed
        Seeds every model.
    max_epochs
        Epoch cap of the neural models (``None``: their defaults).
    setup_hook
        Trainer setup hook for the neural models (differential privacy).
    gbm_iter
        Boosting iterations.
    n_bags
        Fit this many copies with seeds ``seed, seed+1, ...`` (each with its own inner split) and
        average their probabilities — lowers the seed-to-seed spread of the ensemble.
    """

    def __init__(self, kind: Kind = "gbm", features: FeatureSet = "extended", seed: int = 0,
                 max_epochs: int | None = None, setup_hook: Any = None, gbm_iter: int = 400, n_bags: int = 1) -> None:
        self.kind, self.features, self.seed, self.max_epochs = kind, features, seed, max_epochs
        self.setup_hook, self.gbm_iter, self.n_bags = setup_hook, gbm_iter, n_bags

    # ---------------------------------------------------------------- inputs
    def _features(self, recs: PhysioNetRecords, kind: str) -> pd.DataFrame:
        feats = "basic" if kind == "logistic" else self.features
        X = physionet_features(recs, feats)
        return X

    def _member(self, kind: str) -> Any:
        if kind == "logistic":
            return make_logistic(seed=self.seed)
        if kind == "gbm":
            return make_gbm(seed=self.seed, max_iter=self.gbm_iter)
        kw: dict[str, Any] = {"seed": self.seed, "setup_hook": self.setup_hook}
        if self.max_epochs is not None:
            kw["max_epochs"] = self.max_epochs
        if kind == "mlp":
            return MLPClassifier(**kw)
        if kind == "grud":
            return GRUDClassifier(**kw)
        raise ConfigError(f"unknown model kind '{kind}'", where="model", fix=f"use one of {', '.join(KINDS)}")

    def _input(self, recs: PhysioNetRecords, kind: str) -> Any:
        if kind == "grud":
            return to_grid(recs.long, recs.static, recs.record_ids)
        return self._features(recs, kind)

    def _fit_member(self, kind: str, recs: PhysioNetRecords, y: np.ndarray) -> Any:
        return self._member(kind).fit(self._input(recs, kind), y)

    @staticmethod
    def _proba(model: Any, X: Any) -> np.ndarray:
        return np.asarray(model.predict_proba(X)[:, 1], dtype=float)

    # ------------------------------------------------------------------- API
    def fit(self, recs: PhysioNetRecords, y: Any = None) -> ICUMortalityModel:
        yy = np.asarray(recs.y if y is None else y).astype(int)
        if self.kind not in KINDS:
            raise ConfigError(f"unknown model kind '{self.kind}'", where="model", fix=f"use one of {', '.join(KINDS)}")
        if self.n_bags > 1:
            self.bags_ = [ICUMortalityModel(self.kind, self.features, self.seed + i, self.max_epochs, self.setup_hook,
                                            self.gbm_iter).fit(recs, yy) for i in range(self.n_bags)]
            self.members_: dict[str, Any] = {}
            self.n_train_ = len(yy)
            return self
        if self.kind != "ensemble":
            self.members_ = {self.kind: self._fit_member(self.kind, recs, yy)}
            self.weights_: dict[str, float] = {self.kind: 1.0}
            self.recal_ = (1.0, 0.0)
        else:
            from sklearn.linear_model import LogisticRegression
            from sklearn.metrics import roc_auc_score
            from sklearn.model_selection import train_test_split

            ids = recs.record_ids
            tr, va = train_test_split(np.arange(len(ids)), test_size=0.2, stratify=yy, random_state=self.seed)
            r_tr, r_va = recs.subset(ids[np.sort(tr)]), recs.subset(ids[np.sort(va)])
            y_tr, y_va = yy[np.sort(tr)], yy[np.sort(va)]
            names: tuple[str, ...] = ("logistic", "gbm", "grud")
            self.members_ = {k: self._fit_member(k, r_tr, y_tr) for k in names}
            P = np.column_stack([self._proba(self.members_[k], self._input(r_va, k)) for k in names])
            L = _logit(P)
            best, best_w_arr = -1.0, np.full(3, 1 / 3)
            grid = [w for w in itertools.product(np.arange(0, 1.01, 0.1), repeat=3) if abs(sum(w) - 1) < 1e-9]
            for w in grid:
                a = roc_auc_score(y_va, L @ np.asarray(w))
                if a > best + 1e-4:
                    best, best_w_arr = a, np.asarray(w)
            self.weights_ = {k: float(w) for k, w in zip(names, best_w_arr, strict=True)}
            self.val_auroc_ = float(best)
            lr = LogisticRegression(C=1e6).fit((L @ best_w_arr)[:, None], y_va)
            self.recal_ = (float(lr.coef_[0, 0]), float(lr.intercept_[0]))
        self.n_train_ = len(yy)
        return self

    def _check(self) -> None:
        if not hasattr(self, "members_"):
            raise NotFittedError("ICUMortalityModel used before fit", where="predict_proba", fix="call fit first")

    def predict_proba(self, recs: PhysioNetRecords) -> np.ndarray:
        self._check()
        if getattr(self, "bags_", None):
            return np.mean([b.predict_proba(recs) for b in self.bags_], axis=0)  # type: ignore[no-any-return]
        z = sum(w * _logit(self._proba(self.members_[k], self._input(recs, k)))
                for k, w in self.weights_.items() if w > 0)
        a, b = self.recal_
        p = 1.0 / (1.0 + np.exp(-(a * np.asarray(z) + b))) if self.kind == "ensemble" else \
            1.0 / (1.0 + np.exp(-np.asarray(z)))
        return np.column_stack([1 - p, p])

    def contributions(self, recs: PhysioNetRecords, top_k: int = 5) -> list[list[dict[str, Any]]]:
        """Top ``top_k`` variables per record by occlusion: risk minus the risk with the variable's
        measurements removed (as if never measured). Positive = the variable's values raised the risk.

        Returns one list per record of ``{"feature", "last_value", "contribution"}``.
        """
        base = self.predict_proba(recs)[:, 1]
        present = sorted(set(recs.long["parameter"]))
        deltas = np.zeros((len(base), len(PARAMETERS)))
        for j, var in enumerate(PARAMETERS):
            if var not in present:
                continue
            occl = PhysioNetRecords(recs.long[recs.long["parameter"] != var], recs.static, None)
            deltas[:, j] = base - self.predict_proba(occl)[:, 1]
        last = (recs.long.sort_values("minutes").groupby(["record_id", "parameter"])["value"].last()
                .unstack().reindex(index=recs.record_ids, columns=list(PARAMETERS)))
        out = []
        for i in range(len(base)):
            order = np.argsort(-np.abs(deltas[i]))[:top_k]
            out.append([{"feature": PARAMETERS[j], "last_value": None if pd.isna(last.iat[i, j]) else
                         float(last.iat[i, j]), "contribution": float(deltas[i, j])}
                        for j in order if deltas[i, j] != 0])
        return out
