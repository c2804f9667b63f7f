"""Multi-arm treatment-effect meta-learners (S, T, X, DR) and a causal-forest wrapper.

All learners share one interface::

    fit(X, arm, y) -> self              X (n, p) baseline covariates, arm (n,) int codes, y (n,) outcome
    predict_outcomes(X) -> (n, K)       expected outcome under each arm (K = number of arms seen in fit)
    effects(X) -> (n, K)                μ_a(x) − μ_ref(x); the reference column is 0
    recommend(X) -> (n,)                arm with the highest expected outcome (no uncertainty: see policy.py)

Propensities: ACTG 175 is randomised, so the default propensity of arm a is its share in the training data
(constant). Pass ``propensity=(n, K)`` to ``fit`` for observational data.

References: Künzel et al. PNAS 2019 (S/T/X); Kennedy 2023 (DR-learner); Athey, Tibshirani & Wager 2019
(generalised random forests; econml's ``CausalForestDML``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import KFold

from medkit.core.errors import ConfigError, SchemaError
from medkit.treatment._checks import check_arms, check_covariates, check_fitted, check_numeric


def make_base(base: Any, seed: int = 0) -> Any:
    """A fresh regressor: ``gbm`` (histogram gradient boosting), ``rf``, ``ridge`` or an sklearn estimator."""
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not isinstance(base, str):
        return clone(base)
    if base == "gbm":
        # Shallow, strongly regularised: ~500 patients per arm and a weak signal.
        return HistGradientBoostingRegressor(max_iter=150, learning_rate=0.05, max_leaf_nodes=8, min_samples_leaf=30,
                                             l2_regularization=1.0, random_state=seed)
    if base == "rf":
        return RandomForestRegressor(n_estimators=200, min_samples_leaf=20, max_features=0.5, random_state=seed,
                                     n_jobs=1)
    if base == "ridge":
        return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 12)))
    raise ConfigError(f"unknown base model '{base}'", where="base", fix="use 'gbm', 'rf', 'ridge' or an estimator")


class _ArmLearner(BaseEstimator):
    """Shared input handling; subclasses implement ``_fit`` and ``predict_outcomes``."""

    base: Any
    reference: int
    seed: int

    def fit(self, X: Any, arm: Any, y: Any, propensity: Any = None) -> Any:
        feats = list(X.columns) if hasattr(X, "columns") else None
        Xd = check_covariates(X, feats, where="X")
        a = check_arms(arm, where="arm")
        yv = check_numeric(y, where="y")
        if not (len(Xd) == len(a) == len(yv)):
            raise SchemaError(f"X, arm and y have different lengths ({len(Xd)}, {len(a)}, {len(yv)})",
                              where="fit", fix="pass one row, one arm and one outcome per patient")
        self.arms_ = np.unique(a)
        if self.reference not in set(self.arms_.tolist()):
            raise ConfigError(f"reference arm {self.reference} is not among the arms {self.arms_.tolist()}",
                              where="reference", fix="choose an arm present in the data")
        small = [int(k) for k in self.arms_ if (a == k).sum() < 10]
        if small:
            raise SchemaError(f"arm(s) {small} have fewer than 10 patients", where="arm",
                              fix="merge or drop rare arms before fitting")
        self.features_ = list(Xd.columns)
        self.ref_idx_ = int(np.flatnonzero(self.arms_ == self.reference)[0])
        if propensity is None:
            share = np.array([(a == k).mean() for k in self.arms_])
            self.propensity_ = share
            prop = np.tile(share, (len(a), 1))
        else:
            prop = np.asarray(propensity, dtype=float)
            if prop.shape != (len(a), len(self.arms_)) or np.any(prop <= 0):
                raise SchemaError(f"propensity must be (n, {len(self.arms_)}) and > 0", where="propensity",
                                  fix="pass P(arm | X) for every patient and arm, bounded away from 0")
            self.propensity_ = prop.mean(0)
        self._fit(Xd.to_numpy(), np.searchsorted(self.arms_, a), yv, prop)
        return self

    def _fit(self, X: np.ndarray, k: np.ndarray, y: np.ndarray, prop: np.ndarray) -> None:
        raise NotImplementedError

    def _X(self, X: Any) -> np.ndarray:
        check_fitted(self, "arms_")
        feats = self.features_ if hasattr(X, "columns") else None
        return check_covariates(X, feats, where="X").to_numpy()

    def predict_outcomes(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def effects(self, X: Any) -> np.ndarray:
        mu = self.predict_outcomes(X)
        return mu - mu[:, [self.ref_idx_]]

    def recommend(self, X: Any) -> np.ndarray:
        return self.arms_[np.argmax(self.predict_outcomes(X), axis=1)]


class SLearner(_ArmLearner):
    """One model on [X, one-hot arm]; μ_a(x) = f(x, a)."""

    def __init__(self, base: Any = "gbm", reference: int = 0, seed: int = 0) -> None:
        self.base = base
        self.reference = reference
        self.seed = seed

    def _fit(self, X: np.ndarray, k: np.ndarray, y: np.ndarray, prop: np.ndarray) -> None:
        onehot = np.eye(len(self.arms_))[k]
        self.model_ = make_base(self.base, self.seed).fit(np.hstack([X, onehot]), y)

    def predict_outcomes(self, X: Any) -> np.ndarray:
        Xa = self._X(X)
        K = len(self.arms_)
        return np.column_stack([self.model_.predict(np.hstack([Xa, np.tile(np.eye(K)[j], (len(Xa), 1))]))
                                for j in range(K)])


class TLearner(_ArmLearner):
    """One outcome model per arm."""

    def __init__(self, base: Any = "gbm", reference: int = 0, seed: int = 0) -> None:
        self.base = base
        self.reference = reference
        self.seed = seed

    def _fit(self, X: np.ndarray, k: np.ndarray, y: np.ndarray, prop: np.ndarray) -> None:
        self.models_ = [make_base(self.base, self.seed).fit(X[k == j], y[k == j]) for j in range(len(self.arms_))]

    def predict_outcomes(self, X: Any) -> np.ndarray:
        Xa = self._X(X)
        return np.column_stack([m.predict(Xa) for m in self.models_])


class XLearner(_ArmLearner):
    """X-learner per contrast (arm a vs reference), weighted by the propensity share g = e_a / (e_a + e_ref)."""

    def __init__(self, base: Any = "gbm", reference: int = 0, seed: int = 0) -> None:
        self.base = base
        self.reference = reference
        self.seed = seed

    def _fit(self, X: np.ndarray, k: np.ndarray, y: np.ndarray, prop: np.ndarray) -> None:
        r = self.ref_idx_
        self.mu_ = [make_base(self.base, self.seed).fit(X[k == j], y[k == j]) for j in range(len(self.arms_))]
        self.tau_: list[tuple[Any, Any] | None] = []
        for j in range(len(self.arms_)):
            if j == r:
                self.tau_.append(None)
                continue
            t, c = k == j, k == r
            d1 = y[t] - self.mu_[r].predict(X[t])  # imputed effect on the treated
            d0 = self.mu_[j].predict(X[c]) - y[c]  # imputed effect on the reference arm
            self.tau_.append((make_base(self.base, self.seed).fit(X[t], d1), make_base(self.base, self.seed).fit(X[c], d0)))
        self.g_ = prop.mean(0)

    def predict_outcomes(self, X: Any) -> np.ndarray:
        Xa = self._X(X)
        r = self.ref_idx_
        base = self.mu_[r].predict(Xa)
        out = np.tile(base[:, None], (1, len(self.arms_)))
        for j, pair in enumerate(self.tau_):
            if pair is None:
                continue
            g = self.g_[j] / (self.g_[j] + self.g_[r])
            out[:, j] = base + g * pair[1].predict(Xa) + (1 - g) * pair[0].predict(Xa)
        return out


class DRLearner(_ArmLearner):
    """Doubly-robust learner: regress cross-fitted AIPW pseudo-outcomes φ_a − φ_ref on X.

    φ_a = μ̂_a(X) + 1[A=a](Y − μ̂_a(X)) / e_a(X), with μ̂ fitted on the other folds (``n_folds``).
    """

    def __init__(self, base: Any = "gbm", final: Any = "ridge", reference: int = 0, n_folds: int = 5,
                 seed: int = 0) -> None:
        self.base = base
        self.final = final
        self.reference = reference
        self.n_folds = n_folds
        self.seed = seed

    def _fit(self, X: np.ndarray, k: np.ndarray, y: np.ndarray, prop: np.ndarray) -> None:
        K, r = len(self.arms_), self.ref_idx_
        mu = np.zeros((len(y), K))
        for tr, te in KFold(self.n_folds, shuffle=True, random_state=self.seed).split(X):
            for j in range(K):
                sel = tr[k[tr] == j]
                mu[te, j] = make_base(self.base, self.seed).fit(X[sel], y[sel]).predict(X[te])
        phi = mu.copy()
        rows = np.arange(len(y))
        phi[rows, k] += (y - mu[rows, k]) / prop[rows, k]
        self.tau_ = [None if j == r else make_base(self.final, self.seed).fit(X, phi[:, j] - phi[:, r])
                     for j in range(K)]
        self.mu_ref_ = make_base(self.base, self.seed).fit(X[k == r], y[k == r])

    def predict_outcomes(self, X: Any) -> np.ndarray:
        Xa = self._X(X)
        base = self.mu_ref_.predict(Xa)
        return np.column_stack([base if m is None else base + m.predict(Xa) for m in self.tau_])


class CausalForestLearner(_ArmLearner):
    """econml ``CausalForestDML`` per contrast (discrete multi-arm treatment) + a reference-arm outcome model."""

    def __init__(self, n_estimators: int = 200, min_samples_leaf: int = 10, reference: int = 0, seed: int = 0,
                 base: Any = "gbm") -> None:
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.reference = reference
        self.seed = seed
        self.base = base

    def _fit(self, X: np.ndarray, k: np.ndarray, y: np.ndarray, prop: np.ndarray) -> None:
        from medkit.core.deps import require

        require("econml", "treatment")
        from econml.dml import CausalForestDML
        from sklearn.dummy import DummyClassifier

        # Randomised trial: the treatment model is the arm share (a constant classifier), not a fitted model.
        self.cf_ = CausalForestDML(model_y=make_base(self.base, self.seed), model_t=DummyClassifier(strategy="prior"),
                                   discrete_treatment=True, categories=list(range(len(self.arms_))),
                                   n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                                   random_state=self.seed, cv=3, n_jobs=1)
        self.cf_.fit(y, k, X=X)
        self.mu_ref_ = make_base(self.base, self.seed).fit(X[k == self.ref_idx_], y[k == self.ref_idx_])

    def predict_outcomes(self, X: Any) -> np.ndarray:
        Xa = self._X(X)
        base = self.mu_ref_.predict(Xa)
        r = self.ref_idx_
        return np.column_stack([base if j == r else base + self.cf_.effect(Xa, T0=r, T1=j)
                                for j in range(len(self.arms_))])


LEARNERS: dict[str, Any] = {"s-learner": SLearner, "t-learner": TLearner, "x-learner": XLearner,
                            "dr-learner": DRLearner, "causal-forest": CausalForestLearner}
