"""CLI train → predict round trip on a small real PhysioNet subset; serving predictor; bad inputs."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from medkit.cli.main import app

runner = CliRunner()


def _fails(res, message: str) -> bool:
    """The command stopped with a medkit error (the console entry turns it into exit code 2) naming ``message``."""
    from medkit.core.errors import MedkitError

    return isinstance(res.exception, MedkitError) and message in str(res.exception)


@pytest.fixture(scope="module")
def icu_bundle(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("icu")
    res = runner.invoke(app, ["clinical", "train", "--dataset", "physionet2012-a", "--limit", "150", "--model",
                              "logistic", "--out", str(tmp / "bundle"), "--runs-dir", str(tmp / "runs"),
                              "--n-boot", "20", "--data-dir", str(shared_data)])
    assert res.exit_code == 0, res.output
    return tmp / "bundle", tmp


def _extract_b(shared_data, dest, n=3):
    with tarfile.open(shared_data / "physionet2012" / "set-b.tar.gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)[:n]
        tar.extractall(dest, members=members, filter="data")
    return dest / "set-b"


def test_train_writes_bundle_and_report(icu_bundle):
    bundle, tmp = icu_bundle
    info = json.loads((bundle / "bundle.json").read_text())
    assert info["pillar"] == "clinical" and info["kind"] == "icu" and 0.5 < info["metrics"]["auroc"]["value"] <= 1
    run = next((tmp / "runs").iterdir())
    assert (run / "report.html").is_file() and (run / "quality.html").is_file() and (run / "model_card.html").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_test"] == 150 and metrics["cleaning"]


def test_predict_round_trip_dir_and_long_csv(icu_bundle, shared_data, tmp_path):
    bundle, _ = icu_bundle
    recs = _extract_b(shared_data, tmp_path)
    res = runner.invoke(app, ["clinical", "predict", str(bundle), str(recs), "--out", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "p.json").read_text())
    preds = out["predictions"]
    assert len(preds) == 3 and all(0 <= p["risk"] <= 1 for p in preds)
    assert all(len(p["top_features"]) > 0 and "contribution" in p["top_features"][0] for p in preds)
    csv = pd.read_csv(tmp_path / "p.csv")
    np.testing.assert_allclose(csv["risk"], [p["risk"] for p in preds])
    # the same records as one long CSV give the same risks
    rows = []
    for f in sorted(recs.glob("*.txt")):
        body = pd.read_csv(f)
        rows.append(body.assign(record_id=int(f.stem)))
    long = pd.concat(rows)[["record_id", "Time", "Parameter", "Value"]]
    long.to_csv(tmp_path / "long.csv", index=False)
    res = runner.invoke(app, ["clinical", "predict", str(bundle), str(tmp_path / "long.csv"),
                              "--out", str(tmp_path / "q")])
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(pd.read_csv(tmp_path / "q.csv")["risk"], csv["risk"])


def test_serving_predictor_matches_cli(icu_bundle, shared_data, tmp_path):
    from medkit.clinical.serving import load_predictor

    bundle, _ = icu_bundle
    recs = _extract_b(shared_data, tmp_path, n=1)
    f = next(recs.glob("*.txt"))
    body = pd.read_csv(f)
    rows = [{"record_id": int(f.stem), "time": t, "parameter": p, "value": v}
            for t, p, v in body.itertuples(index=False)]
    out = load_predictor(bundle).predict(rows, explain=True)
    assert out["predictions"][0]["id"] == f.stem and 0 <= out["predictions"][0]["risk"] <= 1
    res = runner.invoke(app, ["clinical", "predict", str(bundle), str(f), "--out", str(tmp_path / "one")])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(tmp_path / "one.csv")["risk"].iloc[0] == pytest.approx(out["predictions"][0]["risk"])


def test_bad_record_gives_clear_error(icu_bundle, tmp_path):
    bundle, _ = icu_bundle
    d = tmp_path / "recs"
    d.mkdir()
    (d / "1.txt").write_text("Time,Parameter,Value\n00:00,RecordID,1\n00:00,Age,50\n01:00,HeartRate,80\n")
    res = runner.invoke(app, ["clinical", "predict", str(bundle), str(d), "--out", str(tmp_path / "x")])
    assert _fails(res, "unknown parameter 'HeartRate'") and _fails(res, "1.txt:4")
    (d / "1.txt").write_text("Time,Parameter,Value\n00:00,RecordID,1\n-01:00,HR,80\n")
    res = runner.invoke(app, ["clinical", "predict", str(bundle), str(d), "--out", str(tmp_path / "x")])
    assert _fails(res, "negative time")


def test_evaluate_refuses_training_patients(icu_bundle, shared_data, tmp_path):
    bundle, _ = icu_bundle
    res = runner.invoke(app, ["clinical", "evaluate", str(bundle), "--dataset", "physionet2012-a", "--limit", "150",
                              "--data-dir", str(shared_data), "--runs-dir", str(tmp_path)])
    assert _fails(res, "were used to train the model")


def test_tabular_and_survival_round_trip(tmp_path):
    from medkit.data import load_dataset

    res = runner.invoke(app, ["clinical", "train", "--dataset", "wdbc", "--model", "logistic", "--out",
                              str(tmp_path / "wdbc"), "--runs-dir", str(tmp_path / "runs"), "--n-boot", "20"])
    assert res.exit_code == 0, res.output
    X = load_dataset("wdbc").X.head(4)
    X.to_csv(tmp_path / "wdbc.csv", index=False)
    res = runner.invoke(app, ["clinical", "predict", str(tmp_path / "wdbc"), str(tmp_path / "wdbc.csv"),
                              "--out", str(tmp_path / "wp")])
    assert res.exit_code == 0, res.output
    assert len(json.loads((tmp_path / "wp.json").read_text())["predictions"]) == 4
    res = runner.invoke(app, ["clinical", "train", "--dataset", "veteran", "--model", "coxph", "--out",
                              str(tmp_path / "vet"), "--runs-dir", str(tmp_path / "runs"), "--n-boot", "20"])
    assert res.exit_code == 0, res.output
    assert "Harrell's C" in res.output


def test_bad_csv_inputs(tmp_path):
    df = pd.DataFrame({"pid": [1, 2, 2, 3, 4, 5], "x": [1.0, 2, 3, 4, 5, 6], "time": [5.0, 3, 0, 2, 8, 1],
                       "event": [1, 0, 1, 1, 0, 1]})
    df.to_csv(tmp_path / "s.csv", index=False)
    base = ["clinical", "train", "--csv", str(tmp_path / "s.csv"), "--model", "coxph", "--out", str(tmp_path / "b"),
            "--runs-dir", str(tmp_path / "r")]
    res = runner.invoke(app, [*base, "--time-column", "time", "--event-column", "event", "--id-column", "pid"])
    assert _fails(res, "occurs in more than one row")  # a patient twice → two splits
    res = runner.invoke(app, [*base, "--time-column", "time", "--event-column", "event"])
    assert _fails(res, "<= 0")
    df.assign(time=df.time + 1, event=[1, 0, 2, 1, 0, 1]).to_csv(tmp_path / "s.csv", index=False)
    res = runner.invoke(app, [*base, "--time-column", "time", "--event-column", "event"])
    assert _fails(res, "0/1")
    res = runner.invoke(app, ["clinical", "train", "--dataset", "wdbc", "--model", "grud", "--out", str(tmp_path)])
    assert _fails(res, "does not fit a binary task")


def test_survival_predict_and_dp_training(tmp_path):
    from medkit.data import load_dataset

    res = runner.invoke(app, ["clinical", "train", "--dataset", "veteran", "--model", "coxph", "--out",
                              str(tmp_path / "vet"), "--runs-dir", str(tmp_path / "runs"), "--n-boot", "20"])
    assert res.exit_code == 0, res.output
    load_dataset("veteran").X.head(5).to_csv(tmp_path / "vet.csv", index=False)
    res = runner.invoke(app, ["clinical", "predict", str(tmp_path / "vet"), str(tmp_path / "vet.csv"),
                              "--out", str(tmp_path / "vp")])
    assert res.exit_code == 0, res.output
    preds = json.loads((tmp_path / "vp.json").read_text())["predictions"]
    surv_cols = [k for k in preds[0] if k.startswith("survival_t")]
    assert len(preds) == 5 and len(surv_cols) == 3
    assert all(p[surv_cols[0]] >= p[surv_cols[-1]] for p in preds)  # survival falls over time
    # occlusion is exact: risk minus the risk with the top covariate set to the training reference
    from medkit.clinical.bundle import load_clinical_bundle

    b = load_clinical_bundle(tmp_path / "vet")
    X = pd.read_csv(tmp_path / "vet.csv").head(1)
    assert all(len(p["top_features"]) == 5 for p in preds)
    top = preds[0]["top_features"][0]
    occl = X.assign(**{top["feature"]: b.reference[top["feature"]]})
    assert preds[0]["risk"] - b.model.predict(occl)[0] == pytest.approx(top["contribution"], abs=1e-9)
    # differential privacy: the accountant's spent epsilon stays within the requested budget
    res = runner.invoke(app, ["clinical", "train", "--dataset", "wdbc", "--model", "mlp", "--dp-epsilon", "2",
                              "--max-epochs", "2", "--out", str(tmp_path / "dp"), "--runs-dir", str(tmp_path / "dpr"),
                              "--n-boot", "10"])
    assert res.exit_code == 0, res.output
    priv = json.loads(next((tmp_path / "dpr").glob("*/privacy.json")).read_text())
    assert 0 < priv["epsilon_spent"] <= 2.0 + 1e-6
    res = runner.invoke(app, ["clinical", "train", "--dataset", "wdbc", "--model", "gbm", "--dp-epsilon", "2",
                              "--out", str(tmp_path / "dp2")])
    assert _fails(res, "--dp-epsilon is supported for the mlp")


def test_ensemble_with_grud_trains_and_explains(shared_data, tmp_path):
    """The ensemble path (logistic + gbm + GRU-D, weights on an inner split of A) end to end, tiny settings."""
    from medkit.clinical.icu import ICUMortalityModel
    from medkit.clinical.inputs import load_registered

    a = load_registered("physionet2012-a", data_dir=shared_data, limit=160)
    m = ICUMortalityModel("ensemble", "basic", seed=0, max_epochs=2, gbm_iter=30).fit(a.X)
    assert sum(m.weights_.values()) == pytest.approx(1.0) and set(m.weights_) == {"logistic", "gbm", "grud"}
    few = a.X.subset(a.ids[:2])
    p = m.predict_proba(few)[:, 1]
    assert ((p > 0) & (p < 1)).all()
    contrib = m.contributions(few, top_k=3)
    assert len(contrib) == 2 and all(len(c) <= 3 for c in contrib)
    # occlusion is exact: removing the top variable changes the risk by exactly its contribution
    top = contrib[0][0]
    from medkit.data.physionet import PhysioNetRecords

    one = a.X.subset(a.ids[:1])
    occl = PhysioNetRecords(one.long[one.long.parameter != top["feature"]], one.static, None)
    assert p[0] - m.predict_proba(occl)[0, 1] == pytest.approx(top["contribution"], abs=1e-9)


def test_foreign_or_missing_bundle_is_a_model_error(tmp_path):
    import joblib

    from medkit.clinical.serving import load_predictor
    from medkit.core.bundle import BundleInfo, save_bundle_info
    from medkit.core.errors import ModelError

    with pytest.raises(ModelError, match="no bundle.json"):
        load_predictor(tmp_path)
    joblib.dump({"model": 1}, tmp_path / "model.joblib")
    save_bundle_info(tmp_path, BundleInfo(pillar="clinical", kind="x", name="x"))
    with pytest.raises(ModelError, match="not written by `medkit clinical train`"):
        load_predictor(tmp_path)
    save_bundle_info(tmp_path, BundleInfo(pillar="drug", kind="x", name="x"))
    with pytest.raises(ModelError, match="drug"):
        load_predictor(tmp_path)


def test_evaluate_runs_the_quality_gate(tmp_path):
    """External evaluation refuses data a training run would refuse (here: a column that copies the label)."""
    from medkit.data import load_dataset

    res = runner.invoke(app, ["clinical", "train", "--dataset", "wdbc", "--model", "logistic", "--out",
                              str(tmp_path / "b"), "--runs-dir", str(tmp_path / "runs"), "--n-boot", "20"])
    assert res.exit_code == 0, res.output
    ds = load_dataset("wdbc")
    df = ds.X.iloc[::3].assign(label=ds.y[::3])
    df.to_csv(tmp_path / "ok.csv", index=False)
    ev = ["clinical", "evaluate", str(tmp_path / "b"), "--label", "label", "--runs-dir", str(tmp_path / "runs"),
          "--n-boot", "20"]
    res = runner.invoke(app, [*ev, "--csv", str(tmp_path / "ok.csv")])
    assert res.exit_code == 0, res.output
    run = next(p for p in (tmp_path / "runs").iterdir() if p.name.endswith("clinical-evaluate"))
    assert json.loads((run / "quality.json").read_text())["findings"] is not None
    df.assign(leak=df["label"] * 2.0).to_csv(tmp_path / "leak.csv", index=False)
    res = runner.invoke(app, [*ev, "--csv", str(tmp_path / "leak.csv")])
    assert _fails(res, "'leak' alone predicts the label")
