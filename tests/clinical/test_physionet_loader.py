"""PhysioNet 2012 reader: counts on the real files and every malformed-record error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medkit.core.errors import DataError
from medkit.data.physionet import PARAMETERS, read_record_text, read_records_dir, summary_features

GOOD = """Time,Parameter,Value
00:00,RecordID,1001
00:00,Age,54
00:00,Gender,0
00:00,HR,80
00:00,Height,-1
00:00,ICUType,4
00:00,Weight,-1
00:07,HR,73
00:07,Weight,70
01:37,HR,60
48:00,Temp,36.5
"""


def test_real_set_a_counts(shared_data):
    from medkit.data import load_dataset

    ds = load_dataset("physionet2012-a", data_dir=shared_data)
    recs = ds.data
    # SOURCE.md: 4,000 records, 554 in-hospital deaths, 1,761,980 lines incl. 4,000 headers and 6 descriptor rows each
    assert len(recs.static) == 4000 and int(recs.y.sum()) == 554
    assert len(recs.long) == 1_761_980 - 4000 - 6 * 4000
    assert set(recs.long["parameter"]) == set(PARAMETERS) and len(PARAMETERS) == 37
    assert recs.n_missing_descriptors["Height"] == 1894  # counted from the raw files with awk
    assert recs.long["minutes"].between(0, 48 * 60).all()
    assert ds.n_patients == 4000 and ds.info.task == "sequence-binary"


def test_real_set_b_subset(shared_data):
    from medkit.data import load_dataset

    ds = load_dataset("physionet2012-b", data_dir=shared_data, limit=50)
    assert len(ds.data.static) == 50 and ds.data.record_ids.min() >= 142675


def test_parse_descriptors_and_missing_code():
    r = read_record_text(GOOD)
    assert list(r.static.index) == [1001]
    assert r.static.loc[1001, "Age"] == 54 and np.isnan(r.static.loc[1001, "Height"])
    assert np.isnan(r.static.loc[1001, "Weight"])  # -1 at 00:00 = missing
    assert r.n_missing_descriptors["Height"] == 1
    # the later Weight row and the HR at 00:00 are measurements
    assert r.long["parameter"].tolist().count("Weight") == 1
    assert r.long[r.long.parameter == "HR"]["minutes"].tolist() == [0, 7, 97]
    assert r.long["minutes"].max() == 48 * 60


@pytest.mark.parametrize("line, message", [
    ("00:09,HeartRate,70", "unknown parameter 'HeartRate'"),
    ("7h35,HR,70", "unparsable time"),
    ("00:75,HR,70", "unparsable time"),
    ("-00:05,HR,70", "negative time"),
    ("00:09,HR,seventy", "non-numeric value"),
    ("00:09,HR", "3 comma-separated"),
    ("05:00,Age,60", "descriptor Age at 05:00"),
])
def test_bad_lines_name_file_and_line(line, message):
    text = GOOD + line + "\n"
    with pytest.raises(DataError, match=message) as exc:
        read_record_text(text, source="rec.txt")
    assert exc.value.where == f"rec.txt:{len(GOOD.splitlines()) + 1}"


def test_record_id_must_match_file_name(tmp_path):
    (tmp_path / "1002.txt").write_text(GOOD)
    with pytest.raises(DataError, match="differs from the file name"):
        read_records_dir(tmp_path)


def test_bad_header_and_empty_dir(tmp_path):
    with pytest.raises(DataError, match="header"):
        read_record_text("a,b,c\n")
    with pytest.raises(DataError, match="no record files"):
        read_records_dir(tmp_path)


def test_summary_features_against_pandas():
    long = pd.DataFrame({"record_id": [1, 1, 1, 2], "minutes": [30, 5, 60, 10],
                         "parameter": ["HR", "HR", "HR", "Temp"], "value": [90.0, 70.0, 80.0, 37.0]})
    f = summary_features(long, record_ids=[1, 2, 3])
    assert f.shape == (3, 37 * 6)
    assert f.loc[1, ["HR_min", "HR_max", "HR_mean", "HR_first", "HR_last", "HR_count"]].tolist() == [
        70, 90, 80, 70, 80, 3]  # first/last follow time, not file order
    assert f.loc[2, "HR_count"] == 0 and np.isnan(f.loc[2, "HR_mean"]) and f.loc[3, "Temp_count"] == 0
