"""Ensemble members of the hybrid (soft-impute, scaled ALS), the CG ALS solver, and the hybrid's averaging."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medkit.core.errors import ConfigError
from medkit.treatment.cf_blend import ScaledALS, SoftImpute, bagged_predict
from medkit.treatment.hybrid import HybridNCF
from medkit.treatment.mf import ALSMF


def _planted(seed: int = 0, n_e: int = 60, n_t: int = 25, rank: int = 3, frac: float = 0.8
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    full = 2 + rng.normal(size=(n_e, rank)) @ rng.normal(size=(rank, n_t)) + rng.normal(size=n_t)[None]
    pairs = np.argwhere(np.ones((n_e, n_t), dtype=bool))
    y = full[pairs[:, 0], pairs[:, 1]]
    tr = rng.random(len(pairs)) < frac
    return pairs[tr], y[tr], pairs[~tr], y[~tr]


@pytest.mark.parametrize("model", [SoftImpute(shrinkage=0.5, n_iter=200), ScaledALS(n_factors=3, reg=0.05, n_epochs=30),
                                   ALSMF(n_factors=3, reg=0.1, reg_bias=0.1, n_epochs=40, n_cg=5)])
def test_members_recover_planted_low_rank(model: object) -> None:
    Xtr, ytr, Xte, yte = _planted()
    pred = model.fit(Xtr, ytr).predict(Xte)  # type: ignore[attr-defined]
    rmse = np.sqrt(np.mean((pred - yte) ** 2))
    # Predicting each treatment's mean leaves the whole rank-3 signal (sd ~1.7) unexplained.
    assert rmse < 0.15


@pytest.fixture(scope="module")
def gdsc2(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    from medkit.data import load_dataset
    from medkit.treatment.features import gdsc2_long

    return gdsc2_long(load_dataset("gdsc2", data_dir=shared_data).data["response"].iloc[:200])


def test_cg_als_matches_exact_solver_on_real_gdsc(gdsc2: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = gdsc2
    rng = np.random.default_rng(0)
    te = rng.random(len(y)) < 0.2
    exact = ALSMF(n_factors=10, n_epochs=15, solver="exact").fit(X[~te], y[~te]).predict(X[te])
    cg = ALSMF(n_factors=10, n_epochs=15, solver="cg", n_cg=10).fit(X[~te], y[~te]).predict(X[te])
    # Same ridge problems; with enough CG steps the inexact solver lands on the same fixed point.
    assert np.sqrt(np.mean((exact - cg) ** 2)) < 0.02
    r_exact, r_cg = (np.sqrt(np.mean((p - y[te]) ** 2)) for p in (exact, cg))
    assert abs(r_exact - r_cg) < 0.005


def test_scaled_als_constant_treatment_is_finite() -> None:
    Xtr, ytr, Xte, _ = _planted()
    ytr = ytr.copy()
    ytr[Xtr[:, 1] == 0] = 1.5  # zero spread: per-drug sd undefined → pooled sd
    pred = ScaledALS(n_factors=3).fit(Xtr, ytr).predict(Xte)
    assert np.all(np.isfinite(pred))
    assert np.allclose(pred[Xte[:, 1] == 0], 1.5, atol=0.2)


def test_unknown_indices_fall_back() -> None:
    Xtr, ytr, _, _ = _planted()
    for model in (SoftImpute(n_iter=5), ScaledALS(n_epochs=2)):
        pred = model.fit(Xtr, ytr).predict(np.array([[1000, 0], [0, 1000]]))
        assert np.all(np.isfinite(pred))


def test_bad_settings() -> None:
    Xtr, ytr, _, _ = _planted()
    with pytest.raises(ConfigError):
        SoftImpute(n_iter=0).fit(Xtr, ytr)
    with pytest.raises(ConfigError):
        ALSMF(solver="lu").fit(Xtr, ytr)


def test_bagging_is_mean_of_seeds() -> None:
    Xtr, ytr, Xte, _ = _planted()
    bag = bagged_predict(ALSMF(n_factors=3, n_epochs=3), Xtr, ytr, Xte, [0, 1])
    one = [ALSMF(n_factors=3, n_epochs=3, seed=s).fit(Xtr, ytr).predict(Xte) for s in (0, 1)]
    assert np.allclose(bag, (one[0] + one[1]) / 2)


def test_hybrid_warm_prediction_is_equal_weight_family_mean() -> None:
    rng = np.random.default_rng(1)
    Xtr, ytr, Xte, _ = _planted(n_e=40, n_t=12)
    Fe = (rng.random((40, 5)) < 0.3).astype(np.float32)
    Ft = (rng.random((12, 6)) < 0.3).astype(np.float32)
    h = HybridNCF(dim=3, hidden=8, max_epochs=2, n_bags=2).fit(Xtr, ytr, Fe, Ft)
    alone = HybridNCF(dim=3, hidden=8, max_epochs=2, cf_members=False).fit(Xtr, ytr, Fe, Ft)
    fam = [np.mean([m.predict(Xte) for m in family], axis=0) for family in h.members_]
    assert len(h.members_) == 3 and len(h.members_[0]) == 2
    # Same seed → same network; the ensemble adds the three CF families with equal weight.
    assert np.allclose(h.predict(Xte), np.mean([alone.predict(Xte), *fam], axis=0), atol=1e-5)
