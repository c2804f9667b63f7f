"""explain(): SHAP additivity and closed forms, integrated-gradients completeness, dispatch and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from medkit.core.errors import ModelError
from medkit.data import load_dataset
from medkit.interpret import Explanation, applicable_methods, explain
from medkit.interpret.plots import importance_plot, sequence_heatmap, waterfall_plot


@pytest.fixture(scope="module")
def wdbc() -> tuple[pd.DataFrame, np.ndarray]:
    ds = load_dataset("wdbc")
    return ds.X, np.asarray(ds.y)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def test_tree_shap_sums_to_prediction_minus_expected_value(wdbc):
    X, y = wdbc
    gbm = HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(X, y)
    e = explain(gbm, X.iloc[:40])
    assert e.method == "shap-tree" and e.output == "log-odds"
    # Reference: the model's own log-odds, not the Explanation's copy of them.
    ref = _logit(gbm.predict_proba(X.iloc[:40])[:, 1])
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_values, ref, atol=1e-6)
    rf = make_pipeline(SimpleImputer(), RandomForestClassifier(n_estimators=30, random_state=0)).fit(X, y)
    e = explain(rf, X.iloc[:40])
    assert e.method == "shap-tree" and e.output == "probability" and e.feature_names == list(X.columns)
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_values, rf.predict_proba(X.iloc[:40])[:, 1], atol=1e-8)


def test_linear_shap_matches_the_closed_form(wdbc):
    X, y = wdbc
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=5000)).fit(X, y)
    e = explain(model, X.iloc[:30], background=X, n_background=len(X))
    # For a linear model with independent features, phi_j = w_j (z_j - mean_bg(z_j)) on the log-odds scale.
    Z = model[:-1].transform(X)
    w = model[-1].coef_[0]
    expected = w * (Z[:30] - Z.mean(axis=0))
    np.testing.assert_allclose(e.values, expected, atol=1e-8)
    np.testing.assert_allclose(e.values.sum(1) + e.base_values, model.decision_function(X.iloc[:30]), atol=1e-8)


def test_model_agnostic_permutation_shap_is_additive(wdbc):
    X, y = wdbc
    X = X[list(X.columns[:8])]
    nb = make_pipeline(StandardScaler(), GaussianNB()).fit(X, y)
    assert applicable_methods(nb) == ["shap", "shap-permutation"]
    e = explain(nb, X.iloc[:6], background=X, n_background=40)
    assert e.method == "shap-permutation" and e.values.shape == (6, 8)
    np.testing.assert_allclose(e.values.sum(1) + e.base_values, nb.predict_proba(X.iloc[:6])[:, 1], atol=1e-8)
    # The base value is the mean prediction over the background sample.
    bg = X.sample(40, random_state=0)
    assert e.base_values[0] == pytest.approx(nb.predict_proba(bg)[:, 1].mean())


class _GRU(torch.nn.Module):
    def __init__(self, v: int) -> None:
        super().__init__()
        self.rnn = torch.nn.GRU(v, 8, batch_first=True)
        self.head = torch.nn.Linear(8, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:  # (B, T, V) -> (B,)
        if mask is not None:
            x = x * mask
        h, _ = self.rnn(x)
        return self.head(h[:, -1]).squeeze(-1)


def _wdbc_sequences(X: pd.DataFrame) -> np.ndarray:
    """Real values shaped as sequences: the 3 views (mean, error, worst) as 3 time steps of 10 variables."""
    Z = StandardScaler().fit_transform(X.to_numpy())
    return Z.reshape(len(X), 3, 10).astype(np.float32)


def test_integrated_gradients_completeness_on_a_recurrent_model(wdbc):
    X, _ = wdbc
    torch.manual_seed(0)
    net = _GRU(10)
    S = _wdbc_sequences(X)[:16]
    names = [c.replace("mean ", "") for c in X.columns[:10]]
    e = explain(net, S, feature_names=names, n_steps=200)
    assert e.method == "integrated-gradients" and e.values.shape == (16, 3, 10)
    with torch.no_grad():  # independent reference: the module's own outputs
        fx = net(torch.as_tensor(S)).numpy()
        fb = net(torch.zeros_like(torch.as_tensor(S))).numpy()
    np.testing.assert_allclose(e.values.reshape(16, -1).sum(1), fx - fb, atol=2e-3)
    assert e.completeness_gap() < 2e-3
    assert set(e.global_importance()["feature"]) == set(names)


def test_integrated_gradients_equal_input_times_weight_for_a_linear_model():
    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1))
    x = torch.randn(5, 4, 3)
    base = torch.randn(4, 3)
    e = explain(lin, x, baseline=base.numpy())
    w = lin[1].weight.detach().reshape(4, 3)
    np.testing.assert_allclose(e.values, ((x - base) * w).numpy(), atol=1e-5)


def test_integrated_gradients_with_a_mask_argument_and_multiclass_target(wdbc):
    X, _ = wdbc
    S = torch.as_tensor(_wdbc_sequences(X)[:8])
    mask = torch.ones_like(S)
    mask[:, 0, :5] = 0  # unobserved: no attribution can flow through it
    net = _GRU(10)
    e = explain(net, S, additional_forward_args=(mask,))
    assert np.abs(e.values[:, 0, :5]).max() < 1e-7
    multi = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(30, 3))
    e2 = explain(multi, S, target=1)
    with torch.no_grad():
        ref = multi(S)[:, 1] - multi(torch.zeros_like(S))[:, 1]
    np.testing.assert_allclose(e2.values.reshape(8, -1).sum(1), ref.numpy(), atol=1e-4)


def test_grad_cam_dispatch_for_image_models():
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(4, 2))
    imgs = np.random.default_rng(0).normal(size=(3, 1, 16, 16)).astype(np.float32)
    assert applicable_methods(cnn, imgs) == ["grad-cam"]
    e = explain(cnn, imgs)
    assert e.method == "grad-cam" and e.values.shape == (3, 16, 16) and not e.additive
    assert 0.0 <= e.values.min() and e.values.max() <= 1.0


def test_models_with_their_own_explain_are_dispatched_to_it(wdbc):
    X, _ = wdbc

    class AtomModel:
        def predict(self, X):  # noqa: N803
            return np.zeros(len(X))

        def explain(self, X):  # noqa: N803
            return Explanation("model", np.ones((len(X), 2)), np.zeros(len(X)), np.full(len(X), 2.0), ["a", "b"])

    e = explain(AtomModel(), X.iloc[:3])
    assert e.method == "model" and e.completeness_gap() == 0.0

    class Attribution:  # what the drug predictors return: one molecule at a time, ragged per-atom weights
        def __init__(self, smiles: str) -> None:
            self.smiles, self.atoms = smiles, list(smiles)
            self.weights, self.prediction, self.method = np.arange(len(smiles), dtype=float), 0.7, "occlusion"

    class DrugModel:
        def predict(self, X):  # noqa: N803
            return np.zeros(len(X))

        def explain(self, smiles: str, task: int = 0) -> Attribution:
            return Attribution(smiles)

    e = explain(DrugModel(), ["CCO", "c1ccccc1"], task=0)
    assert e.method == "occlusion" and e.values.shape == (2, 8) and not e.additive
    assert e.extra["atoms"][0] == ["C", "C", "O"] and e.values[0, 3:].tolist() == [0.0] * 5
    with pytest.raises(ModelError, match="neither the Explanation type nor per-item 'weights'"):
        explain(type("Bad", (), {"explain": lambda self, X: 3})(), ["C"])


def test_unexplainable_model_says_which_methods_apply(wdbc):
    X, y = wdbc
    with pytest.raises(ModelError, match="SHAP for scikit-learn models, integrated-gradients"):
        explain(object(), X)
    lr = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    with pytest.raises(ModelError, match="methods that apply: shap, shap-linear, shap-permutation"):
        explain(lr, X.iloc[:3], method="integrated-gradients")
    with pytest.raises(ModelError, match="'shap-tree' does not apply to LogisticRegression"):
        explain(lr, X.iloc[:3], method="shap-tree")
    with pytest.raises(ModelError, match="needs \\(n, T, V\\) sequences"):
        explain(torch.nn.Linear(30, 1), X.to_numpy()[:3])
    with pytest.raises(ModelError, match="unknown explanation method 'lime'"):
        explain(lr, X.iloc[:3], method="lime")


def test_plots_and_json_output(wdbc):
    X, y = wdbc
    gbm = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    e = explain(gbm, X.iloc[:20])
    importance_plot(e)
    waterfall_plot(e, 0)
    d = e.to_dict(0, k=3)
    assert len(d["top_features"]) == 3 and d["top_features"][0]["feature"] in X.columns
    assert abs(d["top_features"][0]["contribution"]) >= abs(d["top_features"][1]["contribution"])
    seq = explain(_GRU(10), _wdbc_sequences(X)[:4], feature_names=[f"v{i}" for i in range(10)])
    sequence_heatmap(seq, 0)
    sequence_heatmap(seq)
