"""Input checks shared by the treatment estimators: every bad input becomes a medkit error naming what/where/fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from medkit.core.errors import NotFittedError, SchemaError


def check_pairs(X: Any, y: Any | None = None, *, where: str = "X") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate (entity, treatment) index pairs and optional responses.

    Parameters
    ----------
    X
        (n, 2) integer array-like: column 0 = entity index (patient / cell line), column 1 = treatment index.
    y
        (n,) float responses or ``None``.

    Returns
    -------
    rows, cols, values
        Integer arrays (n,) and float array (n,) or ``None``.
    """
    arr = np.asarray(X)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise SchemaError(f"expected an (n, 2) array of (entity, treatment) indices, got shape {arr.shape}",
                          where=where, fix="pass np.column_stack([entity_idx, treatment_idx])")
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            bad = _first_bad_index(arr)
            raise SchemaError(f"entity/treatment indices must be integers, found {arr[bad]!r}",
                              where=f"{where} row {bad[0]}, column {bad[1]}",
                              fix="encode entities and treatments as 0-based integer codes (e.g. pd.factorize)")
    if arr.size and arr.min() < 0:
        r = int(np.argwhere(arr < 0)[0][0])
        raise SchemaError("entity/treatment indices must be >= 0", where=f"{where} row {r}",
                          fix="use 0-based integer codes")
    rows, cols = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64)
    vals = None
    if y is not None:
        vals = check_numeric(y, where="y")
        if len(vals) != len(rows):
            raise SchemaError(f"X has {len(rows)} pairs but y has {len(vals)} responses", where="y",
                              fix="pass one response per (entity, treatment) pair")
    return rows, cols, vals


def _first_bad_index(arr: np.ndarray) -> tuple[int, int]:
    for idx in np.ndindex(arr.shape):
        v = arr[idx]
        try:
            f = float(v)
        except (TypeError, ValueError):
            return (int(idx[0]), int(idx[1]))
        if not np.isfinite(f) or f != round(f):
            return (int(idx[0]), int(idx[1]))
    return (0, 0)


def check_numeric(y: Any, *, where: str) -> np.ndarray:
    """(n,) finite float array, or a SchemaError naming the first bad row."""
    s = pd.Series(np.asarray(y).ravel() if not isinstance(y, pd.Series) else y.to_numpy())
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() | ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(f"responses must be finite numbers, found {s.iloc[i]!r}", where=f"{where} row {i}",
                          fix="drop or impute missing responses before fitting")
    return num.to_numpy(dtype=np.float64)


def check_arms(a: Any, *, where: str = "arm", known: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Integer arm codes; strings or arms never seen in training raise :class:`SchemaError`."""
    s = pd.Series(np.asarray(a).ravel())
    if s.dtype == object or s.dtype.kind in "USO" or pd.api.types.is_string_dtype(s):
        num = pd.to_numeric(s, errors="coerce")
        if num.isna().any():
            i = int(np.flatnonzero(num.isna().to_numpy())[0])
            raise SchemaError(f"treatment column holds a non-numeric label {s.iloc[i]!r}", where=f"{where} row {i}",
                              fix="encode arms as integer codes 0..K-1 (e.g. ACTG 175: 0 ZDV, 1 ZDV+ddI, 2 ZDV+zal, "
                                  "3 ddI) and keep the name mapping in arm_names")
        s = num
    vals = s.to_numpy()
    if vals.dtype.kind == "f":
        if not np.all(np.isfinite(vals)) or not np.all(vals == np.round(vals)):
            i = int(np.flatnonzero(~np.isfinite(vals) | (vals != np.round(vals)))[0])
            raise SchemaError(f"arm code {vals[i]!r} is not an integer", where=f"{where} row {i}",
                              fix="encode arms as integer codes 0..K-1")
    out = vals.astype(np.int64)
    if known is not None:
        unseen = ~np.isin(out, np.asarray(known))
        if unseen.any():
            i = int(np.flatnonzero(unseen)[0])
            raise SchemaError(f"arm {out[i]} was never seen in training (known arms: {sorted(int(k) for k in known)})",
                              where=f"{where} row {i}", fix="use one of the trained arms or retrain with this arm")
    return out


def check_covariates(X: Any, features: Sequence[str] | None, *, where: str = "X") -> pd.DataFrame:
    """Covariate table with exactly ``features`` (all present, numeric, finite); errors name row and column."""
    df = X.copy() if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=float),
                                                                     columns=list(features) if features else None)
    if features is not None:
        missing = [c for c in features if c not in df.columns]
        if missing:
            raise SchemaError(f"missing covariate(s) the model needs: {', '.join(map(str, missing))}",
                              where=f"{where} column '{missing[0]}'",
                              fix=f"provide every covariate the model was trained on: {', '.join(map(str, features))}")
        df = df[list(features)]
    for c in df.columns:
        num = pd.to_numeric(df[c], errors="coerce")
        bad = num.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SchemaError(f"covariate '{c}' is missing or not numeric ({df[c].iloc[i]!r})",
                              where=f"{where} row {i}, column '{c}'",
                              fix="fill the value (the model was trained on complete baseline covariates)")
        df[c] = num.astype(float)
    return df


def check_fitted(est: Any, attr: str) -> None:
    if not hasattr(est, attr):
        raise NotFittedError(f"{type(est).__name__} is not fitted yet", where=type(est).__name__,
                             fix="call fit(...) first")
