"""Cross-validated policy value of the conservative rule on any treatment table (randomised or observational).

Per fold (stratified by arm), on the training part: the conservative rule (:func:`~medkit.treatment.table.
fit_table_policy`), the best single arm (raw mean for randomised data, g-formula mean of the rule's outcome
models for observational data), a T-learner outcome model μ̂ and — for observational data — a multinomial
logistic propensity model ê(x) on standardised covariates. On the held-out part: recommendations, μ̂ and ê.
Pooled held-out terms give IPW and doubly-robust values with bootstrap CIs and paired differences to the best
single arm and to random assignment (:func:`~medkit.treatment.policy_value.policy_values`).

Propensities: randomised → the arm shares (known by design); observational → cross-fitted ê clipped to
[``clip``, 1] and renormalised (a documented correction: the number of clipped patients is reported, since
clipping trades variance for bias where overlap is poor). The DR value is consistent if μ̂ or ê is right *and*
there is no unmeasured confounding — an assumption the data cannot check.

Values are mean outcomes in the outcome's units: with ``higher_is_better=False`` a *lower* value is better and
a negative difference to the best single arm is an improvement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from medkit.treatment.learners import TLearner
from medkit.treatment.policy_value import PolicyValue, policy_values
from medkit.treatment.table import TreatmentTable, fit_table_policy, prepare_table


@dataclass
class TableEvaluation:
    """Held-out policy values on a treatment table (see the module docstring)."""

    arms: np.ndarray
    values: list[PolicyValue]  # conservative-policy, best-single-arm, random-arm
    vs_best: dict[str, PolicyValue]  # rule − best single arm (paired bootstrap)
    switched: float  # share of patients moved off the fold's best single arm
    design: str
    higher_is_better: bool
    propensity_range: tuple[float, float]  # min / max of the (clipped) propensities used
    n_clipped: int  # patients with at least one clipped propensity (observational only)
    n: int

    def adds_value(self) -> bool:
        """True when the rule is confidently better than the best single arm (95 % CI of the DR difference)."""
        d = self.vs_best["conservative-policy"]
        return d.dr_ci[0] > 0 if self.higher_is_better else d.dr_ci[1] < 0


def evaluate_table(df: pd.DataFrame, spec: TreatmentTable, *, n_splits: int = 5, n_boot: int = 1000,
                   seed: int = 0, clip: float = 0.02, nuisance: Any = "ridge", **policy_kw: Any) -> TableEvaluation:
    """Cross-validated IPW/DR value of the conservative rule vs the best single arm and random assignment."""
    X, a, y = prepare_table(df, spec)
    arms = np.unique(a)
    n, K = len(y), len(arms)
    observational = spec.design == "observational"
    mu = np.zeros((n, K))
    prop = np.tile(np.bincount(np.searchsorted(arms, a), minlength=K) / n, (n, 1))
    rec = np.zeros(n, dtype=np.int64)
    best = np.zeros(n, dtype=np.int64)
    n_clipped = 0
    for tr, te in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(X, a):
        # prepare_table keeps every row in order, so df rows and X rows correspond positionally.
        pol = fit_table_policy(df.iloc[tr].reset_index(drop=True), spec, seed=seed, **policy_kw)
        Xte = X.iloc[te]
        rec[te] = pol.recommend(Xte).recommended
        best[te] = pol.default_arm_
        mu[te] = TLearner(base=nuisance, seed=seed).fit(X.iloc[tr], a[tr], y[tr]).predict_outcomes(Xte)
        if observational:
            ps = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
            p = clone(ps).fit(X.iloc[tr].to_numpy(), a[tr]).predict_proba(Xte.to_numpy())  # (n_te, K), arms order
            low = p < clip
            n_clipped += int(low.any(axis=1).sum())
            p = np.maximum(p, clip)
            prop[te] = p / p.sum(axis=1, keepdims=True)
    pols: dict[str, np.ndarray] = {"conservative-policy": rec, "best-single-arm": best,
                                   "random-arm": np.full((n, K), 1.0 / K)}
    values, vs_best = policy_values(y, a, pols, arms, propensity=prop, mu=mu, n_boot=n_boot, seed=seed,
                                    reference="best-single-arm")
    return TableEvaluation(arms, values, vs_best, float(np.mean(rec != best)), spec.design, spec.higher_is_better,
                           (float(prop.min()), float(prop.max())), n_clipped, n)
