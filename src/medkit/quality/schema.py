"""Declared table schemas (types, units, allowed ranges, categories) checked with pandera.

A :class:`TableSchema` is a list of :class:`ColumnSpec`; medkit compiles it to a
``pandera.DataFrameSchema`` and turns pandera's failure cases into findings that name the
column, the first offending row and the rule — never the patient's value.

Schemas of registered datasets live in :data:`SCHEMAS` (see :mod:`medkit.quality.schemas`);
pillars register theirs with ``SCHEMAS.add(name, TableSchema(...))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from medkit.core.deps import require
from medkit.core.errors import SchemaError
from medkit.core.registry import Registry
from medkit.quality.report import Finding

Role = Literal["feature", "label", "id", "time", "post_outcome", "attribute"]


@dataclass(frozen=True)
class ColumnSpec:
    """One declared column.

    Attributes
    ----------
    name
        Column name.
    dtype
        ``float``, ``int``, ``bool``, ``category`` or ``str``.
    unit
        Unit of measurement (``mmHg``, ``°C``, ``mg/dL``); documentation and model cards.
    min, max
        Inclusive allowed range (physiological plausibility, not a normal range).
    categories
        Allowed values for categorical columns.
    nullable
        Whether missing values are allowed.
    required
        Whether a table without this column fails.
    role
        ``feature`` (default), ``label``, ``id``, ``time``, ``attribute`` (subgroup attribute such as sex),
        or ``post_outcome`` (recorded after the outcome; using it as a feature is label leakage).
    """

    name: str
    dtype: Literal["float", "int", "bool", "category", "str"] = "float"
    unit: str = ""
    min: float | None = None
    max: float | None = None
    categories: tuple[Any, ...] | None = None
    nullable: bool = True
    required: bool = True
    role: Role = "feature"
    description: str = ""


@dataclass(frozen=True)
class TableSchema:
    """A declared table: its columns plus which one is the label and which the patient id."""

    name: str
    columns: tuple[ColumnSpec, ...]
    description: str = ""
    missing_sentinels: tuple[float, ...] = field(default=())

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise SchemaError(f"column '{name}' is not declared in schema '{self.name}'", where=f"schema {self.name}",
                          fix=f"use one of {[c.name for c in self.columns][:10]}")

    def names(self, role: Role | None = None) -> list[str]:
        return [c.name for c in self.columns if role is None or c.role == role]

    @property
    def label(self) -> str | None:
        labels = self.names("label")
        return labels[0] if labels else None

    @property
    def id_column(self) -> str | None:
        ids = self.names("id")
        return ids[0] if ids else None

    def to_pandera(self) -> Any:
        """The equivalent ``pandera.DataFrameSchema`` (values coerced to the declared type)."""
        pa = require("pandera.pandas", "trust")
        types = {"float": float, "int": "Int64", "bool": bool, "category": object, "str": str}
        cols = {}
        for c in self.columns:
            checks = []
            if c.min is not None and c.max is not None:
                checks.append(pa.Check.in_range(c.min, c.max))
            elif c.min is not None:
                checks.append(pa.Check.ge(c.min))
            elif c.max is not None:
                checks.append(pa.Check.le(c.max))
            if c.categories is not None:
                checks.append(pa.Check.isin(list(c.categories)))
            coerce = c.dtype in {"float", "int"}
            cols[c.name] = pa.Column(types[c.dtype], checks=checks, nullable=c.nullable, required=c.required,
                                     coerce=coerce)
        return pa.DataFrameSchema(cols, strict=False)


def _rule_text(check: str, spec: ColumnSpec | None) -> str:
    if spec is not None and check.startswith(("in_range", "greater_than", "less_than")):
        lo = "-inf" if spec.min is None else f"{spec.min:g}"
        hi = "inf" if spec.max is None else f"{spec.max:g}"
        unit = f" {spec.unit}" if spec.unit else ""
        return f"allowed range [{lo}, {hi}]{unit}"
    if check.startswith("isin"):
        return f"allowed categories {list(spec.categories) if spec and spec.categories else check}"
    if check == "not_nullable":
        return "no missing values allowed"
    if check == "column_in_dataframe":
        return "required column"
    if check.startswith("dtype") or check.startswith("coerce"):
        return f"type {spec.dtype if spec else check}"
    return check


def validate_schema(df: pd.DataFrame, schema: TableSchema, source: str = "table") -> list[Finding]:
    """Check ``df`` against ``schema``; one error finding per (column, rule), none when clean.

    Rows are named by ``df``'s index label (:func:`medkit.quality.check_file` indexes rows by their CSV
    line number). Values are counted, never printed: a quality report may be shared wider than the data.
    """
    pa = require("pandera.pandas", "trust")
    sentinel_cols = [c.name for c in schema.columns if c.dtype in {"float", "int"} and c.name in df.columns]
    data = df
    if schema.missing_sentinels and sentinel_cols:
        # Declared "missing" codes (PhysioNet uses -1) are missing values, not out-of-range ones.
        data = df.copy()
        data[sentinel_cols] = data[sentinel_cols].mask(data[sentinel_cols].isin(schema.missing_sentinels))
    try:
        schema.to_pandera().validate(data, lazy=True)
        return []
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    findings = []
    specs = {c.name: c for c in schema.columns}
    for (col, check), grp in cases.groupby([cases["column"].fillna(""), cases["check"].astype(str)], sort=False):
        if check == "column_in_dataframe":
            for missing in grp["failure_case"]:
                findings.append(Finding("schema", "error", f"required column '{missing}' is missing",
                                        where=f"{source}: columns", fix=f"add '{missing}' or fix the column name"))
            continue
        spec = specs.get(col)
        idx = [i for i in grp["index"].tolist() if i is not None and not pd.isna(i)]
        first = f", row {idx[0]}" if idx else ""
        rule = _rule_text(check, spec)
        findings.append(Finding(
            "schema", "error",
            f"column '{col}': {len(grp)} value(s) break the rule: {rule}",
            where=f"{source}: column '{col}'{first}",
            fix="check units and data entry for these rows; medkit does not coerce clinical values silently",
            value=float(len(grp)),
        ))
    return findings


def validate_or_raise(df: pd.DataFrame, schema: TableSchema, source: str = "table") -> None:
    """Raise :class:`SchemaError` on the first violation (column, row and rule named)."""
    findings = validate_schema(df, schema, source)
    if findings:
        f = findings[0]
        more = f" ({len(findings) - 1} more rule(s) broken)" if len(findings) > 1 else ""
        raise SchemaError(f"schema '{schema.name}' violated: {f.message}{more}", where=f.where, fix=f.fix)


SCHEMAS: Registry[TableSchema] = Registry("schema")
