"""A conservative treatment rule: keep the best single arm unless another arm is confidently better.

:class:`ConservativePolicy` fits ``n_boot`` bootstrap replicates of a per-arm outcome model (T-learner;
each replicate resamples patients within each arm). For a patient it reports, per arm, the mean expected
outcome over replicates with a percentile interval, and the benefit of every arm over the *default arm*
(the arm with the best mean outcome in the training data — "everyone gets the best single arm"). It
recommends another arm only when the ``1 − alpha`` lower bound of that benefit exceeds ``margin``;
otherwise it keeps the default. With alpha = 0.05 and no real heterogeneity, about 5 % of patients would
be switched by chance in the worst case, so the rule cannot be much worse than the best single arm.

The intervals are bootstrap intervals of the *expected* outcome (model uncertainty), not prediction
intervals for one patient's measured CD4.

``higher_is_better=False`` (e.g. an event indicator or a symptom score) flips the direction: the default arm
has the lowest mean and a *benefit* is a reduction (reported as a positive number). ``default_arm_by=
"standardised"`` chooses the default arm by the mean over all training patients of each arm's predicted
outcome (g-formula) instead of the raw arm mean; use it for observational data, where raw arm means are
confounded by who received which arm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from medkit.core.errors import ConfigError, ValidationError
from medkit.treatment._checks import check_arms, check_covariates, check_fitted, check_numeric
from medkit.treatment.learners import make_base


@dataclass
class Recommendation:
    """Per-patient output of :meth:`ConservativePolicy.recommend` (arrays, n patients × K arms)."""

    arms: np.ndarray  # (K,) arm codes
    outcome: np.ndarray  # (n, K) mean expected outcome
    outcome_lo: np.ndarray  # (n, K)
    outcome_hi: np.ndarray  # (n, K)
    benefit: np.ndarray  # (n, K) improvement over the default arm (outcome difference, sign-flipped if lower is better)
    benefit_lo: np.ndarray  # (n, K) lower 1-alpha bound (one-sided)
    benefit_hi: np.ndarray  # (n, K)
    recommended: np.ndarray  # (n,) arm codes
    default_arm: int
    switched: np.ndarray  # (n,) bool: recommended differs from the default


class ConservativePolicy(BaseEstimator):
    """Bootstrap-ensemble outcome model with a "switch only when confident" rule.

    Parameters
    ----------
    base
        Outcome model per arm: ``gbm``, ``rf``, ``ridge`` or an sklearn regressor.
    n_boot
        Bootstrap replicates (≥ 10).
    alpha
        One-sided error level of the benefit's lower bound (0.05 → 95 % one-sided).
    margin
        Minimum benefit (outcome units) the lower bound must exceed to switch.
    interval
        Central coverage of the reported outcome intervals.
    seed
        Random seed.
    higher_is_better
        Direction of the outcome (``False``: lower is better; benefits are then reductions).
    default_arm_by
        ``mean`` (raw arm means; right for randomised trials) or ``standardised`` (mean prediction over all
        training patients; for observational data).
    """

    def __init__(self, base: Any = "ridge", n_boot: int = 30, alpha: float = 0.05, margin: float = 0.0,
                 interval: float = 0.95, seed: int = 0, higher_is_better: bool = True,
                 default_arm_by: str = "mean") -> None:
        self.base = base
        self.n_boot = n_boot
        self.alpha = alpha
        self.margin = margin
        self.interval = interval
        self.seed = seed
        self.higher_is_better = higher_is_better
        self.default_arm_by = default_arm_by

    @property
    def sign_(self) -> float:
        """+1 if higher outcomes are better, −1 otherwise (policies pickled before this option: +1)."""
        return 1.0 if getattr(self, "higher_is_better", True) else -1.0

    def fit(self, X: Any, arm: Any, y: Any) -> ConservativePolicy:
        if self.n_boot < 10 or not 0 < self.alpha < 0.5 or not 0 < self.interval < 1:
            raise ConfigError("need n_boot >= 10, 0 < alpha < 0.5 and 0 < interval < 1", where="ConservativePolicy",
                              fix="e.g. n_boot=30, alpha=0.05, interval=0.95")
        if self.default_arm_by not in ("mean", "standardised"):
            raise ConfigError(f"unknown default_arm_by '{self.default_arm_by}'", where="ConservativePolicy",
                              fix="use 'mean' (randomised data) or 'standardised' (observational data)")
        feats = list(X.columns) if hasattr(X, "columns") else None
        Xd = check_covariates(X, feats, where="X")
        a = check_arms(arm, where="arm")
        yv = check_numeric(y, where="y")
        self.features_ = list(Xd.columns)
        self.arms_ = np.unique(a)
        Xa = Xd.to_numpy()
        if len(self.arms_) < 2:
            raise ValidationError(f"only one arm ({int(self.arms_[0])}) in the data: nothing to compare",
                                  where="arm", fix="train on data where at least two treatments were given")
        counts = np.array([(a == k).sum() for k in self.arms_])
        if counts.min() < 2:
            k = int(self.arms_[int(np.argmin(counts))])
            raise ValidationError(f"arm {k} has {counts.min()} patient(s): its outcome model cannot be bootstrapped",
                                  where="arm", fix="drop that arm or collect more patients who received it")
        means = np.array([yv[a == k].mean() for k in self.arms_])
        self.arm_means_ = means
        self.medians_ = np.median(Xa, axis=0)
        rng = np.random.default_rng(self.seed)
        self.models_: list[list[Any]] = []
        groups = [np.flatnonzero(a == k) for k in self.arms_]
        for b in range(self.n_boot):
            reps = []
            for g in groups:
                idx = rng.choice(g, size=len(g), replace=True)
                reps.append(make_base(self.base, self.seed + b).fit(Xa[idx], yv[idx]))
            self.models_.append(reps)
        if self.default_arm_by == "standardised":
            self.standardised_means_ = self._draws(Xa).mean((0, 1))  # (K,) g-formula mean per arm
            self.default_arm_ = int(self.arms_[int(np.argmax(self.sign_ * self.standardised_means_))])
        else:
            self.default_arm_ = int(self.arms_[int(np.argmax(self.sign_ * means))])
        return self

    def _draws(self, Xa: np.ndarray) -> np.ndarray:
        return np.stack([np.column_stack([m.predict(Xa) for m in reps]) for reps in self.models_])  # (B, n, K)

    def recommend(self, X: Any) -> Recommendation:
        """Per-arm expected outcome with interval, benefit over the default arm and the recommended arm."""
        check_fitted(self, "models_")
        Xa = check_covariates(X, self.features_ if hasattr(X, "columns") else None, where="X").to_numpy()
        d = self._draws(Xa)
        lo_q, hi_q = 100 * (1 - self.interval) / 2, 100 * (1 + self.interval) / 2
        j0 = int(np.flatnonzero(self.arms_ == self.default_arm_)[0])
        ben = self.sign_ * (d - d[:, :, [j0]])  # (B, n, K) improvement over the default arm
        ben_lo = np.percentile(ben, 100 * self.alpha, axis=0)
        ben_mean = ben.mean(0)
        confident = ben_lo > self.margin
        score = np.where(confident, ben_mean, -np.inf)
        score[:, j0] = 0.0  # the default arm is always admissible with benefit 0
        rec = self.arms_[np.argmax(score, axis=1)]
        return Recommendation(self.arms_, d.mean(0), np.percentile(d, lo_q, axis=0), np.percentile(d, hi_q, axis=0),
                              ben_mean, ben_lo, np.percentile(ben, 100 * (1 - self.alpha), axis=0), rec,
                              self.default_arm_, rec != self.default_arm_)

    def predict_outcomes(self, X: Any) -> np.ndarray:
        """(n, K) mean expected outcome per arm (same interface as the learners)."""
        return self.recommend(X).outcome

    def predict(self, X: Any) -> np.ndarray:
        """(n,) recommended arm codes."""
        return self.recommend(X).recommended

    def drivers(self, X: Any, arm: int, versus: int, top: int = 3) -> list[list[tuple[str, float]]]:
        """Features that drive the benefit of ``arm`` over ``versus`` for each patient.

        For each covariate, the change in the mean predicted benefit when that covariate alone is set to the
        training median (a one-at-a-time sensitivity, not a causal statement). Returns per patient the ``top``
        (feature, change) pairs, largest |change| first; positive = the patient's value raises the benefit.
        """
        check_fitted(self, "models_")
        Xa = check_covariates(X, self.features_ if hasattr(X, "columns") else None, where="X").to_numpy()
        ja = int(np.flatnonzero(self.arms_ == arm)[0])
        jv = int(np.flatnonzero(self.arms_ == versus)[0])

        def benefit(Z: np.ndarray) -> np.ndarray:
            d = self._draws(Z)
            return self.sign_ * (d[:, :, ja] - d[:, :, jv]).mean(0)

        base = benefit(Xa)
        deltas = np.zeros_like(Xa, dtype=float)
        for f in range(Xa.shape[1]):
            Z = Xa.copy()
            Z[:, f] = self.medians_[f]
            deltas[:, f] = base - benefit(Z)
        out = []
        for i in range(len(Xa)):
            order = np.argsort(-np.abs(deltas[i]))[:top]
            out.append([(self.features_[f], float(deltas[i, f])) for f in order])
        return out
