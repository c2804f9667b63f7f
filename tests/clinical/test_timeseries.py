"""Hourly grid: binning, masks, time since last observation, train-only normalisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medkit.clinical.timeseries import SeriesScaler, to_grid
from medkit.data.physionet import PARAMETERS


def _data():
    long = pd.DataFrame([(1, 10, "HR", 80.0), (1, 50, "HR", 100.0), (1, 130, "HR", 70.0), (1, 2880, "HR", 60.0),
                         (2, 0, "Temp", 37.0)], columns=["record_id", "minutes", "parameter", "value"])
    static = pd.DataFrame({"Age": [50.0, 70.0], "Gender": [1.0, np.nan], "Height": [np.nan, 160.0],
                           "ICUType": [2.0, 4.0], "Weight": [80.0, 60.0]}, index=pd.Index([1, 2], name="record_id"))
    return long, static


def test_grid_values_mask_delta_last():
    long, static = _data()
    g = to_grid(long, static, [1, 2])
    hr = PARAMETERS.index("HR")
    assert g.values.shape == (2, 48, len(PARAMETERS))
    assert g.values[0, 0, hr] == 90.0  # two values in hour 0 are averaged
    assert g.mask[0, :3, hr].tolist() == [1, 0, 1] and g.values[0, 47, hr] == 60.0  # 48:00 goes in the last bin
    assert np.isnan(g.values[0, 1, hr]) and g.last[0, 1, hr] == 90.0  # carried forward
    assert g.delta[0, :4, hr].tolist() == [0.0, 1.0, 2.0, 1.0]  # hours since last observed bin
    assert g.mask[1].sum() == 1 and np.isnan(g.last[1, 5, hr])
    assert g.static_names[:4] == ("Age", "Gender", "Height", "Weight") and g.static[0, 5] == 1.0  # ICU type 2


def test_scaler_uses_training_statistics_only():
    long, static = _data()
    g = to_grid(long, static, [1, 2])
    sc = SeriesScaler().fit(g.take([0]))
    hr = PARAMETERS.index("HR")
    obs = g.values[0][g.mask[0, :, hr] == 1, hr]
    assert sc.mean_[hr] == pytest.approx(obs.mean())
    z = sc.transform(g.take([1]))
    assert np.isfinite(z.values).all() and (z.values[z.mask == 0] == 0).all()
    # a variable unseen in training gets mean 0 / std 1, so the test value passes through unchanged
    temp = PARAMETERS.index("Temp")
    assert sc.mean_[temp] == 0 and z.values[0, 0, temp] == pytest.approx(37.0)
    again = SeriesScaler.from_state(sc.state()).transform(g.take([1]))
    np.testing.assert_allclose(again.values, z.values)
