"""Engineered per-record features for the tabular baselines (logistic regression, gradient boosting, MLP).

``basic``: per-variable min/max/mean/first/last/count (:func:`medkit.data.physionet.summary_features`)
plus the descriptors — the issue's reference feature set.
``extended``: ``basic`` plus per-variable standard deviation, mean over the last 12 h and
the first 12 h, a least-squares slope (units per hour), hours from the last
measurement to 48 h, and the admission body-mass index. Trends and recency carry
information that whole-stay summaries hide.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from medkit.data.physionet import PARAMETERS, PhysioNetRecords, summary_features

FeatureSet = Literal["basic", "extended"]
_HORIZON_MIN = 48 * 60


def _per_var(df: pd.DataFrame, values: pd.Series, name: str, ids: pd.Index) -> pd.DataFrame:
    w = values.unstack("parameter").reindex(index=ids, columns=list(PARAMETERS))
    w.columns = [f"{p}_{name}" for p in w.columns]
    return w


def physionet_features(recs: PhysioNetRecords, kind: FeatureSet = "extended") -> pd.DataFrame:
    """One row per record (index ``record_id``, order of ``recs.static``).

    Columns are NaN where a variable was never measured; counts are 0 then.
    """
    ids = recs.static.index
    base = summary_features(recs.long, recs.static, record_ids=ids)
    if kind == "basic":
        return base
    L = recs.long
    g = L.groupby(["record_id", "parameter"])
    parts = [base, _per_var(L, g["value"].std(), "std", ids)]
    late = L[L["minutes"] >= _HORIZON_MIN - 12 * 60].groupby(["record_id", "parameter"])["value"].mean()
    early = L[L["minutes"] < 12 * 60].groupby(["record_id", "parameter"])["value"].mean()
    parts += [_per_var(L, late, "mean_last12h", ids), _per_var(L, early, "mean_first12h", ids)]
    # least-squares slope per hour: cov(t, v) / var(t)
    th = L["minutes"] / 60.0
    tmp = L.assign(t=th, tv=th * L["value"], tt=th * th)
    s = tmp.groupby(["record_id", "parameter"])[["t", "value", "tv", "tt"]].mean()
    var_t = s["tt"] - s["t"] ** 2
    slope = ((s["tv"] - s["t"] * s["value"]) / var_t).where(var_t > 1e-9)
    parts.append(_per_var(L, slope, "slope", ids))
    since = (_HORIZON_MIN - g["minutes"].max()) / 60.0
    parts.append(_per_var(L, since, "hours_since_last", ids))
    out = pd.concat(parts, axis=1)
    h = recs.static["Height"].reindex(ids) / 100.0
    out["static_BMI"] = recs.static["Weight"].reindex(ids) / (h * h)
    return out.astype(np.float32)
