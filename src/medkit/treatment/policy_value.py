"""Off-policy value of a treatment rule on held-out randomised patients: IPW and doubly robust, with CIs.

For patients i with received arm A_i, outcome Y_i, propensity e(a | x_i) and a rule π::

    IPW(π) = mean_i 1[A_i = π(x_i)] · Y_i / e(A_i | x_i)                                  (Horvitz–Thompson)
    DR(π)  = mean_i μ̂(x_i, π(x_i)) + 1[A_i = π(x_i)] · (Y_i − μ̂(x_i, A_i)) / e(A_i | x_i)   (AIPW)

μ̂ must not have seen patient i (cross-fitted). A "random" rule (each arm with probability 1/K) has
value mean over arms of the single-arm values. Confidence intervals: percentile bootstrap over patients;
comparisons between rules are paired (same resample for both), so their CI is the CI of the difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medkit.core.errors import SchemaError
from medkit.treatment._checks import check_arms, check_numeric


@dataclass
class PolicyValue:
    """Estimated value of a rule (units of the outcome, e.g. CD4 cells/mm³) with 95% bootstrap CIs."""

    name: str
    ipw: float
    ipw_ci: tuple[float, float]
    dr: float
    dr_ci: tuple[float, float]
    n: int

    def as_dict(self) -> dict[str, object]:
        return {"policy": self.name, "ipw": self.ipw, "ipw_ci": list(self.ipw_ci), "dr": self.dr,
                "dr_ci": list(self.dr_ci), "n": self.n}


def _prop_matrix(propensity: np.ndarray | None, arm_idx: np.ndarray, n_arms: int) -> np.ndarray:
    if propensity is None:
        share = np.bincount(arm_idx, minlength=n_arms) / len(arm_idx)
        return np.tile(share, (len(arm_idx), 1))
    p = np.asarray(propensity, dtype=float)
    if p.ndim == 1:
        p = np.tile(p, (len(arm_idx), 1))
    if p.shape != (len(arm_idx), n_arms) or np.any(p <= 0) or not np.all(np.isfinite(p)):
        raise SchemaError(f"propensity must be (n, {n_arms}) or ({n_arms},), finite and > 0", where="propensity",
                          fix="pass the randomisation probabilities (e.g. the arm shares)")
    return p


def value_contributions(y: np.ndarray, arm: np.ndarray, policy: np.ndarray, arms: np.ndarray,
                        propensity: np.ndarray | None = None, mu: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Per-patient IPW and DR terms (n,), whose means are the value estimates.

    Parameters
    ----------
    y, arm, policy
        (n,) outcome, received arm code, recommended arm code.
    arms
        (K,) the arm codes (column order of ``propensity`` and ``mu``).
    propensity
        (n, K) or (K,) P(arm | x); default the arm shares in ``arm``.
    mu
        (n, K) cross-fitted outcome predictions; default 0 (then DR = IPW).
    """
    arms = np.asarray(arms)
    yv = check_numeric(y, where="y")
    a = check_arms(arm, where="arm", known=arms)
    pi = check_arms(policy, where="policy", known=arms)
    ai, pii = np.searchsorted(arms, a), np.searchsorted(arms, pi)
    K = len(arms)
    p = _prop_matrix(propensity, ai, K)
    rows = np.arange(len(yv))
    match = (ai == pii).astype(float)
    w = match / p[rows, ai]
    ipw = w * yv
    m = np.zeros((len(yv), K)) if mu is None else np.asarray(mu, dtype=float)
    if m.shape != (len(yv), K) or not np.all(np.isfinite(m)):
        raise SchemaError(f"mu must be a finite (n, {K}) array", where="mu", fix="pass cross-fitted predictions")
    dr = m[rows, pii] + w * (yv - m[rows, ai])
    return ipw, dr


def policy_values(y: np.ndarray, arm: np.ndarray, policies: dict[str, np.ndarray], arms: np.ndarray, *,
                  propensity: np.ndarray | None = None, mu: np.ndarray | None = None, n_boot: int = 1000,
                  seed: int = 0, reference: str | None = None) -> tuple[list[PolicyValue], dict[str, PolicyValue]]:
    """Values of several rules with bootstrap CIs, and paired differences to ``reference``.

    ``policies`` maps a name to (n,) arm codes; the special value ``None``-free name ``"random"`` may be
    added by the caller as an (n, K) array of probabilities (rows summing to 1) for a stochastic rule.

    Returns
    -------
    values, differences
        One :class:`PolicyValue` per rule; ``differences[name]`` is rule − reference (paired bootstrap).
    """
    terms: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, pol in policies.items():
        pol = np.asarray(pol)
        if pol.ndim == 2:  # stochastic rule: expectation of the deterministic terms over arms
            ipw = np.zeros(len(y))
            dr = np.zeros(len(y))
            for j, a in enumerate(arms):
                i_, d_ = value_contributions(y, arm, np.full(len(y), a), arms, propensity, mu)
                ipw += pol[:, j] * i_
                dr += pol[:, j] * d_
            terms[name] = (ipw, dr)
        else:
            terms[name] = value_contributions(y, arm, pol, arms, propensity, mu)
    rng = np.random.default_rng(seed)
    n = len(y)
    idx = rng.integers(0, n, size=(n_boot, n)) if n_boot > 0 else None

    def ci(v: np.ndarray) -> tuple[float, float]:
        if idx is None:
            return (float("nan"), float("nan"))
        b = v[idx].mean(1)
        return (float(np.percentile(b, 2.5)), float(np.percentile(b, 97.5)))

    values = [PolicyValue(k, float(t[0].mean()), ci(t[0]), float(t[1].mean()), ci(t[1]), n) for k, t in terms.items()]
    diffs: dict[str, PolicyValue] = {}
    if reference is not None:
        ri, rd = terms[reference]
        for k, (ti, td) in terms.items():
            if k != reference:
                diffs[k] = PolicyValue(f"{k} - {reference}", float((ti - ri).mean()), ci(ti - ri),
                                       float((td - rd).mean()), ci(td - rd), n)
    return values, diffs
