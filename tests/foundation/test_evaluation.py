"""Metrics and calibration checked against scikit-learn and against known constructions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression

from medkit.core.errors import DataError
from medkit.data import load_dataset
from medkit.evaluation import binary_report, bootstrap_ci, calibration, regression_report
from medkit.evaluation.decision import decision_curve, net_benefit
from medkit.evaluation.metrics import METRICS, confusion


@pytest.fixture(scope="module")
def wdbc_scores() -> tuple[np.ndarray, np.ndarray]:
    ds = load_dataset("wdbc")
    X = ds.X.to_numpy()
    X = (X - X.mean(0)) / X.std(0)
    y = ds.y.to_numpy()
    # A deliberately weak model (2 features) so that metrics are not all ~1.
    p = LogisticRegression().fit(X[::2, :2], y[::2]).predict_proba(X[1::2, :2])[:, 1]
    return y[1::2], p


def test_metrics_equal_sklearn(wdbc_scores: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = wdbc_scores
    pred = (p >= 0.5).astype(int)
    assert METRICS.get("auroc")(y, p) == pytest.approx(skm.roc_auc_score(y, p))
    assert METRICS.get("auprc")(y, p) == pytest.approx(skm.average_precision_score(y, p))
    assert METRICS.get("accuracy")(y, p) == pytest.approx(skm.accuracy_score(y, pred))
    assert METRICS.get("f1")(y, p) == pytest.approx(skm.f1_score(y, pred))
    assert METRICS.get("brier")(y, p) == pytest.approx(skm.brier_score_loss(y, p))
    assert METRICS.get("sensitivity")(y, p) == pytest.approx(skm.recall_score(y, pred))
    assert METRICS.get("specificity")(y, p) == pytest.approx(skm.recall_score(1 - y, 1 - pred))
    assert np.array_equal(confusion(y, p), skm.confusion_matrix(y, pred))
    r = np.linspace(0, 1, len(y))
    assert METRICS.get("rmse")(r, p) == pytest.approx(np.sqrt(skm.mean_squared_error(r, p)))
    assert METRICS.get("mae")(r, p) == pytest.approx(skm.mean_absolute_error(r, p))
    assert METRICS.get("r2")(r, p) == pytest.approx(skm.r2_score(r, p))


def test_binary_report_cis_bracket_value(wdbc_scores: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = wdbc_scores
    rep = binary_report(y, p, n_boot=300, seed=1)
    for name, m in rep.items():
        assert m.ci_low <= m.value <= m.ci_high, name
    assert 0.0 < rep["auroc"].ci_high - rep["auroc"].ci_low < 0.2
    again = binary_report(y, p, n_boot=300, seed=1)
    assert again["auroc"] == rep["auroc"]  # fixed seed, same CI


def test_bootstrap_width_shrinks_with_n() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000)
    p = np.clip(y * 0.3 + rng.random(4000) * 0.7, 0, 1)
    small = bootstrap_ci(METRICS.get("auroc"), y[:200], p[:200], n_boot=300)
    big = bootstrap_ci(METRICS.get("auroc"), y, p, n_boot=300)
    assert (big.ci_high - big.ci_low) < (small.ci_high - small.ci_low)


def test_calibration_slope_of_a_known_distortion(wdbc_scores: tuple[np.ndarray, np.ndarray]) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, 20000)
    p_true = 1 / (1 + np.exp(-logits))
    y = (rng.random(20000) < p_true).astype(int)
    assert calibration(y, p_true).slope == pytest.approx(1.0, abs=0.05)
    assert calibration(y, p_true).intercept == pytest.approx(0.0, abs=0.05)
    over = 1 / (1 + np.exp(-2 * logits))  # predictions twice too extreme on the logit scale
    assert calibration(y, over).slope == pytest.approx(0.5, abs=0.03)


def test_reliability_bins_match_sklearn(wdbc_scores: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = wdbc_scores
    c = calibration(y, p, n_bins=10)
    frac, mean = calibration_curve(y, p, n_bins=10)
    assert np.allclose(c.bin_frac_pos, frac) and np.allclose(c.bin_mean_pred, mean)
    assert 0 <= c.ece <= 1 and 0 <= c.ici <= 1


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(DataError, match="one class"):
        binary_report(np.zeros(10), np.random.default_rng(0).random(10))
    with pytest.raises(DataError, match="NaN"):
        calibration(np.array([0, 1, 0]), np.array([0.1, np.nan, 0.3]))
    with pytest.raises(DataError, match="labels but"):
        binary_report(np.array([0, 1]), np.array([0.2]))
    with pytest.raises(DataError, match="NaN"):
        regression_report(np.array([1.0, np.nan]), np.array([1.0, 2.0]))


def test_net_benefit_hand_computation() -> None:
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.4, 0.6, 0.1, 0.2])
    # t = 0.5: TP = 1, FP = 1 -> 1/5 - 1/5 * 1 = 0
    assert net_benefit(y, p, 0.5) == pytest.approx(0.0)
    # t = 0.3: TP = 2, FP = 1 -> 2/5 - 1/5 * 0.3/0.7
    assert net_benefit(y, p, 0.3) == pytest.approx(0.4 - 0.2 * 0.3 / 0.7)
    dc = decision_curve(y, p, np.array([0.3]))
    assert dc.treat_all[0] == pytest.approx(0.4 - 0.6 * 0.3 / 0.7)
