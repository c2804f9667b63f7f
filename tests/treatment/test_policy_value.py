"""IPW / DR policy values against a hand computation, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from medkit.core.errors import SchemaError
from medkit.treatment.policy_value import policy_values, value_contributions

# Tiny randomised table: 2 arms with P(arm 0) = 0.5, P(arm 1) = 0.5.
Y = np.array([10.0, 20.0, 30.0, 40.0])
A = np.array([0, 1, 0, 1])
PI = np.array([0, 0, 1, 1])  # rule: patients 0, 1 → arm 0; patients 2, 3 → arm 1
MU = np.array([[12.0, 18.0], [15.0, 22.0], [28.0, 35.0], [30.0, 41.0]])
ARMS = np.array([0, 1])


def test_ipw_and_dr_equal_hand_computation() -> None:
    ipw, dr = value_contributions(Y, A, PI, ARMS, propensity=np.array([0.5, 0.5]), mu=MU)
    # IPW: followed for patients 0 (y=10) and 3 (y=40): (10/0.5 + 0 + 0 + 40/0.5) / 4 = 25
    assert ipw.mean() == pytest.approx(25.0)
    # DR: μ(π) + 1[A=π](y − μ(A))/e:
    #   p0: 12 + (10−12)/0.5 = 8;  p1: 15 + 0 = 15;  p2: 35 + 0 = 35;  p3: 41 + (40−41)/0.5 = 39 → mean 24.25
    assert dr.mean() == pytest.approx((8 + 15 + 35 + 39) / 4)


def test_random_policy_and_paired_differences() -> None:
    pols = {"rule": PI, "all-0": np.zeros(4, int), "random": np.full((4, 2), 0.5)}
    vals, diffs = policy_values(Y, A, pols, ARMS, propensity=np.array([0.5, 0.5]), mu=MU, n_boot=200,
                                reference="all-0")
    v = {p.name: p for p in vals}
    # all-0 by IPW: (10 + 30)/0.5 / 4 = 20; all-1: (20 + 40)/0.5/4 = 30; random = their mean 25
    assert v["all-0"].ipw == pytest.approx(20.0)
    assert v["random"].ipw == pytest.approx(25.0)
    assert diffs["rule"].ipw == pytest.approx(v["rule"].ipw - v["all-0"].ipw)
    lo, hi = v["rule"].dr_ci
    assert lo <= v["rule"].dr <= hi


def test_dr_without_outcome_model_is_ipw() -> None:
    ipw, dr = value_contributions(Y, A, PI, ARMS)
    np.testing.assert_allclose(ipw, dr)


@pytest.mark.parametrize(("arm", "policy", "match"), [
    (np.array([0, 1, 0, 5]), PI, "never seen"),
    (np.array(["ZDV", "ddI", "ZDV", "ddI"], dtype=object), PI, "non-numeric"),
    (A, np.array([0, 0, 2, 1]), "never seen"),
])
def test_bad_arms(arm: np.ndarray, policy: np.ndarray, match: str) -> None:
    with pytest.raises(SchemaError, match=match):
        value_contributions(Y, arm, policy, ARMS)


def test_bad_propensity() -> None:
    with pytest.raises(SchemaError, match="propensity"):
        value_contributions(Y, A, PI, ARMS, propensity=np.array([1.0, 0.0]))
