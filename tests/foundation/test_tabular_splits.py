"""Bad tabular input gets a clear error; splits never leak patients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medkit.core.errors import DataError, SchemaError, ValidationError
from medkit.data import load_dataset
from medkit.data.splits import check_no_leakage, group_split, kfold, stratified_split
from medkit.data.tabular import read_csv, validate_table


@pytest.fixture()
def wdbc_csv(tmp_path: Path) -> Path:
    df = load_dataset("wdbc").data.head(40)
    p = tmp_path / "wdbc.csv"
    df.to_csv(p, index=False)
    return p


def test_missing_label_column(wdbc_csv: Path) -> None:
    df = read_csv(wdbc_csv)
    with pytest.raises(SchemaError, match="label column 'outcome' is missing"):
        validate_table(df, label="outcome", source=str(wdbc_csv))


def test_garbage_in_numeric_column_names_row_and_column(wdbc_csv: Path) -> None:
    df = read_csv(wdbc_csv)
    df["mean radius"] = df["mean radius"].astype(object)
    df.loc[6, "mean radius"] = "12,3 mm"
    with pytest.raises(SchemaError) as e:
        validate_table(df, label="malignant", id_column="patient_id", source="wdbc.csv")
    assert "row 8" in str(e.value) and "mean radius" in str(e.value)  # header is row 1


def test_all_nan_column(wdbc_csv: Path) -> None:
    df = read_csv(wdbc_csv)
    df["mean area"] = np.nan
    with pytest.raises(SchemaError, match="entirely empty"):
        validate_table(df, label="malignant", source="x")


def test_non_binary_label(wdbc_csv: Path) -> None:
    df = read_csv(wdbc_csv)
    df.loc[0, "malignant"] = 2
    with pytest.raises(SchemaError, match="0/1"):
        validate_table(df, label="malignant", binary_label=True, source="x")


def test_unparsable_csv(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_bytes(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(DataError, match="cannot parse"):
        read_csv(p)
    with pytest.raises(DataError, match="not found"):
        read_csv(tmp_path / "none.csv")


def test_valid_table_converts_to_float(wdbc_csv: Path) -> None:
    out = validate_table(read_csv(wdbc_csv), label="malignant", id_column="patient_id", source="x")
    assert out["mean radius"].dtype == float


def test_duplicate_patient_ids_across_splits_refused() -> None:
    with pytest.raises(ValidationError, match="both train and test"):
        check_no_leakage(np.array([1, 2, 3]), np.array([3, 4]))


def test_group_split_keeps_patients_together() -> None:
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 60, 400)
    y = rng.integers(0, 2, 400)
    s = group_split(groups, test_size=0.25, seed=1)
    assert not set(groups[s.train]) & set(groups[s.test])
    assert len(s.train) + len(s.test) == 400
    for f in kfold(400, 5, seed=0, y=y, groups=groups):
        assert not set(groups[f.train]) & set(groups[f.test])


def test_stratified_split_and_kfold_fixed_seed() -> None:
    y = load_dataset("wdbc").y.to_numpy()
    a = stratified_split(y, 0.2, 0.1, seed=0)
    b = stratified_split(y, 0.2, 0.1, seed=0)
    assert np.array_equal(a.test, b.test) and a.val is not None
    assert abs(y[a.test].mean() - y.mean()) < 0.02
    folds = list(kfold(len(y), 5, seed=0, y=y))
    assert sorted(np.concatenate([f.test for f in folds]).tolist()) == list(range(len(y)))
    assert pd.Series([len(f.test) for f in folds]).between(113, 115).all()
