"""Data-quality checks find problems planted in real data (WDBC) and pass the clean data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medkit.core.errors import ConfigError, SchemaError, ValidationError
from medkit.data import load_dataset
from medkit.quality import (
    SCHEMAS,
    ColumnSpec,
    TableSchema,
    check_dataset,
    check_file,
    check_images,
    check_table,
    check_xy,
    gate,
    psi,
    validate_or_raise,
)


@pytest.fixture(scope="module")
def wdbc() -> pd.DataFrame:
    return load_dataset("wdbc").data.copy()  # 30 features + patient_id + malignant


def _split(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.uniform(size=n) < 0.7, "train", "test")


def test_clean_wdbc_passes_every_check_with_its_schema(wdbc):
    rep = check_table(wdbc, schema=SCHEMAS.get("wdbc"), split=_split(len(wdbc)), source="wdbc")
    assert rep.errors == [] and rep.warnings == [], [f.message for f in rep.errors + rep.warnings]
    assert {"schema", "missingness", "duplicates", "label_leakage", "split_overlap", "shift", "class_balance",
            "outliers", "post_outcome"} <= set(rep.checks_run)
    gate(rep)  # does not raise
    # Strong real predictors are recorded as info, not as leakage: worst perimeter alone has AUROC ~0.975.
    lk = {r["variable"]: r["single-feature AUROC"] for r in rep.tables["leakage"]}
    assert 0.95 < lk["worst perimeter"] < 0.99


def test_leaked_label_column_is_an_error_and_blocks_training(wdbc):
    df = wdbc.copy()
    rng = np.random.default_rng(0)
    # A "diagnosis code" copied from the label, with a little noise so it is not an exact copy.
    df["diagnosis_code"] = df["malignant"] * 3.0 + rng.normal(0, 0.1, len(df))
    rep = check_table(df, label="malignant", id_column="patient_id", source="wdbc+leak")
    leaks = [f for f in rep.errors if f.check == "label_leakage"]
    assert [f.where for f in leaks] == ["wdbc+leak: column 'diagnosis_code'"]
    assert leaks[0].value == pytest.approx(1.0)
    with pytest.raises(ValidationError, match="diagnosis_code"):
        gate(rep, allow_warnings=True)  # errors are never let through


def test_duplicated_patient_found_within_and_across_splits(wdbc):
    df = wdbc.copy()
    copy = df.iloc[[10]].copy()
    copy["patient_id"] = 10_000  # the same patient re-registered under a new id
    df = pd.concat([df, copy], ignore_index=True)
    split = np.array(["train"] * (len(df) - 1) + ["test"])
    split[10] = "train"
    rep = check_table(df, label="malignant", id_column="patient_id", split=split, source="wdbc+dup")
    dup = [f for f in rep.warnings if f.check == "duplicates"]
    assert len(dup) == 1 and "1 row(s) repeat" in dup[0].message and "1 shared by different patient ids" in dup[0].message
    cross = [f for f in rep.errors if f.check == "split_overlap"]
    assert len(cross) == 1 and "exactly the same features" in cross[0].message
    assert rep.tables["overlap train vs test"][0]["count"] == 0  # ids differ; only the features give it away


def test_shared_patient_id_across_splits_is_an_error(wdbc):
    split = _split(len(wdbc))
    df = wdbc.copy()
    test_rows = np.flatnonzero(split == "test")[:3]
    df.loc[test_rows, "patient_id"] = df.loc[np.flatnonzero(split == "train")[:3], "patient_id"].to_numpy()
    rep = check_table(df, label="malignant", id_column="patient_id", split=split)
    f = [f for f in rep.errors if f.check == "split_overlap"]
    assert f and "3 patient id(s) appear in both train and test" in f[0].message


def test_shifted_units_in_one_split_are_found_by_psi_and_by_the_declared_range(wdbc):
    df = wdbc.copy()
    split = _split(len(df), seed=1)
    test = split == "test"
    # The test site reports nucleus area in a different unit (x 10: e.g. a different pixel calibration).
    df.loc[test, "mean area"] = df.loc[test, "mean area"] * 10
    rep = check_table(df, schema=SCHEMAS.get("wdbc"), split=split, source="wdbc+units")
    shift = [f for f in rep.warnings if f.check == "shift"]
    assert [f.where.split("'")[1] for f in shift] == ["mean area"]
    assert "median ratio 10" in shift[0].message
    rng_err = [f for f in rep.errors if f.check == "schema"]
    assert rng_err and "column 'mean area'" in rng_err[0].message and "allowed range [0, 10000]" in rng_err[0].message
    # Unchanged variables stay below the warning level.
    psis = {r["variable"]: r["PSI"] for r in rep.tables["shift train vs test"]}
    assert psis["mean area"] > 1.0 and max(v for k, v in psis.items() if k != "mean area") < 0.25


def test_psi_reference_values():
    rng = np.random.default_rng(0)
    a = rng.normal(size=20_000)
    assert psi(a, rng.normal(size=20_000)) < 0.01
    # Hand computation with two bins (median split): reference 50/50, current 80/20.
    ref = np.r_[np.zeros(50), np.ones(50)]
    cur = np.r_[np.zeros(80), np.ones(20)]
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert psi(ref, cur, n_bins=2) == pytest.approx(expected)


def test_schema_violation_names_column_row_and_rule(wdbc):
    df = wdbc.copy()
    df.loc[5, "mean radius"] = -3.0
    with pytest.raises(SchemaError) as exc:
        validate_or_raise(df, SCHEMAS.get("wdbc"), source="wdbc.csv")
    msg = str(exc.value)
    assert "column 'mean radius'" in msg and "row 5" in msg and "allowed range [0, 60]" in msg
    assert "-3" not in msg  # values are counted, never printed


def test_missing_required_column_and_bad_category(wdbc):
    schema = TableSchema("t", (ColumnSpec("age", "float", min=0, max=120),
                               ColumnSpec("sex", "category", categories=("F", "M"))))
    df = pd.DataFrame({"sex": ["F", "M", "X"]})
    rep = check_table(df, schema=schema, task="none")
    msgs = [f.message for f in rep.errors]
    assert "required column 'age' is missing" in msgs
    assert any("column 'sex'" in m and "allowed categories ['F', 'M']" in m for m in msgs)


def test_post_outcome_features_by_time_declaration_and_name():
    df = pd.DataFrame({"lactate": [1.0, 2.0, 3.0, 1.5], "length_of_stay": [3, 4, 5, 6], "y": [0, 1, 0, 1]})
    times = pd.DataFrame({"lactate": [2.0, 30.0, 4.0, 1.0]})  # hours since admission
    rep = check_table(df, label="y", feature_times=times, outcome_time=[24, 24, 24, 24], task="none")
    err = [f for f in rep.errors if f.check == "post_outcome"]
    assert len(err) == 1 and "'lactate' is recorded at or after the outcome time in 1 row(s)" in err[0].message
    assert "row 1" in err[0].where
    warn = [f for f in rep.warnings if f.check == "post_outcome"]
    assert [f.where for f in warn] == ["table: column 'length_of_stay'"]


def test_missingness_and_class_balance_thresholds(wdbc):
    df = wdbc.copy()
    df.loc[df.index[:400], "mean texture"] = np.nan  # 70% missing
    keep = (df["malignant"] == 0) | (df.index % 20 == 0)  # ~3% malignant
    rep = check_table(df[keep], label="malignant", id_column="patient_id")
    assert any(f.check == "missingness" and "'mean texture'" in f.message for f in rep.warnings)
    assert any(f.check == "class_balance" and f.severity == "warning" for f in rep.findings)
    with pytest.raises(ValidationError, match="warning"):
        gate(rep)
    gate(rep, allow_warnings=True)


def test_check_file_names_csv_lines(tmp_path, wdbc):
    df = wdbc.head(50).copy()
    df.loc[7, "mean smoothness"] = 5.0  # line 9 of the file (header is line 1)
    df["split"] = ["train"] * 35 + ["test"] * 15
    p = tmp_path / "wdbc.csv"
    df.to_csv(p, index=False)
    rep = check_file(p, schema=SCHEMAS.get("wdbc"), split_column="split")
    err = [f for f in rep.errors if f.check == "schema"]
    assert err[0].where == "wdbc.csv: column 'mean smoothness', row 9"
    assert "shift" in rep.checks_run


def test_bad_arguments_are_config_errors(wdbc):
    with pytest.raises(ConfigError, match="label column 'nope'"):
        check_table(wdbc, label="nope")
    with pytest.raises(ConfigError, match="split has 3 entries"):
        check_table(wdbc, split=["train", "test", "train"])


def test_html_and_json_round_trip(tmp_path, wdbc):
    rep = check_xy(wdbc.drop(columns=["malignant", "patient_id"]), wdbc["malignant"], wdbc["patient_id"])
    html = rep.write_html(tmp_path / "q.html").read_text()
    assert "Data quality" in html and "Missingness per variable" in html and "PASS" in html
    back = type(rep).read_json(rep.write_json(tmp_path / "q.json"))
    assert back.findings == rep.sorted_findings() and back.n_rows == 569


@pytest.mark.parametrize("name,expect", [("whas500", "los"), ("actg175", "cd420")])
def test_registered_datasets_post_outcome_columns_are_flagged(name, expect):
    rep = check_dataset(name)
    assert any(f.check == "post_outcome" and f"'{expect}'" in f.message for f in rep.findings)


def test_br35h_byte_identical_and_near_identical_images():
    ds = load_dataset("br35h")
    names = [p.name for p in ds.files]
    # A known byte-identical pair, a known near-identical pair (same slice re-encoded) and 20 other images.
    pick = [names.index(n) for n in ("no355.jpg", "no532.jpg", "No12.jpg", "no1090.jpg")] + list(range(1500, 1520))
    labels = np.asarray(ds.y)[pick]
    rep = check_images([ds.files[i] for i in pick], labels, "br35h-subset")
    assert rep.tables["duplicates"][0]["extra copies"] == 1
    near = rep.tables["near_duplicates"][0]
    assert near["pairs"] >= 2 and near["pairs with different labels"] == 0
    assert any("no355.jpg" in f.where for f in rep.warnings)
    assert any("No12.jpg~no1090.jpg" in f.where for f in rep.warnings)


def test_physionet_outcome_file_columns_are_post_outcome(shared_data):
    rep = check_dataset("physionet2012-a", data_dir=shared_data, limit=300)
    declared = {f.where.split("'")[1] for f in rep.errors if f.check == "post_outcome"}
    assert declared == {"SAPS-I", "SOFA", "Length_of_stay", "Survival"}
    # Raw measurements outside physical ranges (e.g. invasive pressures of 0) are schema errors before cleaning.
    assert any(f.check == "schema" and "DiasABP" in f.message for f in rep.errors)
