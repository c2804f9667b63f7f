"""Trust wiring: quality gate before training, model card in the run directory, SHAP attributions in recommend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medkit.core.errors import ValidationError
from medkit.core.runs import RunDir
from medkit.data import load_dataset
from medkit.treatment.features import ACTG_COVARIATES
from medkit.treatment.trust import actg_quality_gate
from medkit.treatment.workflow import ActgConfig, CFConfig, TreatmentRunConfig, run_treatment


def test_gate_refuses_outcome_copy_and_passes_real_data(tmp_path: Path) -> None:
    df = load_dataset("actg175").data
    run = RunDir.create("q", tmp_path)
    rep = actg_quality_gate(df, ACTG_COVARIATES, "cd420", run)  # real data: no errors, no warnings by default
    assert rep.summary()["n_errors"] == 0 and rep.summary()["n_warnings"] == 0
    assert (run.path / "quality.html").is_file()
    planted = df.assign(cd420_copy=df["cd420"] + 0.0)
    with pytest.raises(ValidationError, match="cd420_copy"):
        actg_quality_gate(planted, [*ACTG_COVARIATES, "cd420_copy"], "cd420", run)
    assert json.loads((run.path / "quality.json").read_text())["summary"]["n_errors"] >= 1


@pytest.mark.parametrize("col", ["cd496", "days", "offtrt", "cd420"])
def test_post_outcome_covariate_refused_before_training(tmp_path: Path, col: str) -> None:
    cfg = TreatmentRunConfig(runs_dir=tmp_path, actg=ActgConfig(covariates=[*ACTG_COVARIATES, col]),
                             cf=CFConfig(enabled=False))
    with pytest.raises(ValidationError, match=col) as exc:
        run_treatment(cfg)
    assert "post-outcome" in str(exc.value)
    assert not list(tmp_path.glob("*/bundle"))  # nothing was trained


def test_train_writes_card_quality_and_explain_attributions(tmp_path: Path) -> None:
    from medkit.cli.treatment import app

    r = CliRunner()
    res = r.invoke(app, ["train", "--runs-dir", str(tmp_path), "--set", "actg.policy_n_boot=10"])
    assert res.exit_code == 0, res.output
    run_dir = next(p for p in tmp_path.iterdir() if (p / "bundle").is_dir())
    for f in ("model_card.html", "tripod_ai.json", "quality.html", "quality.json"):
        assert (run_dir / f).is_file(), f
    assert "Decision support for choosing" in (run_dir / "model_card.html").read_text()
    patient = load_dataset("actg175").data[ACTG_COVARIATES].iloc[0].to_dict()
    pj = tmp_path / "p.json"
    pj.write_text(json.dumps({k: float(v) for k, v in patient.items()}))
    res = r.invoke(app, ["recommend", "--bundle", str(run_dir / "bundle"), "--patient", str(pj), "--json",
                         "--explain"])
    assert res.exit_code == 0, res.output
    p = json.loads(res.output)["patients"][0]
    at = p["attributions"]
    assert at["method"] in ("shap-linear", "shap-tree")
    feats = [f["feature"] for f in at["top_features"]]
    assert set(feats) <= set(ACTG_COVARIATES) and feats
    assert len(feats) == len(ACTG_COVARIATES)
    # additivity: base value + contributions = the explained model's prediction
    total = at["base_value"] + sum(f["contribution"] for f in at["top_features"])
    assert total == pytest.approx(at["prediction"], rel=1e-6)
    assert at["top_features"][0]["value"] == pytest.approx(patient[feats[0]])  # raw, unscaled covariate value
    assert "drivers" in p  # the one-at-a-time drivers stay
    res = r.invoke(app, ["recommend", "--bundle", str(run_dir / "bundle"), "--patient", str(pj)])
    assert res.exit_code == 0 and "attributions" not in res.output


def test_gdsc2_gate_real_data_passes_and_duplicate_pair_is_refused(shared_data: Path, tmp_path: Path) -> None:
    import numpy as np

    from medkit.treatment.features import gdsc2_long
    from medkit.treatment.trust import gdsc_quality_gate

    X, y = gdsc2_long(load_dataset("gdsc2", data_dir=shared_data).data["response"])
    run = RunDir.create("g", tmp_path)
    rep = gdsc_quality_gate(X, y, run)
    assert rep.summary()["n_errors"] == 0 and (run.path / "quality_gdsc2.html").is_file()
    X2 = np.vstack([X, X[:1]])  # a planted duplicate (cell line, drug) row with the same response
    with pytest.raises(ValidationError, match="more than once"):
        gdsc_quality_gate(X2, np.append(y, y[0]), run, allow_warnings=True)  # errors cannot be allowed
