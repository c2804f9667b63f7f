"""Neural models: GRU-D and the MLP overfit a tiny batch; DeepSurv's loss equals a reference Cox likelihood."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from medkit.clinical.estimators import GRUDClassifier, MLPClassifier
from medkit.clinical.survival import DeepSurv, cox_partial_likelihood, make_surv_y
from medkit.clinical.timeseries import SequenceData
from medkit.data.physionet import PARAMETERS


def _tiny_sequences(n=40, T=12, seed=0):
    rng = np.random.default_rng(seed)
    V = len(PARAMETERS)
    y = np.arange(n) % 2
    values = rng.normal(size=(n, T, V)).astype(np.float32)
    values[:, :, 0] += 1.5 * y[:, None]  # signal in one variable
    mask = (rng.random((n, T, V)) < 0.5).astype(np.float32)
    values[mask == 0] = np.nan
    delta = np.zeros_like(mask)
    last = np.where(mask == 1, values, np.nan).astype(np.float32)
    static = rng.normal(size=(n, 8)).astype(np.float32)
    return SequenceData(values, mask, delta, last, static, np.arange(n), PARAMETERS, 60), y


def test_grud_overfits_tiny_batch():
    X, y = _tiny_sequences()
    m = GRUDClassifier(hidden=32, dropout=0.0, max_epochs=120, batch_size=16, lr=1e-2, weight_decay=0.0,
                       patience=None, val_fraction=0.2, seed=0).fit(X, y)
    losses = [h["train_loss"] for h in m.train_result_.history]
    assert losses[-1] < 0.1 * losses[0]
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, m.predict_proba(X)[:, 1]) > 0.95


def test_mlp_overfits_and_speaks_sklearn():
    from sklearn.base import clone

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(60, 5)), columns=list("abcde"))
    y = (X["a"] + rng.normal(scale=0.1, size=60) > 0).astype(int)
    m = MLPClassifier(hidden=32, dropout=0.0, max_epochs=150, patience=None, lr=1e-2, batch_size=16, seed=0)
    assert clone(m).get_params()["hidden"] == 32
    m.fit(X, y)
    assert m.train_result_.history[-1]["train_loss"] < 0.1
    assert m.predict_proba(X).shape == (60, 2) and (m.predict(X) == y).mean() > 0.95


def _reference_breslow_nll(eta, time, event):
    """Textbook Breslow negative log partial likelihood / n_events, with an explicit loop."""
    total = 0.0
    for i in range(len(time)):
        if event[i]:
            risk_set = time >= time[i]
            total += eta[i] - np.log(np.exp(eta[risk_set]).sum())
    return -total / event.sum()


def test_cox_loss_equals_reference_with_ties():
    rng = np.random.default_rng(0)
    time = rng.integers(1, 8, size=50).astype(float)  # many ties
    event = rng.random(50) < 0.6
    eta = rng.normal(size=50)
    got = cox_partial_likelihood(torch.tensor(eta), torch.tensor(time), torch.tensor(event)).item()
    assert got == pytest.approx(_reference_breslow_nll(eta, time, event), rel=1e-10)


def test_cox_loss_equals_lifelines_log_likelihood():
    lifelines = pytest.importorskip("lifelines")
    from medkit.data import load_dataset

    ds = load_dataset("whas500")
    X = ds.X[["age", "bmi", "hr", "sysbp"]].astype(float)
    t = ds.extra["time"] + np.random.default_rng(0).random(len(X)) * 1e-3  # break ties: Efron = Breslow
    e = ds.extra["event"]
    df = X.assign(T=t, E=e.astype(int))
    cph = lifelines.CoxPHFitter().fit(df, "T", "E")
    eta = X.to_numpy() @ cph.params_.to_numpy()
    nll = cox_partial_likelihood(torch.tensor(eta), torch.tensor(t), torch.tensor(e)).item()
    assert -nll * e.sum() == pytest.approx(cph.log_likelihood_, rel=1e-6)


def test_deepsurv_learns_on_veteran():
    from medkit.clinical.survival_metrics import harrell_c
    from medkit.data import load_dataset

    ds = load_dataset("veteran")
    y = make_surv_y(ds.extra["time"], ds.extra["event"])
    m = DeepSurv(max_epochs=60, patience=None, val_fraction=0.0, seed=0).fit(ds.X, y)
    assert harrell_c(ds.extra["time"], ds.extra["event"], m.predict(ds.X)) > 0.7
    S = m.predict_survival(ds.X, np.array([30.0, 100.0, 300.0]))
    assert S.shape == (137, 3) and (np.diff(S, axis=1) <= 1e-12).all() and ((S >= 0) & (S <= 1)).all()
