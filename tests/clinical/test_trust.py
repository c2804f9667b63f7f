"""Trust wiring of the clinical pillar: quality gate before training, model card in the run, predict --explain."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from medkit.cli.main import app

runner = CliRunner()


def _wdbc_csv(path, copy_label: bool = False):
    from medkit.data import load_dataset

    ds = load_dataset("wdbc")
    df = ds.X.reset_index(drop=True).copy()
    df["label"] = np.asarray(ds.y).astype(int)
    if copy_label:
        df["diagnosis_code"] = df["label"] * 2 + 1  # a recoding of the label: leakage
    df.to_csv(path, index=False)
    return df


@pytest.fixture(scope="module")
def wdbc_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wdbc")
    res = runner.invoke(app, ["clinical", "train", "--dataset", "wdbc", "--model", "logistic", "--out",
                              str(tmp / "bundle"), "--runs-dir", str(tmp / "runs"), "--n-boot", "20"])
    assert res.exit_code == 0, res.output
    return tmp / "bundle", next((tmp / "runs").iterdir())


def test_train_writes_quality_and_model_card(wdbc_run):
    _, run = wdbc_run
    for f in ("quality.html", "quality.json", "model_card.html", "tripod_ai.json", "report.html"):
        assert (run / f).is_file(), f
    q = json.loads((run / "quality.json").read_text())["summary"]
    assert q["n_errors"] == 0 and q["n_rows"] == 569
    report = (run / "report.html").read_text()
    assert "model_card.html" in report and "quality.html" in report and "Data quality" in report
    # config.json is left as the reloadable ClinicalConfig dump (the card's dict view is temporary)
    assert json.loads((run / "config.json").read_text())["config"]["model"] == "logistic"


def test_label_copy_column_is_refused(tmp_path):
    from medkit.core.errors import ValidationError

    _wdbc_csv(tmp_path / "leaky.csv", copy_label=True)
    res = runner.invoke(app, ["clinical", "train", "--csv", str(tmp_path / "leaky.csv"), "--label", "label",
                              "--model", "logistic", "--out", str(tmp_path / "b"), "--runs-dir", str(tmp_path / "r"),
                              "--n-boot", "0"])
    assert isinstance(res.exception, ValidationError), res.output
    assert "diagnosis_code" in str(res.exception)
    assert not (tmp_path / "b").exists()  # nothing trained
    run = next((tmp_path / "r").iterdir())
    assert (run / "quality.html").is_file()  # the report explaining the refusal is still written


def test_whas500_trains_without_post_outcome_column(tmp_path):
    from medkit.clinical.inputs import load_registered
    from medkit.clinical.trust import EXPECTED_WARNINGS
    from medkit.quality import check_xy

    d = load_registered("whas500")
    assert "los" not in d.X.columns
    rep = check_xy(d.X, d.event, d.ids, source="whas500")
    # no leakage warning left; only the reviewed duplicate-covariates note
    assert rep.summary()["n_errors"] == 0 and {f.check for f in rep.warnings} <= set(EXPECTED_WARNINGS["whas500"])
    res = runner.invoke(app, ["clinical", "train", "--dataset", "whas500", "--model", "coxph", "--out",
                              str(tmp_path / "b"), "--runs-dir", str(tmp_path / "r"), "--n-boot", "0"])
    assert res.exit_code == 0, res.output
    run = next((tmp_path / "r").iterdir())
    assert (run / "model_card.html").is_file() and (run / "quality.html").is_file()


def test_predict_explain_attributions_are_additive(tmp_path):
    model = "logistic"
    from medkit.clinical.bundle import load_clinical_bundle
    from medkit.data import load_dataset

    res = runner.invoke(app, ["clinical", "train", "--dataset", "wdbc", "--model", model, "--out",
                              str(tmp_path / "b"), "--runs-dir", str(tmp_path / "r"), "--n-boot", "0"])
    assert res.exit_code == 0, res.output
    X = load_dataset("wdbc").X.reset_index(drop=True).iloc[:6]
    X.to_csv(tmp_path / "in.csv", index=False)
    res = runner.invoke(app, ["clinical", "predict", str(tmp_path / "b"), str(tmp_path / "in.csv"), "--out",
                              str(tmp_path / "p"), "--explain"])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "p.json").read_text())
    ex = out["explanations"]
    assert ex["method"].startswith("shap") and len(ex["patients"]) == 6
    assert all("top_features" in p for p in out["predictions"])  # occlusion contributions kept alongside
    b = load_clinical_bundle(tmp_path / "b")
    risk = b.model.predict_proba(X)[:, 1]
    for i, p in enumerate(ex["patients"]):
        assert len(p["attributions"]) == X.shape[1]
        total = sum(p["attributions"].values())
        assert total == pytest.approx(p["prediction"] - p["base_value"], abs=1e-4)
        # the explained output is the bundle's risk, on the probability or log-odds scale
        expect = risk[i] if ex["output"] == "probability" else np.log(risk[i] / (1 - risk[i]))
        assert p["prediction"] == pytest.approx(expect, abs=1e-4)


def test_demo_report_and_wdbc_result(tmp_path, monkeypatch):
    import torch

    from medkit.clinical.demo import run_demo

    torch.set_num_threads(1)
    res = run_demo(tmp_path, seed=0, data_dir=tmp_path / "no-data")  # PhysioNet part skipped: fast
    assert res.report.is_file()
    metrics = json.loads((res.run_dir / "metrics.json").read_text())
    assert metrics["wdbc"]["logistic"]["auroc"]["value"] >= 0.98
    assert "WDBC logistic AUROC" in res.summary
    # the demo's apply step: a bundle the server can load, predicting malignancy probability for real rows
    from medkit.clinical.serving import load_predictor
    from medkit.data import load_dataset

    pred = load_predictor(res.run_dir / "bundle")
    rows = load_dataset("wdbc").X.head(3).to_dict(orient="records")
    out = pred.predict(rows)
    probs = [p["risk"] for p in out["predictions"]]
    assert len(probs) == 3 and all(0.0 <= p <= 1.0 for p in probs)


def test_explain_predictions_tree_model_is_additive():
    """Tree SHAP through the same helper (a small boosted model stands in for a gbm bundle, to stay fast)."""
    from types import SimpleNamespace

    from sklearn.ensemble import HistGradientBoostingClassifier

    from medkit.clinical.trust import explain_predictions
    from medkit.data import load_dataset

    ds = load_dataset("wdbc")
    X = ds.X.reset_index(drop=True)
    gbm = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, np.asarray(ds.y))
    b = SimpleNamespace(task="binary", features=list(X.columns), model=gbm)
    ex = explain_predictions(b, X.iloc[:5], top_k=3)
    assert ex["method"] == "shap-tree" and ex["completeness_gap"] < 1e-4
    for p in ex["patients"]:
        assert sum(p["attributions"].values()) == pytest.approx(p["prediction"] - p["base_value"], abs=1e-4)
        assert len(p["top_features"]) == 3
    assert explain_predictions(SimpleNamespace(task="icu"), X)["unavailable"]


def test_dp_epsilon_reaches_the_model_card(tmp_path):
    import torch

    torch.set_num_threads(1)
    res = runner.invoke(app, ["clinical", "train", "--dataset", "wdbc", "--model", "mlp", "--dp-epsilon", "3",
                              "--max-epochs", "2", "--n-boot", "0", "--out", str(tmp_path / "b"), "--runs-dir",
                              str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    run = next((tmp_path / "r").iterdir())
    spent = json.loads((run / "privacy.json").read_text())["epsilon_spent"]
    card = (run / "model_card.md").read_text()
    assert 0 < spent <= 3.0 + 1e-6 and "target_epsilon = 3.0" in card and "epsilon_spent" in card
