"""Survival metrics equal scikit-survival's; survival outcome validation."""

from __future__ import annotations

import numpy as np
import pytest

from medkit.clinical import survival_metrics as sm
from medkit.clinical.survival import CoxPH, make_surv_y
from medkit.core.errors import DataError

sksurv_metrics = pytest.importorskip("sksurv.metrics")


@pytest.fixture(scope="module")
def gbsg2():
    from medkit.data import load_dataset

    ds = load_dataset("gbsg2")
    t, e = ds.extra["time"], ds.extra["event"]
    tr = np.arange(len(t)) % 3 != 0
    y = make_surv_y(t, e)
    model = CoxPH().fit(ds.X[tr], y[tr])
    return ds.X, t, e, tr, y, model


def test_harrell_and_uno_equal_sksurv(gbsg2):
    X, t, e, tr, y, model = gbsg2
    te = ~tr
    risk = model.predict(X[te])
    assert sm.harrell_c(t[te], e[te], risk) == pytest.approx(
        sksurv_metrics.concordance_index_censored(e[te], t[te], risk)[0], abs=1e-12)
    # integer risk scores create ties in risk; times in gbsg2 also tie
    r_int = np.round(X["pnodes"].to_numpy(dtype=float)[te])
    assert sm.harrell_c(t[te], e[te], r_int) == pytest.approx(
        sksurv_metrics.concordance_index_censored(e[te], t[te], r_int)[0], abs=1e-12)
    for tau in (None, 1500.0):
        ref = sksurv_metrics.concordance_index_ipcw(y[tr], y[te], risk, tau=tau)[0]
        assert sm.uno_c(t[tr], e[tr], t[te], e[te], risk, tau=tau) == pytest.approx(ref, abs=1e-12)


def test_td_auc_and_ibs_equal_sksurv(gbsg2):
    X, t, e, tr, y, model = gbsg2
    te = ~tr
    times = sm.eval_times(t[tr], t[te])
    risk = model.predict(X[te])
    auc, mean_auc = sm.cumulative_dynamic_auc(t[tr], e[tr], t[te], e[te], risk, times)
    ref_auc, ref_mean = sksurv_metrics.cumulative_dynamic_auc(y[tr], y[te], risk, times)
    np.testing.assert_allclose(auc, ref_auc, atol=1e-12)
    assert mean_auc == pytest.approx(ref_mean, abs=1e-12)
    S = model.predict_survival(X[te], times)
    assert sm.integrated_brier_score(t[tr], e[tr], t[te], e[te], S, times) == pytest.approx(
        sksurv_metrics.integrated_brier_score(y[tr], y[te], S, times), abs=1e-12)
    np.testing.assert_allclose(sm.brier_scores(t[tr], e[tr], t[te], e[te], S, times),
                               sksurv_metrics.brier_score(y[tr], y[te], S, times)[1], atol=1e-12)


@pytest.mark.parametrize("time, event, message", [
    ([5.0, 0.0, 3.0], [1, 0, 1], "<= 0"),
    ([5.0, -2.0, 3.0], [1, 0, 1], "<= 0"),
    ([5.0, np.nan, 3.0], [1, 0, 1], "<= 0 or missing"),
    ([5.0, 2.0, 3.0], [1, 2, 0], "must be 0/1"),
    ([5.0, 2.0, 3.0], [0, 0, 0], "no events"),
])
def test_bad_survival_outcomes(time, event, message):
    with pytest.raises(DataError, match=message):
        make_surv_y(np.asarray(time), np.asarray(event))
