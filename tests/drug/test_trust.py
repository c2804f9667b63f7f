"""Trust wiring of the drug pillar: quality gate, model card, explain output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medkit.core.errors import ValidationError

SMI = ["CCO", "CCCO", "CCCCO", "c1ccccc1", "c1ccccc1O", "CC(=O)O", "CCN", "CCCN", "c1ccncc1", "CC(C)O",
       "OCCO", "CCOC", "C1CCCCC1", "c1ccc2ccccc2c1", "CC(=O)N", "CCCl", "CCBr", "CC#N", "COC(=O)C", "NCCO"]


def test_merge_rule_counts_and_values() -> None:
    from medkit.drug.quality_gate import quality_gate

    # regression: replicate values are averaged
    smi = ["CCO", "CCO", "CCC", "CCN", "CCN", "CCN"]
    y = np.array([[1.0], [2.0], [5.0], [3.0], [3.0], [3.0]])
    r = quality_gate(smi, y, ["t"], "regression", source="toy", max_conflict_fraction=0.5)
    assert r.smiles == ["CCO", "CCC", "CCN"]
    np.testing.assert_allclose(r.y[:, 0], [1.5, 5.0, 3.0])
    assert r.merge["rows_merged"] == 3 and r.merge["conflicting_molecules"] == 1 and r.merge["max_spread"] == 1.0
    assert r.report.summary()["n_info"] == 1 and r.report.ok
    # classification: majority wins, a tie is masked (NaN) and counted
    yc = np.array([[1.0], [0.0], [1.0], [1.0], [1.0], [0.0]])
    rc = quality_gate(smi, yc, ["t"], "classification", source="toy", max_conflict_fraction=1.0)
    assert np.isnan(rc.y[0, 0]) and rc.y[2, 0] == 1.0 and rc.merge["masked_ties"] == 1
    # refuse: the same table is an error
    with pytest.raises(ValidationError, match="different values"):
        quality_gate(smi, y, ["t"], "regression", source="toy", duplicates="refuse")


def test_planted_conflicts_refused_by_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medkit.cli.main import app

    # 5 of 20 molecules measured twice with different values: 25% conflicting, far above the 1% tolerance
    rows = [(s, float(i)) for i, s in enumerate(SMI)] + [(s, 100.0 + i) for i, s in enumerate(SMI[:5])]
    csv = tmp_path / "planted.csv"
    pd.DataFrame(rows, columns=["smiles", "y"]).to_csv(csv, index=False)
    r = CliRunner().invoke(app, ["drug", "train", "--csv", str(csv), "--model", "rf", "--runs-dir", str(tmp_path / "r")])
    assert r.exit_code != 0
    msg = r.output + str(r.exception)
    assert "data-quality gate failed" in msg and "conflicting labels" in msg and "25.0%" in msg
    q = json.loads(next((tmp_path / "r").glob("*/quality.json")).read_text())
    assert q["summary"]["n_errors"] == 1
    assert next((tmp_path / "r").glob("*/quality.html")).is_file()


def test_esol_run_has_quality_card_and_explain(shared_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medkit.cli.main import app
    from medkit.drug.workflow import PropertyRunConfig, train_property_model

    cfg = PropertyRunConfig(dataset="esol", model="rf", n_estimators=5, n_boot=0, data_dir=shared_data,
                            runs_dir=tmp_path / "runs")
    run, bundle, metrics = train_property_model(cfg, progress=False)
    for f in ("quality.html", "quality.json", "model_card.html", "model_card.md", "tripod_ai.md", "report.html"):
        assert (run.path / f).is_file(), f
    # ESOL: 11 repeated canonical SMILES merged (6 with conflicting solubility), counted, not silently dropped
    assert metrics["duplicates"]["rows_merged"] == 11 and metrics["duplicates"]["conflicting_molecules"] == 6
    assert metrics["quality"]["n_errors"] == 0 and metrics["quality"]["n_warnings"] == 0
    html = (run.path / "report.html").read_text()
    assert 'href="model_card.html"' in html and 'href="quality.html"' in html
    assert "TRIPOD" in (run.path / "model_card.md").read_text()

    r = CliRunner().invoke(app, ["drug", "predict", str(bundle), "--smiles", "c1ccccc1O", "--smiles", "xx",
                                 "--explain"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    ok, bad = out["predictions"]
    ex = ok["explanation"]
    assert ex["method"] == "fingerprint occlusion" and ex["prediction"] == pytest.approx(ok["values"]["log_solubility"])
    assert all(f["feature"].startswith("atom ") for f in ex["top_features"]) and len(ex["top_features"]) == 5
    assert "explanation" not in bad and bad["valid"] is False
