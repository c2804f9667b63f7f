"""Run every applicable check on a table, a CSV file or a registered dataset → :class:`QualityReport`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from medkit.core.errors import ConfigError
from medkit.quality import checks
from medkit.quality.report import Finding, QualityReport
from medkit.quality.schema import TableSchema, validate_schema
from medkit.quality.shift import distribution_shift, split_overlap

Task = str  # "binary" | "multiclass" | "regression" | "none"


def check_table(
    df: pd.DataFrame,
    *,
    label: str | None = None,
    id_column: str | None = None,
    task: Task = "binary",
    schema: TableSchema | None = None,
    split: Sequence[object] | np.ndarray | None = None,
    reference_split: object = "train",
    feature_times: pd.DataFrame | None = None,
    outcome_time: ArrayLike | None = None,
    ignore: Sequence[str] = (),
    source: str = "table",
) -> QualityReport:
    """All data-quality checks on one table.

    Parameters
    ----------
    df
        One row per record; rows are named by ``df.index`` in findings.
    label, id_column
        Outcome column and patient-id column (both optional; ``schema`` supplies them when declared).
    task
        ``binary`` / ``multiclass`` / ``regression`` decides the leakage screen; ``none`` skips label checks.
    schema
        Declared types, units, ranges and roles; violations are errors naming column, row and rule.
    split
        Per-row split name (e.g. ``"train"``/``"test"``). Adds patient overlap, cross-split duplicate and
        PSI/KS shift checks of every other split against ``reference_split``.
    feature_times, outcome_time
        Optional hours-since-index per feature (columns) and per row outcome time, for the
        recorded-after-outcome screen.
    ignore
        Columns to leave out of feature checks (free text, paths).
    """
    if schema is not None:
        label = label or schema.label
        id_column = id_column or schema.id_column
    for col, role in ((label, "label"), (id_column, "id")):
        if col is not None and col not in df.columns:
            raise ConfigError(f"{role} column '{col}' is not in the table", where=f"{source}: columns",
                              fix=f"use one of {list(df.columns)[:10]}")
    if split is not None and len(split) != len(df):
        raise ConfigError(f"split has {len(split)} entries for {len(df)} rows", where="split",
                          fix="pass one split name per row")
    rep = QualityReport(source=source, n_rows=len(df), n_columns=df.shape[1])
    # Time columns (index/outcome times) are not predictors; subgroup attributes (sex, age) often are, so they stay.
    times = set(schema.names("time")) if schema is not None else set()
    feats = [c for c in df.columns if c not in {label, id_column, *ignore} and c not in times]
    X = df[feats]
    groups = df[id_column].to_numpy() if id_column else None

    def run(name: str, out: tuple[list[Finding], list[dict[str, object]]], table: str | None = None) -> None:
        findings, rows = out
        rep.findings.extend(findings)
        rep.checks_run.append(name)
        if table and rows:
            rep.tables[table] = rows

    if schema is not None:
        rep.findings.extend(validate_schema(df, schema, source))
        rep.checks_run.append("schema")
    run("missingness", checks.missingness(X, groups, source), "missingness")
    run("duplicates", checks.duplicates(X, groups, source), "duplicates")
    if groups is not None:
        run("patient_rows", checks.patient_rows(groups, source), "patients")
    run("outliers", checks.outliers(X, source), "outliers")
    run("post_outcome", checks.post_outcome(feats, schema, feature_times, outcome_time, source), "post_outcome")
    if label is not None and task != "none":
        y = df[label]
        if y.isna().any():
            row = df.index[int(np.flatnonzero(y.isna().to_numpy())[0])]
            rep.add(Finding("label", "error", f"label '{label}' is missing in {int(y.isna().sum())} row(s)",
                            where=f"{source}: column '{label}', row {row}", fix="fill or drop these rows"))
        ok = y.notna().to_numpy()
        if task in {"binary", "multiclass"}:
            run("class_balance", checks.class_balance(y[ok], source), "class_balance")
        if task in {"binary", "regression"} and y[ok].nunique() >= 2:
            run("label_leakage", checks.label_leakage(X[ok], y[ok], task, source), "leakage")
    if split is not None:
        s = np.asarray(split, dtype=object)
        others = [v for v in pd.unique(s) if v != reference_split]
        if reference_split not in set(s):
            raise ConfigError(f"reference split '{reference_split}' not found in split", where="split",
                              fix=f"use one of {list(pd.unique(s))}")
        ref = s == reference_split
        for other in others:
            m = s == other
            names = (str(reference_split), str(other))
            if groups is not None:
                run("split_overlap", split_overlap(groups[ref], groups[m], X[ref], X[m], names, source),
                    f"overlap {names[0]} vs {names[1]}")
            else:
                run("split_overlap", split_overlap([], [], X[ref], X[m], names, source),
                    f"overlap {names[0]} vs {names[1]}")
            run("shift", distribution_shift(X[ref], X[m], names, source), f"shift {names[0]} vs {names[1]}")
    rep.checks_run = list(dict.fromkeys(rep.checks_run))
    return rep


def check_xy(X: pd.DataFrame, y: ArrayLike | None = None, groups: ArrayLike | None = None,
             **kwargs: object) -> QualityReport:
    """:func:`check_table` for the ``X, y, groups`` triple that workflows hold."""
    df = X.copy()
    label = id_column = None
    if y is not None:
        label = "__label__" if "label" in df.columns else "label"
        df[label] = np.asarray(y)
    if groups is not None:
        id_column = "__patient_id__"
        df[id_column] = np.asarray(groups)
    return check_table(df, label=label, id_column=id_column, **kwargs)  # type: ignore[arg-type]


def check_file(path: str | Path, *, label: str | None = None, id_column: str | None = None, task: Task = "binary",
               schema: TableSchema | None = None, split_column: str | None = None) -> QualityReport:
    """Check a CSV file. Rows are named by their line number in the file (header = line 1)."""
    from medkit.data.tabular import read_csv

    df = read_csv(path)
    df.index = pd.RangeIndex(2, len(df) + 2)
    split = None
    ignore: list[str] = []
    if split_column is not None:
        if split_column not in df.columns:
            raise ConfigError(f"split column '{split_column}' is not in the file", where=str(path),
                              fix=f"use one of {list(df.columns)[:10]}")
        split = df[split_column].astype(str).tolist()
        ignore.append(split_column)
    if label is None and schema is None:
        task = "none"
    return check_table(df, label=label, id_column=id_column, task=task, schema=schema, split=split,
                       reference_split="train", ignore=ignore, source=Path(path).name)
