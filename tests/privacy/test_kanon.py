"""k-anonymity / l-diversity on a crafted table (hand-computed classes) and on PhysioNet 2012 descriptors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from medkit.core.errors import ConfigError, DataError, PrivacyError
from medkit.privacy.kanon import (
    KAnonymizer,
    categorical_levels,
    export_table,
    kanon_report,
    numeric_levels,
    physionet_hierarchies,
)


def _table() -> pd.DataFrame:
    # classes on (age, sex): (31,F)x1 (34,F)x1 (38,F)x1 (52,M)x2 (55,M)x1 (57,M)x1 (91,F)x1 (95,F)x1
    return pd.DataFrame({"age": [31, 34, 38, 52, 52, 55, 57, 91, 95],
                         "sex": ["F", "F", "F", "M", "M", "M", "M", "F", "F"],
                         "death": [0, 1, 0, 0, 1, 0, 1, 1, 0]})


def test_report_on_raw_table() -> None:
    r = kanon_report(_table(), ["age", "sex"], "death")
    assert r.k == 1 and r.n_classes == 8 and r.class_size_histogram == {1: 7, 2: 1} and r.l == 1


def test_generalisation_reaches_k_with_least_loss() -> None:
    hier = {"age": numeric_levels([10, 20], top_code=90), "sex": categorical_levels()}
    res = KAnonymizer(hier, k=2, max_suppression=0.0).fit_transform(_table())
    # age in 10-year bands: 30-40 x3, 50-60 x4, >=90 x2 -> k=2 without touching sex
    assert res.report.levels == {"age": 1, "sex": 0}
    assert res.report.k == 2 and res.report.n_suppressed == 0
    assert sorted(res.table["age"].unique()) == ["30-40", "50-60", ">=90"]
    res3 = KAnonymizer(hier, k=3, max_suppression=0.25).fit_transform(_table())
    # k=3: dropping the two >=90 rows (22%) is allowed and beats coarser bands
    assert res3.report.k >= 3 and res3.report.n_suppressed == 2 and res3.report.levels["age"] == 1


def test_l_diversity_constraint() -> None:
    hier = {"age": numeric_levels([10, 20], top_code=90), "sex": categorical_levels()}
    res = KAnonymizer(hier, k=2, l=2, sensitive="death", max_suppression=0.0).fit_transform(_table())
    assert res.report.l is not None and res.report.l >= 2
    assert res.table.groupby(["age", "sex"])["death"].nunique().min() >= 2


def test_export_refused_below_k(tmp_path: Path) -> None:
    out = tmp_path / "cohort.csv"
    with pytest.raises(PrivacyError, match="only 1-anonymous, 5 is required"):
        export_table(_table(), out, ["age", "sex"], k=5)
    assert not out.exists()
    rep = export_table(_table().assign(age="*"), out, ["age", "sex"], k=4)
    assert out.exists() and rep.k == 4


def test_impossible_and_bad_requests() -> None:
    hier = {"age": numeric_levels([10]), "sex": categorical_levels()}
    with pytest.raises(PrivacyError, match="no generalisation reaches k=20"):
        KAnonymizer(hier, k=20, max_suppression=0.0).fit_transform(_table())
    with pytest.raises(ConfigError):
        KAnonymizer(hier, k=1)
    with pytest.raises(DataError, match="not in the table"):
        kanon_report(_table(), ["zip"])


def test_physionet_descriptors(shared_data: Path) -> None:
    from medkit.data.registry import load_dataset

    ds = load_dataset("physionet2012-a", data_dir=shared_data, limit=400)
    table = ds.data.static.reset_index(drop=True).assign(death=ds.y)
    qis = ["Age", "Gender", "Height", "ICUType"]
    assert kanon_report(table, qis).k == 1  # raw descriptors single patients out
    res = KAnonymizer(physionet_hierarchies(), k=5, l=2, sensitive="death").fit_transform(table)
    assert res.report.k >= 5 and res.report.l >= 2 and res.report.n_suppressed <= 0.02 * len(table)
    assert kanon_report(res.table, qis, "death").k == res.report.k
