"""Recalibration, threshold selection, conformal prediction and subgroup metrics on real held-out data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from medkit.core.errors import ConfigError, DataError, NotFittedError
from medkit.data import load_dataset
from medkit.evaluation.calibration import calibration
from medkit.evaluation.conformal import ConformalClassifier, ConformalRegressor, conformal_quantile, coverage_check
from medkit.evaluation.decision import net_benefit
from medkit.evaluation.recalibration import Recalibrator, cross_fit_recalibration, recalibrate, reliability_plot
from medkit.evaluation.subgroups import age_bands, subgroup_report, subgroup_table
from medkit.evaluation.thresholds import (
    threshold_by_net_benefit,
    threshold_for_sensitivity,
    threshold_for_specificity,
    wilson,
)


@pytest.fixture(scope="module")
def nb_split():
    """Gaussian naive Bayes on WDBC: real, and badly over-confident (a good recalibration case)."""
    ds = load_dataset("wdbc")
    X, y = ds.X.to_numpy(), np.asarray(ds.y)
    Xtr, Xrest, ytr, yrest = train_test_split(X, y, test_size=0.6, stratify=y, random_state=0)
    Xval, Xte, yval, yte = train_test_split(Xrest, yrest, test_size=0.5, stratify=yrest, random_state=0)
    m = GaussianNB().fit(Xtr, ytr)
    p = lambda A: np.clip(m.predict_proba(A)[:, 1], 1e-6, 1 - 1e-6)  # noqa: E731
    return yval, p(Xval), yte, p(Xte)


def test_platt_fixes_overconfidence_on_held_out_data(nb_split):
    yval, pval, yte, pte = nb_split
    _, res, pnew = recalibrate(yval, pval, yte, pte, "platt")
    assert res.before.slope < 0.5  # naive Bayes is over-confident
    fig = reliability_plot(res, pte, pnew)
    assert "after platt" in fig.axes[0].get_legend().get_texts()[2].get_text()
    assert abs(res.after.slope - 1) < abs(res.before.slope - 1)
    assert res.after.brier < res.before.brier


def test_platt_in_sample_is_calibrated_in_the_large_with_unit_slope(nb_split):
    yval, pval, _, _ = nb_split
    r = Recalibrator("platt").fit(pval, yval)
    q = r.transform(pval)
    # Logistic MLE score equations: mean prediction = event rate, and slope 1 on its own fitting data.
    assert q.mean() == pytest.approx(yval.mean(), abs=1e-4)
    assert calibration(yval, q).slope == pytest.approx(1.0, abs=0.02)


def test_temperature_minimises_the_log_loss(nb_split):
    yval, pval, _, _ = nb_split
    r = Recalibrator("temperature").fit(pval, yval)
    z = np.log(pval / (1 - pval))

    def nll(t: float) -> float:
        q = np.clip(1 / (1 + np.exp(-z / t)), 1e-12, 1 - 1e-12)
        return float(-np.mean(yval * np.log(q) + (1 - yval) * np.log(1 - q)))

    grid = np.linspace(0.5, 50, 4000)
    best = grid[np.argmin([nll(t) for t in grid])]
    assert r.temperature_ == pytest.approx(best, rel=0.02)
    assert r.temperature_ > 1  # softens an over-confident model


def test_multiclass_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4000, 3)) * 2
    p = np.exp(z / 2.5)
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    r = Recalibrator("temperature").fit(z, y)
    assert r.temperature_ == pytest.approx(2.5, rel=0.1)
    np.testing.assert_allclose(r.transform(z).sum(1), 1.0)


def test_cross_fitted_recalibration_and_isotonic(nb_split):
    yval, pval, yte, pte = nb_split
    y, p = np.r_[yval, yte], np.r_[pval, pte]
    folds = np.arange(len(y)) % 5
    res, out = cross_fit_recalibration(y, p, folds, "isotonic")
    assert res.after.brier < res.before.brier and out.shape == p.shape
    assert set(res.as_dict()) == {"method", "n_eval", "params", "before", "after"}


def test_single_class_validation_set_is_refused(nb_split):
    yval, pval, _, _ = nb_split
    with pytest.raises(DataError, match="single class"):
        Recalibrator("platt").fit(pval[yval == 0], yval[yval == 0])
    with pytest.raises(DataError, match="single class"):
        Recalibrator("temperature").fit(np.zeros((5, 3)), np.ones(5))
    with pytest.raises(ConfigError, match="unknown recalibration method"):
        Recalibrator("beta").fit(pval, yval)  # type: ignore[arg-type]
    with pytest.raises(NotFittedError):
        Recalibrator().transform(pval)


def test_threshold_for_sensitivity_is_the_highest_that_meets_the_target(nb_split):
    _, _, y, p = nb_split
    op = threshold_for_sensitivity(y, p, 0.9)
    assert op.sensitivity >= 0.9
    higher = np.unique(p[p > op.threshold])
    if len(higher):
        assert np.mean(p[y == 1] >= higher[0]) < 0.9
    lo, hi = wilson(int(round(op.sensitivity * y.sum())), int(y.sum()))
    assert op.sensitivity_ci == pytest.approx((lo, hi))
    sp = threshold_for_specificity(y, p, 0.95)
    assert sp.specificity >= 0.95


def test_net_benefit_threshold_matches_brute_force(nb_split):
    _, _, y, p = nb_split
    pt = 0.15
    op = threshold_by_net_benefit(y, p, pt)
    w = pt / (1 - pt)
    brute = max(np.sum((p >= t) & (y == 1)) / len(y) - w * np.sum((p >= t) & (y == 0)) / len(y) for t in np.unique(p))
    assert op.net_benefit == pytest.approx(brute)
    assert op.net_benefit >= op.net_benefit_treat_all
    # At a p_t where the chosen threshold equals p_t, the foundation's net_benefit gives the same number.
    op5 = threshold_by_net_benefit(y, p, 0.5)
    assert op5.net_benefit >= net_benefit(y, p, 0.5) - 1e-12
    with pytest.raises(ConfigError):
        threshold_by_net_benefit(y, p, 1.5)


def test_conformal_classification_coverage_on_held_out_real_data():
    ds = load_dataset("wdbc")
    X, y = ds.X.to_numpy(), np.asarray(ds.y)
    Xtr, Xrest, ytr, yrest = train_test_split(X, y, test_size=0.6, stratify=y, random_state=1)
    Xcal, Xte, ycal, yte = train_test_split(Xrest, yrest, test_size=0.5, stratify=yrest, random_state=1)
    m = make_pipeline(StandardScaler(), LogisticRegression(C=0.05)).fit(Xtr, ytr)
    for alpha in (0.05, 0.1):
        cc = ConformalClassifier(alpha).fit(m.predict_proba(Xcal), ycal)
        sets = cc.predict_sets(m.predict_proba(Xte))
        res = coverage_check(yte, sets, alpha)
        assert res.within_tolerance, res
        assert res.coverage >= 1 - alpha - res.tolerance and res.n == len(yte)
    mondrian = ConformalClassifier(0.1, class_conditional=True).fit(m.predict_proba(Xcal), ycal)
    res = coverage_check(yte, mondrian.predict_sets(m.predict_proba(Xte)), 0.1)
    assert min(res.per_class.values()) >= 0.9 - res.tolerance * 1.5


def test_conformal_sets_match_mapie():
    from mapie.classification import SplitConformalClassifier
    from mapie.regression import SplitConformalRegressor

    ds = load_dataset("wdbc")
    X, y = ds.X.to_numpy(), np.asarray(ds.y)
    Xtr, Xrest, ytr, yrest = train_test_split(X, y, test_size=0.6, stratify=y, random_state=2)
    Xcal, Xte, ycal, yte = train_test_split(Xrest, yrest, test_size=0.5, stratify=yrest, random_state=2)
    m = make_pipeline(StandardScaler(), LogisticRegression(C=0.05)).fit(Xtr, ytr)
    mapie = SplitConformalClassifier(m, confidence_level=0.9, conformity_score="lac", prefit=True).conformalize(Xcal, ycal)
    _, ms = mapie.predict_set(Xte)
    ours = ConformalClassifier(0.1).fit(m.predict_proba(Xcal), ycal).predict_sets(m.predict_proba(Xte))
    assert np.mean(ours == ms[:, :, 0]) > 0.99
    # Regression on the real diabetes data (Efron et al. 2004, shipped with scikit-learn).
    Xd, yd = load_diabetes(return_X_y=True)
    Xtr, Xrest, ytr, yrest = train_test_split(Xd, yd, test_size=0.6, random_state=0)
    Xcal, Xte, ycal, yte = train_test_split(Xrest, yrest, test_size=0.5, random_state=0)
    reg = LinearRegression().fit(Xtr, ytr)
    cr = ConformalRegressor(0.1).fit(reg.predict(Xcal), ycal)
    iv = cr.predict_interval(reg.predict(Xte))
    mr = SplitConformalRegressor(reg, confidence_level=0.9, prefit=True).conformalize(Xcal, ycal)
    _, mi = mr.predict_interval(Xte)
    np.testing.assert_allclose(iv, mi[:, :, 0], rtol=1e-6)
    res = coverage_check(yte, iv, 0.1)
    assert res.within_tolerance and res.mean_size == pytest.approx(2 * cr.quantile_)


def test_conformal_bad_input():
    assert conformal_quantile(np.arange(5.0), 0.1) == np.inf  # needs >= 9 points for alpha = 0.1
    with pytest.raises(DataError, match="calibration set too small"):
        ConformalClassifier(0.1).fit(np.full(5, 0.5), np.array([0, 1, 0, 1, 0]))
    with pytest.raises(ConfigError, match="alpha"):
        ConformalClassifier(1.5).fit(np.full(50, 0.5), np.zeros(50))
    with pytest.raises(NotFittedError):
        ConformalRegressor().predict_interval(np.zeros(3))


def test_subgroup_metrics_match_sklearn_and_flag_a_real_gap(nb_split):
    _, _, y, p = nb_split
    rng = np.random.default_rng(0)
    group = np.where(rng.uniform(size=len(y)) < 0.5, "A", "B")
    p_bad = p.copy()
    b = group == "B"
    p_bad[b] = rng.uniform(size=b.sum())  # the model is useless in group B
    rows = subgroup_report(y, p_bad, {"site": group}, metrics=("auroc",), n_boot=300, min_n=20)
    by = {r.level: r for r in rows}
    assert by["B"].value == pytest.approx(roc_auc_score(y[b], p_bad[b]))
    assert by["B"].flagged and by["B"].gap < -0.2
    for r in rows:  # the flag rule: |gap| >= 0.05 and the overall value outside the subgroup's CI
        assert r.flagged == (abs(r.gap) >= 0.05 and not r.ci_low <= r.overall <= r.ci_high)
    # A random split of patients with the untouched model flags nothing.
    clean = subgroup_report(y, p, {"site": group}, metrics=("auroc", "brier"), n_boot=300, min_n=20)
    assert not any(r.flagged for r in clean)
    assert by["A"].overall == pytest.approx(roc_auc_score(y, p_bad))
    table = subgroup_table(rows)
    assert table[[r["level"] for r in table].index("B")]["flag"] == "⚑ gap"


def test_subgroup_edge_cases(nb_split):
    _, _, y, p = nb_split
    lone = np.where(np.arange(len(y)) < 5, "tiny", "rest")
    rows = subgroup_report(y, p, {"g": lone}, metrics=("auroc", "sensitivity"), n_boot=50)
    tiny = [r for r in rows if r.level == "tiny"]
    assert all(not r.flagged for r in tiny) and any("n < 30" in r.note or "single" in r.note for r in tiny)
    assert list(age_bands([30, 40, 64.5, 65, 90, np.nan])) == ["<40", "40-64", "40-64", "65-79", ">=80", "missing"]
    with pytest.raises(ConfigError, match="unknown metric"):
        subgroup_report(y, p, {"g": lone}, metrics=("kappa",))
    with pytest.raises(DataError, match="has 3 values"):
        subgroup_report(y, p, {"g": ["a", "b", "c"]})


def test_monotone_recalibration_preserves_ranking_invariant():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=25, deadline=None)
    @given(st.integers(0, 10_000), st.sampled_from(["platt", "temperature"]))
    def check(seed: int, method: str) -> None:
        rng = np.random.default_rng(seed)
        p = rng.uniform(0.01, 0.99, 200)
        y = (rng.uniform(size=200) < p**2).astype(int)
        if y.min() == y.max():
            return
        q = Recalibrator(method).fit(p, y).transform(p)  # type: ignore[arg-type]
        # Platt with a positive slope and temperature scaling are strictly monotone: discrimination is unchanged.
        assert roc_auc_score(y, q) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert np.all((q > 0) & (q < 1))

    check()
