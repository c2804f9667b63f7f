"""Conservative policy, bundle + Predictor, CLI recommend; bad patient input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from medkit.core.bundle import Predictor
from medkit.core.errors import SchemaError
from medkit.data import load_dataset
from medkit.treatment.features import ACTG_ARMS, ACTG_COVARIATES
from medkit.treatment.policy import ConservativePolicy
from medkit.treatment.serving import load_predictor, save_bundle


@pytest.fixture(scope="module")
def actg() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    df = load_dataset("actg175").data
    return df[ACTG_COVARIATES].reset_index(drop=True), df["arms"].to_numpy(), df["cd420"].to_numpy(float)


def test_keeps_best_arm_without_heterogeneity(actg: tuple) -> None:
    X, a, _ = actg
    rng = np.random.default_rng(1)
    # arm 1 is better by a constant 30 for everyone: the rule must give everyone arm 1 (the best single arm)
    y = 300 + 30 * (a == 1) + rng.normal(0, 100, len(a))
    rec = ConservativePolicy(n_boot=20).fit(X, a, y).recommend(X)
    assert rec.default_arm == 1
    assert rec.switched.mean() < 0.05
    assert np.all(np.isfinite(rec.outcome)) and np.all(rec.outcome_lo <= rec.outcome_hi)


def test_switches_when_benefit_is_confident(actg: tuple) -> None:
    X, a, _ = actg
    rng = np.random.default_rng(2)
    high = (X["cd40"] > X["cd40"].quantile(0.8)).to_numpy()
    # arm 1 best on average (+40 vs +30), but the top-20% baseline-CD4 patients gain +150 on arm 3
    y = 300 + 40 * (a == 1) + 150 * ((a == 3) & high) + rng.normal(0, 30, len(a))
    pol = ConservativePolicy(n_boot=20).fit(X, a, y)
    rec = pol.recommend(X)
    assert rec.default_arm == 1
    assert np.mean(rec.recommended[X["cd40"] > X["cd40"].quantile(0.9)] == 3) > 0.8
    drivers = pol.drivers(X.iloc[[int(np.argmax(X["cd40"].to_numpy()))]], 3, 1)[0]
    assert drivers[0][0] == "cd40"


def test_bundle_predictor_and_cli(actg: tuple, tmp_path: Path) -> None:
    X, a, y = actg
    pol = ConservativePolicy(n_boot=10).fit(X, a, y)
    b = save_bundle(tmp_path / "bundle", pol, name="t", arm_names=ACTG_ARMS, reference=0, outcome="cd420",
                    unit="cells/mm³")
    pred = load_predictor(b)
    assert isinstance(pred, Predictor)
    patients = X.iloc[:3].to_dict(orient="records")
    out = pred.predict(patients)
    assert len(out["patients"]) == 3
    for p in out["patients"]:
        assert p["recommended_arm"] in ACTG_ARMS
        assert all(np.isfinite(x["expected"]) and x["interval"][0] <= x["interval"][1] for x in p["per_arm"])
        assert np.isfinite(p["benefit_over_reference"])
    missing = dict(patients[0])
    missing.pop("karnof")
    with pytest.raises(SchemaError, match="karnof"):
        pred.predict([missing])
    with pytest.raises(SchemaError, match="row 0"):
        pred.predict([{**patients[0], "age": "old"}])

    from medkit.cli.treatment import app

    pj = tmp_path / "patient.json"
    pj.write_text(json.dumps(patients[0]))
    res = CliRunner().invoke(app, ["recommend", "--bundle", str(b), "--patient", str(pj), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["patients"][0]["recommended_name"] in ACTG_ARMS.values()
    csv = tmp_path / "patients.csv"
    X.iloc[:2].to_csv(csv, index=False)
    res = CliRunner().invoke(app, ["recommend", "--bundle", str(b), "--patient", str(csv)])
    assert res.exit_code == 0 and "recommended" in res.output
