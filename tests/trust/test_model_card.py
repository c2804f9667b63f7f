"""Model card + TRIPOD+AI checklist on a real WDBC run directory written by the foundation workflow."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from medkit.core.errors import DataError
from medkit.data import load_dataset
from medkit.reporting.model_card import ModelCardInfo, add_trust_to_run, collect_facts, write_model_card
from medkit.reporting.tripod import ITEMS, fill_checklist
from medkit.workflows.tabular import TabularRunConfig, run_tabular


@pytest.fixture(scope="module")
def wdbc_run(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("runs")
    cfg = TabularRunConfig.model_validate({"name": "wdbc-card", "runs_dir": str(root),
                                           "evaluation": {"n_splits": 5, "n_boot": 100}})
    run, metrics = run_tabular(cfg)
    return run.path, metrics


@pytest.fixture(scope="module")
def trusted_run(wdbc_run) -> Path:
    path, _ = wdbc_run
    ds = load_dataset("wdbc")
    oof = pd.read_csv(path / "oof_predictions.csv")
    model = joblib.load(path / "model.joblib")["model"]
    size = pd.qcut(ds.X["mean radius"], 3, labels=["small", "medium", "large"]).astype(str).to_numpy()
    add_trust_to_run(path, ds.X, ds.y, groups=ds.groups, oof=oof["p"], folds=oof["fold"], model=model,
                     attributes={"tumour size": size}, n_explain=60, n_boot=100)
    return path


def _status(items, item_id: str) -> str:
    return next(i.status for i in items if i.id == item_id)


def test_checklist_for_a_bare_run_marks_what_the_run_knows(wdbc_run, tmp_path):
    import shutil

    # The foundation workflow now adds trust artefacts to every run; strip them to get a bare run.
    path = tmp_path / "bare"
    shutil.copytree(wdbc_run[0], path)
    for f in ("trust.json", "quality.json", "quality.html", "model_card.md", "model_card.html", "tripod_ai.md",
              "tripod_ai.json"):
        (path / f).unlink(missing_ok=True)
    items = fill_checklist(collect_facts(path))
    assert [i.id for i in items] == [i[0] for i in ITEMS] and len(items) == 52
    s = {i.id: i.status for i in items}
    # Known from config.json / metrics.json / datasets.json:
    assert s["4"] == s["5a"] == s["12a"] == s["12c"] == s["12e"] == s["18e"] == s["21"] == s["22"] == "done"
    # Facts of the design: internal CV → no train/eval difference; no imbalance method; no clusters; no updating.
    assert s["16"] == s["20c"] == s["13"] == s["12d"] == s["23b"] == s["12f"] == s["24"] == "not applicable"
    # Only the study team can answer these.
    assert s["17"] == s["18a"] == s["19"] == s["5b"] == s["6a"] == s["3b"] == "needs author input"
    # Without trust.json there is no quality check, no subgroup analysis.
    assert s["7"] == "needs author input" and s["14"] == "needs author input"


def test_trust_analysis_fills_the_card_and_more_items(trusted_run, wdbc_run):
    _, metrics = wdbc_run
    path = trusted_run
    for f in ("model_card.md", "model_card.html", "tripod_ai.md", "tripod_ai.json", "trust.json", "quality.html",
              "plots/shap_importance.png", "plots/recalibration.png"):
        assert (path / f).is_file(), f
    card = (path / "model_card.md").read_text()
    au = metrics["pooled_out_of_fold"]["auroc"]
    assert f"| auroc | {au['value']:.3f} ({au['ci_low']:.3f}–{au['ci_high']:.3f}) |" in card
    assert "## Subgroups" in card and "tumour size" in card and "## Privacy" in card
    assert "Intended use" in card and "_needs author input_" in card
    items = json.loads((path / "tripod_ai.json").read_text())
    s = {i["id"]: i["status"] for i in items}
    assert s["7"] == s["11"] == s["12f"] == s["14"] == s["23a"] == s["24"] == "done"
    ev = {i["id"]: i["evidence"] for i in items}
    assert s["10"] == "needs author input" and "212 events, 30 candidate predictors (7.1 events per predictor)" in ev["10"]
    assert s["20b"] == "needs author input" and "no demographics available" in ev["20b"]  # tumour size is not one
    trust = json.loads((path / "trust.json").read_text())
    assert trust["quality"]["n_errors"] == 0 and trust["population"] == {
        "n": 569, "events": 212, "prevalence": pytest.approx(212 / 569), "n_features": 30}
    assert trust["conformal"]["within_tolerance"] and trust["explanation"]["completeness_gap"] < 1e-8
    assert trust["explanation"]["method"] == "shap-linear"
    html = (path / "model_card.html").read_text()
    assert "data:image/png;base64" in html and "TRIPOD+AI checklist" in html


def test_author_answers_and_privacy_settings_are_used(trusted_run):
    path = trusted_run
    (path / "model_card_info.json").write_text(json.dumps({
        "intended_use": "Second reader for FNA cytology", "tripod": {"17": "Public de-identified data (UCI)."}}))
    (path / "privacy.json").write_text(json.dumps({"epsilon": 3.0, "delta": 1e-5}))
    out = write_model_card(path)
    card = out.markdown.read_text()
    assert "Second reader for FNA cytology" in card and "epsilon = 3.0" in card
    s = {i["id"]: i for i in json.loads(out.tripod_json.read_text())}
    assert s["17"]["status"] == "done" and s["17"]["evidence"].startswith("author:")


def test_subgroups_unavailable_marks_23a_for_the_author(wdbc_run, tmp_path):
    path, _ = wdbc_run
    facts = collect_facts(path)
    facts["trust"] = {"quality": {"n_errors": 0, "n_warnings": 0, "checks_run": []}}
    s = {i.id: i for i in fill_checklist(facts)}
    assert s["23a"].status == "needs author input" and "no subgroup attributes" in s["23a"].evidence


def test_cli_model_card_rewrites_a_run(trusted_run, tmp_path):
    from medkit.cli.main import app

    res = CliRunner().invoke(app, ["quality", "model-card", str(trusted_run)])
    assert res.exit_code == 0, res.output
    assert "TRIPOD+AI:" in res.output and "need author input" in res.output
    assert (trusted_run / "plots" / "subgroups.png").is_file()
    assert "AUROC by subgroup" in (trusted_run / "model_card.html").read_text()
    res = CliRunner().invoke(app, ["quality", "model-card", str(tmp_path)])
    assert res.exit_code != 0 and "not a medkit run directory" in str(res.exception)


def test_bad_inputs(tmp_path, wdbc_run):
    with pytest.raises(DataError, match="not a medkit run directory"):
        write_model_card(tmp_path)
    path, _ = wdbc_run
    bad = tmp_path / "copy"
    bad.mkdir()
    for f in ("run.json", "config.json", "datasets.json", "metrics.json"):
        (bad / f).write_text((path / f).read_text())
    (bad / "model_card_info.json").write_text(json.dumps({"intended_us": "typo"}))
    with pytest.raises(DataError, match="model_card_info.json is invalid"):
        write_model_card(bad)
    assert ModelCardInfo.load(tmp_path / "absent.json") == ModelCardInfo()


def test_cli_quality_check_dataset_and_planted_csv(tmp_path):
    from medkit.cli.main import app

    runner = CliRunner()
    res = runner.invoke(app, ["quality", "check", "wdbc", "--out", str(tmp_path / "wdbc.html")])
    assert res.exit_code == 0, res.output
    assert "wdbc: 0 error(s), 0 warning(s)" in res.output and (tmp_path / "wdbc.html").is_file()
    df = load_dataset("wdbc").data.copy()
    df["leak"] = df["malignant"] * 2.0
    csv = tmp_path / "leaky.csv"
    df.to_csv(csv, index=False)
    res = runner.invoke(app, ["quality", "check", str(csv), "--label", "malignant", "--id-column", "patient_id",
                              "--out", str(tmp_path / "leaky.html"), "--strict", "--allow-quality-warnings"])
    assert res.exit_code != 0
    assert "ERROR   label_leakage: 'leak' alone predicts the label" in res.output
    assert json.loads((tmp_path / "leaky.json").read_text())["summary"]["n_errors"] == 1
    assert np.isclose(json.loads((tmp_path / "leaky.json").read_text())["findings"][0]["value"], 1.0)
