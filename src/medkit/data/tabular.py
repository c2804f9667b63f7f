"""Checked CSV reading for tabular data: every problem names file, row and column."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medkit.core.errors import DataError, SchemaError


def read_csv(path: str | Path, **kwargs: object) -> pd.DataFrame:
    """Read a CSV or raise :class:`DataError` naming the file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"file not found: {p}", where=str(p), fix="check the path")
    try:
        return pd.read_csv(p, **kwargs)  # type: ignore[call-overload, no-any-return]
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot parse CSV: {exc}", where=str(p), fix="save the file as UTF-8 CSV") from None


def validate_table(
    df: pd.DataFrame,
    *,
    label: str | None = None,
    numeric: Sequence[str] | None = None,
    id_column: str | None = None,
    source: str = "table",
    binary_label: bool = False,
) -> pd.DataFrame:
    """Check a table and return a copy with ``numeric`` columns as float.

    Raises
    ------
    SchemaError
        Missing label/id column, non-numeric values in a numeric column (first
        offending row named, 1-based as in a spreadsheet incl. header), an
        all-NaN column, or a non-binary label when ``binary_label``.
    """
    out = df.copy()
    for col, role in ((label, "label"), (id_column, "patient id")):
        if col is not None and col not in out.columns:
            raise SchemaError(
                f"{role} column '{col}' is missing",
                where=f"{source}: columns {list(out.columns)[:10]}",
                fix=f"add a '{col}' column or set the {role} column name in the config",
            )
    cols = list(numeric) if numeric is not None else [c for c in out.columns if c not in {label, id_column}]
    for col in cols:
        if col not in out.columns:
            raise SchemaError(f"column '{col}' is missing", where=source, fix="check the column names")
        values = pd.to_numeric(out[col], errors="coerce")
        bad = values.isna() & out[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise SchemaError(
                f"column '{col}' holds a non-numeric value {str(out[col].iloc[row])[:30]!r}",
                where=f"{source}: row {row + 2}, column '{col}'",
                fix="correct or blank the value; medkit does not coerce clinical values silently",
            )
        if values.isna().all():
            raise SchemaError(
                f"column '{col}' is entirely empty (all NaN)",
                where=f"{source}: column '{col}'",
                fix="drop the column or supply its values",
            )
        out[col] = values.astype(float)
    if label is not None:
        if out[label].isna().any():
            row = int(np.flatnonzero(out[label].isna().to_numpy())[0])
            raise SchemaError(f"label '{label}' is missing", where=f"{source}: row {row + 2}", fix="fill or drop the row")
        if binary_label:
            vals = set(pd.unique(out[label]))
            if not vals <= {0, 1}:
                raise SchemaError(
                    f"label '{label}' must be 0/1, found {sorted(map(str, vals))[:5]}",
                    where=f"{source}: column '{label}'",
                    fix="encode the outcome as 0 (no event) / 1 (event)",
                )
    return out
