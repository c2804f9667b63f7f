"""Learners recover a planted effect on the real ACTG 175 covariates; bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medkit.core.errors import SchemaError
from medkit.data import load_dataset
from medkit.treatment.features import ACTG_COVARIATES
from medkit.treatment.learners import CausalForestLearner, DRLearner, SLearner, TLearner, XLearner
from medkit.treatment.neural import TARNetLearner


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Real covariates and the real randomised arms; outcome = real-looking baseline + known effect + noise.

    τ_1(x) = +60 if baseline CD4 (cd40) is above its median else 0; τ_2 = −40 for everyone; τ_3 = 0.
    """
    df = load_dataset("actg175").data
    X = df[ACTG_COVARIATES].reset_index(drop=True)
    a = df["arms"].to_numpy()
    rng = np.random.default_rng(0)
    high = (X["cd40"] > X["cd40"].median()).to_numpy()
    tau = np.column_stack([np.zeros(len(X)), 60.0 * high, np.full(len(X), -40.0), np.zeros(len(X))])
    base = 0.8 * X["cd40"].to_numpy() + 50 * X["symptom"].to_numpy()
    y = base + tau[np.arange(len(X)), a] + rng.normal(0, 20, len(X))
    return X, a, y, tau


@pytest.mark.parametrize("learner", [
    TLearner(base="ridge"), SLearner(base="gbm"), XLearner(base="ridge"), DRLearner(base="ridge", final="rf"),
    CausalForestLearner(n_estimators=100),
    TARNetLearner(max_epochs=60, batch_size=128, lr=3e-3, patience=10),
], ids=["t", "s", "x", "dr", "causal-forest", "tarnet"])
def test_learner_recovers_planted_effect(planted: tuple, learner: object) -> None:
    X, a, y, tau = planted
    eff = learner.fit(X, a, y).effects(X)  # type: ignore[attr-defined]
    assert eff.shape == (len(X), 4)
    np.testing.assert_allclose(eff[:, 0], 0.0, atol=1e-9)
    high = (X["cd40"] > X["cd40"].median()).to_numpy()
    # mean effect in each planted stratum within 15 cells/mm³ (noise sd 20, ~270 patients per cell)
    assert eff[high, 1].mean() == pytest.approx(60, abs=15)
    assert eff[~high, 1].mean() == pytest.approx(0, abs=15)
    assert eff[:, 2].mean() == pytest.approx(-40, abs=15)
    assert eff[:, 3].mean() == pytest.approx(0, abs=15)
    rec = learner.recommend(X)  # type: ignore[attr-defined]
    assert np.mean(rec[high] == 1) > 0.8  # high-CD4 patients should get arm 1


def test_bad_inputs(planted: tuple) -> None:
    X, a, y, _ = planted
    with pytest.raises(SchemaError, match="non-numeric"):
        TLearner(base="ridge").fit(X, np.where(a == 0, "ZDV", "other").astype(object), y)
    m = TLearner(base="ridge").fit(X, a, y)
    with pytest.raises(SchemaError, match="cd40"):
        m.predict_outcomes(X.drop(columns=["cd40"]))
    bad = X.copy()
    bad.loc[3, "age"] = np.nan
    with pytest.raises(SchemaError, match="row 3"):
        m.predict_outcomes(bad)
