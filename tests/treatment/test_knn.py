"""kNN CF: equality with scikit-surprise on a real GDSC2 subset, fallbacks and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medkit.core.errors import ConfigError, NotFittedError, SchemaError
from medkit.treatment.knn import KNNRegressor

surprise = pytest.importorskip("surprise")


@pytest.fixture(scope="module")
def subset(shared_data: Path) -> pd.DataFrame:
    from medkit.data import load_dataset

    resp = load_dataset("gdsc2", data_dir=shared_data).data["response"].iloc[:80, :40]
    long = resp.stack().reset_index()
    long.columns = ["line", "drug", "r"]
    long["u"] = pd.Categorical(long["line"], categories=resp.index).codes
    long["i"] = pd.Categorical(long["drug"], categories=resp.columns).codes
    return long


@pytest.mark.parametrize(("algo", "params"), [
    ("KNNBasic", {"user_based": True, "centering": "none", "sim": "pearson"}),
    ("KNNBasic", {"user_based": False, "centering": "none", "sim": "pearson"}),
    ("KNNWithMeans", {"user_based": True, "centering": "mean", "sim": "pearson"}),
    ("KNNBasic", {"user_based": True, "centering": "none", "sim": "cosine"}),
    ("KNNBaseline", {"user_based": True, "centering": "baseline", "sim": "pearson_baseline"}),
])
def test_predictions_equal_surprise_on_real_subset(subset: pd.DataFrame, algo: str, params: dict) -> None:
    from surprise import Dataset, Reader
    from surprise.model_selection import KFold

    scale = (float(subset["r"].min()), float(subset["r"].max()))
    data = Dataset.load_from_df(subset[["u", "i", "r"]], Reader(rating_scale=scale))
    train, test = next(KFold(5, random_state=0, shuffle=True).split(data))
    # min_support=3: with 2 co-rated items Pearson is exactly ±1 in theory, and which of several such tied
    # neighbours is kept then depends on 1e-16 rounding differences between the two implementations.
    sim_options = {"name": params["sim"], "user_based": params["user_based"], "min_support": 3}
    ref = getattr(surprise, algo)(k=10, min_k=2, sim_options=sim_options, verbose=False).fit(train)
    expected = np.array([p.est for p in ref.test(test)])
    Xtr = np.array([(train.to_raw_uid(u), train.to_raw_iid(i)) for u, i, _ in train.all_ratings()])
    ytr = np.array([r for *_, r in train.all_ratings()])
    Xte = np.array([(u, i) for u, i, _ in test])
    ours = KNNRegressor(k=10, min_k=2, min_support=3, rating_scale=scale, **params).fit(Xtr, ytr).predict(Xte)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9)


def test_entity_with_one_observation_and_constant_entity_fall_back() -> None:
    # entity 3 has one observation, entity 2 constant responses: both get Pearson 0 (documented), no NaN.
    X = np.array([[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2], [2, 0], [2, 1], [2, 2], [3, 0]])
    y = np.array([1.0, 2.0, 3.0, 1.5, 2.5, 3.5, 4.0, 4.0, 4.0, 2.0])
    m = KNNRegressor(k=5).fit(X, y)
    assert m.n_single_ == 1
    assert m.sim_[2, 0] == 0.0 and m.sim_[3, 0] == 0.0
    pred = m.predict(np.array([[3, 1], [2, 1], [0, 1]]))
    assert np.all(np.isfinite(pred))
    # entity 3 has no positive-similarity neighbour → Surprise's fallback, the global mean
    assert pred[0] == pytest.approx(y.mean())


def test_cold_start_uses_covariates() -> None:
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([1.0, 5.0, 9.0, 3.0])
    F = np.array([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0]])  # entity 2 unseen, resembles entity 1
    m = KNNRegressor(k=5, cold_k=1, n_entities=3).fit(X, y, entity_features=F)
    pred = m.predict(np.array([[2, 0], [2, 1]]))
    np.testing.assert_allclose(pred, [9.0, 3.0])
    assert m.n_cold_ == 2
    no_feat = KNNRegressor(k=5).fit(X, y).predict(np.array([[2, 0]]))
    assert no_feat[0] == pytest.approx(y.mean())


def test_bad_inputs() -> None:
    with pytest.raises(SchemaError, match="integers"):
        KNNRegressor().fit(np.array([["a", 0], ["b", 1]], dtype=object), [1.0, 2.0])
    with pytest.raises(SchemaError, match="finite"):
        KNNRegressor().fit(np.array([[0, 0], [1, 1]]), [1.0, np.nan])
    with pytest.raises(ConfigError):
        KNNRegressor(sim="euclid").fit(np.array([[0, 0], [1, 1]]), [1.0, 2.0])
    with pytest.raises(NotFittedError):
        KNNRegressor().predict(np.array([[0, 0]]))
