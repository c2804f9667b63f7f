"""Cleaning rules on crafted rows: each rule fires where it should, is counted, and strict mode raises."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medkit.clinical.cleaning import clean_records, cleaning_table
from medkit.core.errors import DataError
from medkit.data.physionet import PhysioNetRecords


def _recs(rows, static=None):
    long = pd.DataFrame(rows, columns=["record_id", "minutes", "parameter", "value"])
    st = pd.DataFrame(static or [{"record_id": 1, "Age": 60.0, "Gender": 1.0, "Height": 170.0, "ICUType": 3.0,
                                  "Weight": 80.0}]).set_index("record_id")
    return PhysioNetRecords(long, st, None)


def _count(report, rule, param):
    t = cleaning_table(report)
    sel = t[(t.rule == rule) & (t.parameter == param)]
    return int(sel["n"].sum())


def test_each_rule_fires_and_is_counted():
    rows = [(1, 10, "Temp", 98.6), (1, 20, "Temp", -17.8), (1, 30, "Temp", 37.0),  # °F, 0 °F probe, fine
            (1, 10, "HR", 0.0), (1, 20, "HR", 80.0), (1, 30, "HR", 400.0),          # zero, fine, impossible
            (1, 10, "pH", 735.0), (1, 20, "pH", 7.4), (1, 30, "pH", 95.0),          # x100, fine, garbage
            (1, 10, "FiO2", 40.0), (1, 20, "FiO2", 0.5),                            # percent, fraction
            (1, 10, "Weight", 0.0), (1, 10, "Urine", 0.0)]                          # placeholder, anuria is real
    static = [{"record_id": 1, "Age": 60.0, "Gender": 1.0, "Height": 1.8, "ICUType": 3.0, "Weight": 80.0}]
    out, rep = clean_records(_recs(rows, static))
    v = out.long.set_index(["minutes", "parameter"])["value"]
    assert v[(10, "Temp")] == pytest.approx(37.0)  # (98.6 - 32) * 5/9
    assert (20, "Temp") not in v.index and (10, "HR") not in v.index and (30, "HR") not in v.index
    assert v[(10, "pH")] == pytest.approx(7.35) and (30, "pH") not in v.index
    assert v[(10, "FiO2")] == pytest.approx(0.40) and v[(20, "FiO2")] == 0.5
    assert (10, "Weight") not in v.index and v[(10, "Urine")] == 0.0
    assert out.static.loc[1, "Height"] == pytest.approx(180.0)
    assert _count(rep, "temp_fahrenheit_to_celsius", "Temp") == 1
    assert _count(rep, "temp_below_25C_removed", "Temp") == 1
    assert _count(rep, "pressure_or_rate_zero_removed", "HR") == 1
    assert _count(rep, "outside_physical_range_removed", "HR") == 1
    assert _count(rep, "ph_hundredfold_rescaled", "pH") == 1
    assert _count(rep, "outside_physical_range_removed", "pH") == 1
    assert _count(rep, "fio2_percent_to_fraction", "FiO2") == 1
    assert _count(rep, "weight_zero_removed", "Weight") == 1
    assert _count(rep, "height_metres_to_cm", "static:Height") == 1
    # every change is accounted for: removed rows + converted values = n_changed
    n_removed = len(rows) - len(out.long)
    n_converted = sum(c["n"] for c in rep.counts if c["action"] == "convert")
    assert rep.n_changed == n_removed + n_converted


def test_clean_values_untouched_and_input_not_modified():
    rows = [(1, 5, "HR", 72.0), (1, 65, "MAP", 80.0), (1, 70, "Glucose", 120.0)]
    recs = _recs(rows)
    out, rep = clean_records(recs)
    assert rep.n_changed == 0 and rep.counts == []
    pd.testing.assert_frame_equal(out.long, recs.long)
    bad = _recs([(1, 5, "HR", 0.0)])
    clean_records(bad)
    assert bad.long["value"].tolist() == [0.0]


def test_strict_mode_raises_naming_record_and_time():
    with pytest.raises(DataError, match="matches cleaning rule 'outside_physical_range_removed'") as exc:
        clean_records(_recs([(1, 125, "HR", 400.0)]), strict=True)
    assert exc.value.where == "record 1, 02:05, HR"
    static = [{"record_id": 7, "Age": 300.0, "Gender": 1.0, "Height": 170.0, "ICUType": 3.0, "Weight": 80.0}]
    with pytest.raises(DataError, match="descriptor Age"):
        clean_records(_recs([(7, 5, "HR", 70.0)], static), strict=True)


def test_real_set_a_subset_counts(shared_data):
    from medkit.data import load_dataset

    recs = load_dataset("physionet2012-a", data_dir=shared_data, limit=400).data
    out, rep = clean_records(recs)
    assert len(recs.long) - len(out.long) == sum(c["n"] for c in rep.counts if c["action"] == "remove"
                                                 and not str(c["parameter"]).startswith("static:"))
    hr = out.long[out.long.parameter == "HR"]["value"]
    assert hr.gt(0).all() and np.isfinite(hr).all()
