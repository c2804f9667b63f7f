"""Cross-validated evaluation of treatment rules on a randomised trial (ACTG 175).

Per fold (stratified by arm): every learner and the conservative policy are fitted on the training part;
on the held-out part we record each rule's recommended arm, each learner's predicted effects, and a
cross-fitted nuisance outcome model μ̂ (T-learner, gradient boosting) for the DR value. "Best single arm" is
the arm with the highest mean outcome in the *training* part of the fold. Pooled held-out predictions then
give IPW and DR policy values with bootstrap CIs, paired differences vs the best single arm and random
assignment, Qini curves and effect calibration per contrast.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from medkit.core.logging import get_logger
from medkit.treatment._checks import check_arms, check_covariates, check_numeric
from medkit.treatment.learners import TLearner
from medkit.treatment.policy import ConservativePolicy
from medkit.treatment.policy_value import PolicyValue, policy_values
from medkit.treatment.uplift import EffectCalibration, QiniCurve, effect_calibration, qini_curve

log = get_logger("medkit.treatment.effects_eval")


@dataclass
class EffectsEvaluation:
    arms: np.ndarray
    values: list[PolicyValue]
    vs_best: dict[str, PolicyValue]
    vs_random: dict[str, PolicyValue]
    effects: dict[str, np.ndarray]  # learner → (n, K) out-of-fold effects vs reference
    qini: dict[tuple[str, int], QiniCurve]
    calibration: dict[tuple[str, int], EffectCalibration]
    switched: float  # share of patients the conservative policy moved off the default arm
    seconds: dict[str, float] = field(default_factory=dict)
    best_arm_per_fold: list[int] = field(default_factory=list)
    n_splits: int = 5

    def value_table(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for v in self.values:
            d = self.vs_best.get(v.name)
            rows.append({"policy": v.name, "DR value": f"{v.dr:.1f} ({v.dr_ci[0]:.1f}–{v.dr_ci[1]:.1f})",
                         "IPW value": f"{v.ipw:.1f} ({v.ipw_ci[0]:.1f}–{v.ipw_ci[1]:.1f})",
                         "DR vs best single arm": "" if d is None else
                         f"{d.dr:+.1f} ({d.dr_ci[0]:+.1f} to {d.dr_ci[1]:+.1f})"})
        return rows


def evaluate_policies(X: pd.DataFrame, arm: Any, y: Any, learners: dict[str, Any], *,
                      policy: ConservativePolicy | None = None, reference: int = 0, n_splits: int = 5,
                      seed: int = 0, n_boot: int = 1000, nuisance: Any = "gbm") -> EffectsEvaluation:
    """Cross-validated policy values, Qini and calibration (see the module docstring)."""
    Xd = check_covariates(X, list(X.columns), where="X")
    a = check_arms(arm, where="arm")
    yv = check_numeric(y, where="y")
    arms = np.unique(a)
    n, K = len(yv), len(arms)
    policy = policy if policy is not None else ConservativePolicy(seed=seed)
    mu = np.zeros((n, K))
    recs: dict[str, np.ndarray] = {name: np.zeros(n, dtype=np.int64) for name in [*learners, "conservative-policy"]}
    recs["best-single-arm"] = np.zeros(n, dtype=np.int64)
    effects = {name: np.zeros((n, K)) for name in learners}
    seconds: dict[str, float] = {name: 0.0 for name in recs}
    best_arms = []
    skf = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    for f, (tr, te) in enumerate(skf.split(Xd, a)):
        Xtr, Xte = Xd.iloc[tr], Xd.iloc[te]
        mu[te] = TLearner(base=nuisance, reference=reference, seed=seed).fit(Xtr, a[tr], yv[tr]).predict_outcomes(Xte)
        best = int(arms[np.argmax([yv[tr][a[tr] == k].mean() for k in arms])])
        best_arms.append(best)
        recs["best-single-arm"][te] = best
        for name, est in learners.items():
            t0 = time.perf_counter()
            m = clone(est).fit(Xtr, a[tr], yv[tr])
            out = m.predict_outcomes(Xte)
            seconds[name] += time.perf_counter() - t0
            effects[name][te] = out - out[:, [int(np.flatnonzero(arms == reference)[0])]]
            recs[name][te] = arms[np.argmax(out, axis=1)]
        t0 = time.perf_counter()
        recs["conservative-policy"][te] = clone(policy).fit(Xtr, a[tr], yv[tr]).recommend(Xte).recommended
        seconds["conservative-policy"] += time.perf_counter() - t0
        log.info("fold %d/%d done", f + 1, n_splits)
    pols: dict[str, np.ndarray] = dict(recs)
    pols["random-arm"] = np.full((n, K), 1.0 / K)
    values, vs_best = policy_values(yv, a, pols, arms, mu=mu, n_boot=n_boot, seed=seed, reference="best-single-arm")
    _, vs_random = policy_values(yv, a, pols, arms, mu=mu, n_boot=n_boot, seed=seed, reference="random-arm")
    qini, cal = {}, {}
    for name, eff in effects.items():
        for j, arm_code in enumerate(arms):
            if arm_code == reference:
                continue
            sel = (a == arm_code) | (a == reference)
            qini[(name, int(arm_code))] = qini_curve(eff[sel, j], yv[sel], a[sel] == arm_code)
            cal[(name, int(arm_code))] = effect_calibration(eff[sel, j], yv[sel], a[sel] == arm_code)
    switched = float(np.mean(recs["conservative-policy"] != recs["best-single-arm"]))
    return EffectsEvaluation(arms, values, vs_best, vs_random, effects, qini, cal, switched, seconds, best_arms,
                             n_splits)
