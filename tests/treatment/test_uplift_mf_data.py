"""Qini / calibration hand checks, MF on a planted low-rank matrix, GDSC2 loader, CF ranking metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medkit.treatment.cf_eval import ranking_metrics, treatment_mean
from medkit.treatment.mf import ALSMF, BiasedMF
from medkit.treatment.uplift import effect_calibration, qini_curve


def test_qini_hand_example() -> None:
    tau = np.array([3.0, 2.0, 1.0, 0.0])
    y = np.array([10.0, 0.0, 4.0, 2.0])
    t = np.array([True, False, True, False])
    q = qini_curve(tau, y, t)
    # cumulative: k=1: Yt=10, Nc=0 → 0; k=2: 10 − 0·1/1 = 10; k=3: 14 − 0·2/1 = 14; k=4: 14 − 2·2/2 = 12
    np.testing.assert_allclose(q.qini, [0, 0, 10, 14, 12])
    assert q.n == 4


def test_effect_calibration_on_planted_effect() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    tau = rng.uniform(-10, 10, n)
    t = rng.random(n) < 0.5
    y = 50 + t * tau + rng.normal(0, 5, n)
    cal = effect_calibration(tau, y, t, n_groups=5)
    assert cal.slope == pytest.approx(1.0, abs=0.15)
    assert np.all((cal.lo <= cal.predicted + 1.5) & (cal.predicted - 1.5 <= cal.hi))


@pytest.mark.parametrize("model", [ALSMF(n_factors=3, reg=0.1, reg_bias=0.1, n_epochs=20),
                                   BiasedMF(n_factors=3, n_epochs=200, lr=0.02, batch_size=64, reg=0.001)])
def test_mf_recovers_planted_low_rank(model: object) -> None:
    rng = np.random.default_rng(0)
    P, Q = rng.normal(size=(60, 3)), rng.normal(size=(25, 3))
    full = 2.0 + P @ Q.T
    obs = np.argwhere(rng.random(full.shape) < 0.7)
    y = full[obs[:, 0], obs[:, 1]]
    miss = np.argwhere(np.ones_like(full, dtype=bool))
    pred = model.fit(obs, y).predict(miss)  # type: ignore[attr-defined]
    rmse = np.sqrt(np.mean((pred - full[miss[:, 0], miss[:, 1]]) ** 2))
    assert rmse < 0.35 * full.std()


def test_ranking_metrics_perfect_and_reversed() -> None:
    e = np.array([0, 0, 0, 1, 1])
    y = np.array([1.0, 2.0, 3.0, 5.0, 4.0])
    perfect = ranking_metrics(e, y, y, k=2, higher_is_better=False)
    assert perfect["ndcg@2"] == pytest.approx(1.0) and perfect["precision@2"] == pytest.approx(1.0)
    worst = ranking_metrics(e, y, -y, k=1, higher_is_better=False)
    assert worst["precision@1"] == 0.0


def test_treatment_mean_baseline() -> None:
    X = np.array([[0, 0], [1, 0], [0, 1]])
    np.testing.assert_allclose(treatment_mean(X, np.array([1.0, 3.0, 5.0]), np.array([[2, 0], [2, 1]])), [2.0, 5.0])


def test_gdsc2_loader(shared_data: Path) -> None:
    from medkit.data import load_dataset

    ds = load_dataset("gdsc2", data_dir=shared_data)
    assert ds.data["response"].shape == (580, 170)
    assert ds.n_rows == 82833  # SOURCE.md: 82,833 observed cells
    assert ds.data["mutations"].shape == (580, 702)
    assert list(ds.data["mutations"].index) == list(ds.data["response"].index)
    assert ds.data["smiles"].notna().all()
    assert ds.provenance()["sha256"]["baseline_GDSC2_IC50.csv"].startswith("c28ff315")
