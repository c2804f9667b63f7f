"""Standardisation cases, MoleculeNet loading, CSV bad inputs and the scaffold split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medkit.core.errors import DataError, SchemaError, ValidationError
from medkit.data.scaffold import bemis_murcko_scaffold, check_no_scaffold_overlap, random_split, scaffold_split
from medkit.drug.chem import standardise_smiles


def test_standardise_cases() -> None:
    inputs = ["OCC", "C[NH3+].[Cl-]", "CC(=O)[O-].[Na+]", "c1ccccc1.O", "", "C1CC", "CN(C)(C)(C)C", None,
              "C" * 500, 3.0, "  CCO  "]
    r = standardise_smiles(inputs)
    assert r.smiles[:4] == ["CCO", "CN", "CC(=O)O", "c1ccccc1"]  # canonical, salt stripped, neutralised
    assert r.smiles[10] == "CCO"
    reasons = {row.index: row.reason for row in r.invalid}
    assert sorted(reasons) == [4, 5, 6, 7, 8, 9]  # every bad row reported with its index, none dropped silently
    assert reasons[4].startswith("empty")
    assert reasons[5].startswith("unparseable")
    assert "valence" in reasons[6]
    assert reasons[8].startswith("too large: 500 heavy atoms")
    assert reasons[9].startswith("not a string")
    assert len(r.smiles) == len(inputs)
    assert r.corrections["salt_stripped"] == 3 and r.corrections["neutralised"] == 2
    assert list(r.valid_index) == [0, 1, 2, 3, 10]


def test_quaternary_nitrogen_stays_charged() -> None:
    r = standardise_smiles(["C[N+](C)(C)C.[Cl-]"])
    assert r.smiles == ["C[N+](C)(C)C"]


def test_esol_column_renamed(shared_data: Path) -> None:
    from medkit.data import load_dataset

    ds = load_dataset("esol", data_dir=shared_data)
    assert ds.extra["tasks"] == ["log_solubility"]  # the file calls it `logp`; it holds log-solubility
    assert ds.n_rows == 1128 and ds.y.shape == (1128, 1)
    assert ds.y.min() == pytest.approx(-11.6) and ds.y.max() == pytest.approx(1.58)
    assert ds.checksums["delaney.csv"] == ds.extra["expected_sha256"]


def test_tox21_missing_labels(shared_data: Path) -> None:
    from medkit.data import load_dataset

    ds = load_dataset("tox21", data_dir=shared_data)
    assert ds.y.shape == (7831, 12)
    assert int(np.isnan(ds.y).sum()) == 16026  # SOURCE.md: 16,026 empty label cells


def test_csv_bad_inputs(tmp_path: Path) -> None:
    from medkit.data.drug_sets import read_molecule_table

    p = tmp_path / "a.csv"
    pd.DataFrame({"structure": ["CCO"], "y": [1.0]}).to_csv(p, index=False)
    with pytest.raises(SchemaError, match="no SMILES column") as e:
        read_molecule_table(p)
    assert "--smiles-column" in str(e.value)
    assert read_molecule_table(p, smiles_column="structure").smiles == ["CCO"]  # named differently: say so
    pd.DataFrame({"SMILES": ["CCO", "CC"], "y": [1.0, 2.0]}).to_csv(p, index=False)
    assert read_molecule_table(p).smiles_column == "SMILES"  # case-insensitive match
    pd.DataFrame({"smiles": ["CCO", "CC"], "y": ["1.0", "active"]}).to_csv(p, index=False)
    with pytest.raises(SchemaError, match="non-numeric") as e:
        read_molecule_table(p)
    assert "row 3" in str(e.value)
    pd.DataFrame({"smiles": ["CCO", "CC"], "a": [1.0, 0.0], "b": [np.nan, np.nan]}).to_csv(p, index=False)
    with pytest.raises(DataError, match="no labels"):
        read_molecule_table(p)


def test_scaffold_split_no_overlap(shared_data: Path) -> None:
    from medkit.data import load_dataset

    smi = list(load_dataset("esol", data_dir=shared_data).X)
    from medkit.drug.chem import standardise_smiles as std

    smi = std(smi).valid_smiles
    sp = scaffold_split(smi, seed=1)
    assert sp.val is not None
    assert len(sp.train) + len(sp.val) + len(sp.test) == len(smi)
    assert not (set(sp.train) & set(sp.test)) and not (set(sp.train) & set(sp.val))
    tr = {bemis_murcko_scaffold(smi[i]) for i in sp.train}
    te = {bemis_murcko_scaffold(smi[i]) for i in sp.test}
    va = {bemis_murcko_scaffold(smi[i]) for i in sp.val}
    assert not (tr & te) and not (tr & va) and not (va & te)
    check_no_scaffold_overlap(smi, sp)
    assert 0.75 < len(sp.train) / len(smi) <= 0.8
    assert not np.array_equal(scaffold_split(smi, seed=2).test, sp.test)  # the seed matters
    rs = random_split(len(smi), seed=0)
    with pytest.raises(ValidationError):
        check_no_scaffold_overlap(smi, rs)  # a random split does leak scaffolds


def test_scaffold_invalid_smiles() -> None:
    with pytest.raises(DataError, match="invalid SMILES"):
        scaffold_split(["CCO", "C1CC"])


def test_moses_sample_is_random_seeded_and_in_file_order() -> None:
    from medkit.core.errors import DataError
    from medkit.drug.metrics import moses_sample, random_rows

    rows = [f"C{'C' * i}O" for i in range(100)]
    a, b = random_rows(rows, 10, seed=3), random_rows(rows, 10, seed=3)
    assert a == b and len(set(a)) == 10 and a != rows[:10]
    assert [rows.index(x) for x in a] == sorted(rows.index(x) for x in a)  # original order kept
    assert random_rows(rows, None) == rows and random_rows(rows, 500) == rows
    with pytest.raises(DataError):
        random_rows(rows, 0)
    test = moses_sample("test", 50, seed=0)
    assert len(test) == 50 and test[:5] != moses_sample("test", None)[:5]
