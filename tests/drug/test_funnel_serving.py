"""Funnel counts add up, ranking follows the score, bundles round-trip through load_predictor and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medkit.core.errors import ConfigError
from medkit.data import load_dataset
from medkit.drug.funnel import FunnelConfig, Objective, run_funnel
from medkit.drug.predictors import FingerprintModel


@pytest.fixture(scope="module")
def cands() -> tuple[list[str], list[str]]:
    test = load_dataset("moses", split="test", n=80).data
    train = load_dataset("moses", split="train", n=200).data
    # duplicates, invalid strings, training molecules (not novel) and PAINS/Brenk/Lipinski failures
    extra = ["xx", "", "C1CC", "O=C1C=CC(=O)C=C1", "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC(=O)O" * 2]
    return test + test[:10] + train[:7] + extra, train


def test_funnel_counts_add_up(cands: tuple[list[str], list[str]], tmp_path: Path) -> None:
    smiles, train = cands
    model = FingerprintModel(model="rf", n_estimators=10).fit(train[:100], np.arange(100) % 7)
    res = run_funnel(smiles, train_smiles=train, predictors={"act": model},
                     objectives=[Objective(name="act"), Objective(name="qed", weight=0.5)])
    st = res.stages
    assert st[0].n_in == len(smiles)
    for a, b in zip(st, st[1:], strict=False):
        assert a.n_out == b.n_in  # each stage starts with what the previous one let through
    for s in st:
        assert s.n_in - s.n_out == sum(s.removed.values())  # every removal has a counted reason
    assert st[0].removed.get("unparseable") == 2 and st[0].removed.get("empty") == 1
    assert st[1].removed["duplicate"] == 10
    t7 = res.table[~res.table["novel"]]
    assert len(t7) == 7  # matched whether or not standardisation rewrote the SMILES
    # the 7 training molecules are removed as "not novel" unless drug-likeness removed them first
    assert st[3].name == "novel" and st[3].removed["in training set"] == int((t7["failed_stage"] == "novelty").sum())
    assert set(t7["failed_stage"]) <= {"novelty", "drug-likeness"}
    assert len(res.table) == st[1].n_out  # one row per unique valid molecule
    failed = res.table["failed_stage"].value_counts().to_dict()
    assert failed.get("drug-likeness", 0) == st[2].n_in - st[2].n_out
    ranked = res.ranked
    assert len(ranked) == st[-1].n_out
    assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
    assert ranked["score"].is_monotonic_decreasing
    assert ranked["sd_act"].notna().all()
    assert len(res.invalid) == 3

    from medkit.drug.report import property_frame, write_screen_report

    out = write_screen_report(tmp_path / "r.html", res, title="t", train_props=property_frame(train[:50]))
    html = out.read_text()
    assert "<svg" in html and "in = out + removed" in html and "Top candidates" in html


def test_uncertainty_lowers_rank() -> None:
    class Fake:
        def predict_with_uncertainty(self, smiles: list[str]) -> object:
            from medkit.drug.predictors import PredictionResult

            n = len(smiles)
            mean = np.ones((n, 1))
            var = np.arange(n, dtype=float).reshape(-1, 1)  # later molecules are less certain
            return PredictionResult(mean, var, ["y"], [], list(smiles))

    smi = ["CCO", "CCN", "CCC", "CCCl"]
    res = run_funnel(smi, predictors={"y": Fake()}, objectives=[Objective(name="y")],
                     config=FunnelConfig(remove_brenk=False))
    order = list(res.ranked["smiles"])
    assert order == ["CCO", "CCN", "CCC", "CCCl"][: len(order)]
    with pytest.raises(ConfigError):
        run_funnel(smi, objectives=[Objective(name="nope")])


def test_bundle_predict_and_cli(shared_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medkit.cli.main import app
    from medkit.drug.serving import load_predictor
    from medkit.drug.workflow import PropertyRunConfig, train_property_model

    cfg = PropertyRunConfig(dataset="esol", model="rf", n_estimators=10, n_boot=20, data_dir=shared_data,
                            runs_dir=tmp_path / "runs")
    run, bundle, metrics = train_property_model(cfg, progress=False)
    assert metrics["n_train"] + metrics["n_val"] + metrics["n_test"] == 1117  # 1128 rows, 11 repeats merged
    assert 0.5 < metrics["test"]["mean"]["rmse"] < 3.0
    pred = load_predictor(bundle)
    out = pred.predict(["CCO", "not-a-smiles", "c1ccccc1O"], explain=True)
    assert out["n_invalid"] == 1
    rows = out["predictions"]
    assert rows[1]["valid"] is False and rows[1]["reason"].startswith("unparseable")
    assert set(rows[0]["values"]) == {"log_solubility"} and rows[0]["sd"]["log_solubility"] is not None
    assert len(rows[2]["attribution"]["weights"]) == 7
    # the rest of the batch still gets results, in order
    assert rows[0]["values"]["log_solubility"] > rows[2]["values"]["log_solubility"] - 5

    runner = CliRunner()
    smi = tmp_path / "in.smi"
    smi.write_text("CCO\nbad\n")
    r = runner.invoke(app, ["drug", "predict", str(bundle), "--input", str(smi), "--out", str(tmp_path / "p.csv")])
    assert r.exit_code == 0, r.output
    import pandas as pd

    df = pd.read_csv(tmp_path / "p.csv")
    assert list(df["valid"]) == [True, False] and np.isnan(df["log_solubility"][1])
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"molecule_id": [1], "y": [1.0]}).to_csv(bad, index=False)
    r = runner.invoke(app, ["drug", "train", "--csv", str(bad), "--model", "rf", "--runs-dir", str(tmp_path)])
    assert r.exit_code != 0
    assert "no SMILES column" in (r.output + str(r.exception))
