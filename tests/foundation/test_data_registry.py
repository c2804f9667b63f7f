"""The dataset registry on the real pip-shipped datasets, and data-dir resolution."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from medkit.core.errors import ConfigError, DataError
from medkit.data import load_dataset
from medkit.data.paths import require_file, resolve_data_dir
from medkit.data.registry import all_datasets

# Counts from the source publications / package docs.
EXPECTED = {"wdbc": 569, "veteran": 137, "whas500": 500, "gbsg2": 686, "actg320": 1151, "actg175": 2139,
            "br35h": 3000}


@pytest.mark.parametrize("name,n", sorted(EXPECTED.items()))
def test_embedded_counts_and_provenance(name: str, n: int) -> None:
    ds = load_dataset(name)
    assert ds.n_rows == n
    prov = ds.provenance()
    assert prov["licence"] and prov["citation"] and prov["source"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in list(prov["sha256"].values())[:5])


def test_wdbc_label_convention() -> None:
    ds = load_dataset("wdbc")
    assert int(ds.y.sum()) == 212  # malignant = 1
    assert ds.X.shape == (569, 30)


def test_every_entry_has_provenance() -> None:
    for info in all_datasets():
        assert info.licence and info.citation and info.source and info.description, info.name


def test_unknown_dataset_lists_known() -> None:
    with pytest.raises(ConfigError, match="wdbc"):
        load_dataset("no-such-set")


def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    monkeypatch.setenv("MEDKIT_DATA", str(b))
    assert resolve_data_dir(a) == a
    assert resolve_data_dir() == b
    monkeypatch.delenv("MEDKIT_DATA")
    assert resolve_data_dir() == Path("~/.medkit/data").expanduser()


def test_missing_data_dir_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="does not exist"):
        resolve_data_dir(tmp_path / "missing")
    monkeypatch.setenv("MEDKIT_DATA", str(tmp_path / "gone"))
    with pytest.raises(DataError, match="MEDKIT_DATA"):
        resolve_data_dir()
    with pytest.raises(DataError) as e:
        require_file("physionet2012/set-a.tar.gz", "physionet2012-a", tmp_path)
    assert "physionet2012/set-a.tar.gz" in str(e.value) and str(tmp_path) in str(e.value)


def test_moses_reads_real_smiles() -> None:
    ds = load_dataset("moses", split="test", n=50)
    assert len(ds.data) == 50 and all(isinstance(s, str) and s for s in ds.data)
    assert np.all([len(s) > 3 for s in ds.data])
