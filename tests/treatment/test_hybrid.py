"""Hybrid neural factorisation: learns a planted feature-driven response and predicts for cold entities."""

from __future__ import annotations

import numpy as np
import pytest

from medkit.core.errors import ConfigError
from medkit.treatment.cf_eval import treatment_mean
from medkit.treatment.hybrid import HybridNCF


def test_cold_start_beats_treatment_mean_on_planted_features() -> None:
    rng = np.random.default_rng(0)
    n_e, n_t = 120, 15
    Fe = (rng.random((n_e, 8)) < 0.3).astype(np.float32)  # "mutations"
    Ft = (rng.random((n_t, 16)) < 0.3).astype(np.float32)  # "fingerprints"
    W = rng.normal(size=(8, 16))
    full = Fe @ W @ Ft.T + rng.normal(0, 0.1, (n_e, n_t))  # response driven by the features
    cold = np.arange(100, 120)
    pairs = np.argwhere(np.ones((n_e, n_t), dtype=bool))
    y = full[pairs[:, 0], pairs[:, 1]]
    tr = ~np.isin(pairs[:, 0], cold)
    m = HybridNCF(dim=8, hidden=32, max_epochs=60, lr=3e-3, batch_size=64, patience=60, dropout=0.0,
                  weight_decay=0.0, id_dropout=0.5).fit(pairs[tr], y[tr], Fe, Ft)
    pred = m.predict(pairs[~tr])
    rmse = np.sqrt(np.mean((pred - y[~tr]) ** 2))
    base = np.sqrt(np.mean((treatment_mean(pairs[tr], y[tr], pairs[~tr]) - y[~tr]) ** 2))
    assert np.all(np.isfinite(pred))
    assert rmse < 0.8 * base
    assert m.train_result_.history  # trained through medkit's Trainer


def test_needs_features() -> None:
    with pytest.raises(ConfigError):
        HybridNCF().fit(np.array([[0, 0]]), [1.0])
