"""Similarity over co-rated items against hand computations (tiny matrices)."""

from __future__ import annotations

import numpy as np
import pytest

from medkit.treatment.similarity import covariate_cosine, similarity_matrix

NAN = np.nan
# 3 entities × 4 treatments; NaN = not observed.
TABLE = np.array([[1.0, 2.0, 3.0, NAN],
                  [2.0, 4.0, NAN, 1.0],
                  [5.0, 5.0, 5.0, 5.0]])  # entity 2 is constant: zero variance


def _rm(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = ~np.isnan(t)
    return np.where(m, t, 0.0), m.astype(float)


def test_pearson_equals_hand_computation_over_co_rated_items() -> None:
    R, M = _rm(TABLE)
    sim, freq = similarity_matrix(R, M, "pearson")
    # entities 0 and 1 share treatments 0 and 1: (1, 2) vs (2, 4) → co-rated means 1.5 and 3 → r = 1.
    assert freq[0, 1] == 2
    assert sim[0, 1] == pytest.approx(1.0)
    # Zero variance (entity 2 constant over its co-rated items): Pearson undefined → 0, as Surprise.
    assert sim[0, 2] == 0.0 and sim[2, 1] == 0.0
    assert np.allclose(np.diag(sim), 1.0)
    assert np.allclose(sim, sim.T)


def test_pearson_three_co_rated_items_hand_value() -> None:
    t = np.array([[1.0, 2.0, 4.0, NAN], [2.0, 1.0, 5.0, 3.0]])
    R, M = _rm(t)
    sim, _ = similarity_matrix(R, M, "pearson")
    x, y = np.array([1.0, 2.0, 4.0]), np.array([2.0, 1.0, 5.0])
    hand = ((x - x.mean()) * (y - y.mean())).sum() / np.sqrt(((x - x.mean()) ** 2).sum() * ((y - y.mean()) ** 2).sum())
    assert sim[0, 1] == pytest.approx(hand, abs=1e-12)
    assert sim[0, 1] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)


def test_single_co_rated_item_and_min_support_give_zero() -> None:
    t = np.array([[1.0, NAN, 3.0], [2.0, 4.0, NAN], [1.0, 2.0, 3.0]])
    R, M = _rm(t)
    sim, freq = similarity_matrix(R, M, "pearson")
    assert freq[0, 1] == 1 and sim[0, 1] == 0.0  # one co-rated item: variance 0 → 0
    sim_ms, _ = similarity_matrix(R, M, "pearson", min_support=3)
    assert sim_ms[0, 2] == 0.0  # only 2 co-rated items < min_support
    assert sim[0, 2] == pytest.approx(1.0)


def test_cosine_msd_and_shrinkage() -> None:
    R, M = _rm(TABLE)
    cos, _ = similarity_matrix(R, M, "cosine")
    a, b = np.array([1.0, 2.0]), np.array([2.0, 4.0])
    assert cos[0, 1] == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    msd, _ = similarity_matrix(R, M, "msd")
    assert msd[0, 1] == pytest.approx(1 / (np.mean((a - b) ** 2) + 1))
    shr, _ = similarity_matrix(R, M, "pearson", shrinkage=10)
    assert shr[0, 1] == pytest.approx(1.0 * (2 - 1) / (2 - 1 + 10))


def test_covariate_cosine_zero_rows() -> None:
    A = np.array([[1.0, 0.0], [0.0, 0.0]])
    S = covariate_cosine(A, np.array([[1.0, 1.0]]))
    assert S[0, 0] == pytest.approx(1 / np.sqrt(2)) and S[1, 0] == 0.0
