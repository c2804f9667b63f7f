"""Treatment recommendation from any table with a treatment column, an outcome and baseline covariates.

:class:`TreatmentTable` describes the table (which column is the treatment, which the outcome, which covariates,
the outcome's direction and the study design); :func:`prepare_table` validates it and returns model-ready
arrays; :func:`fit_table_policy` fits a :class:`~medkit.treatment.policy.ConservativePolicy` on it, and
:func:`train_table_bundle` writes a bundle that ``medkit treatment recommend`` serves like the ACTG 175 one.

Every bad input is a medkit error naming the column and row, never a NaN recommendation:

* missing columns, a covariate holding text (encode it first), missing covariate or outcome values → SchemaError;
* a text treatment column → SchemaError unless ``arm_labels`` lists the labels (then label j ↦ code j, a
  documented encoding); a label outside ``arm_labels`` → SchemaError naming the row;
* fewer than ``min_per_arm`` patients in an arm, or a single arm → ValidationError.

What the estimate means depends on the design. ``randomised``: arm differences are causal effects for
patients like those in the trial. ``observational``: they are differences in expected outcome *adjusted for the
listed covariates*; they are causal only if those covariates include every common cause of treatment choice and
outcome (no unmeasured confounding) and every kind of patient could receive every arm (overlap). For
observational data the default arm is chosen by standardised (g-formula) means, not raw arm means.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from medkit.core.config import StrictModel
from medkit.core.errors import SchemaError, ValidationError
from medkit.treatment._checks import check_arms, check_numeric
from medkit.treatment.policy import ConservativePolicy


class TreatmentTable(StrictModel):
    """Which columns of a patient table play which role (``medkit treatment train --table``)."""

    treatment: str
    outcome: str
    covariates: list[str] | None = None  # None: every other numeric column except ``exclude``
    exclude: list[str] = []  # identifiers and post-treatment columns, never used as covariates
    arm_labels: list[str] | None = None  # text treatment labels; label j becomes arm code j
    arm_names: dict[int, str] | None = None  # display names for integer codes
    reference: int | None = None  # arm the benefit is reported against (default: the smallest code)
    higher_is_better: bool = True
    design: Literal["randomised", "observational"] = "observational"
    unit: str = ""
    min_per_arm: int = Field(20, ge=2)


def _encode_arms(col: pd.Series, spec: TreatmentTable) -> np.ndarray:
    if spec.arm_labels is not None:
        text = col.astype(str)
        lookup = {lab: j for j, lab in enumerate(spec.arm_labels)}
        unknown = ~text.isin(list(lookup)) | col.isna().to_numpy()
        if unknown.any():
            i = int(np.flatnonzero(unknown.to_numpy())[0])
            raise SchemaError(f"treatment {col.iloc[i]!r} is not among arm_labels {spec.arm_labels}",
                              where=f"row {i}, column '{spec.treatment}'",
                              fix="add the label to arm_labels (--arm-labels) or drop those rows")
        return text.map(lookup).to_numpy(dtype=np.int64)
    if col.dtype == object or isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(col):
        num = pd.to_numeric(col.astype(str), errors="coerce")
        if num.isna().any():
            i = int(np.flatnonzero(num.isna().to_numpy())[0])
            labels = sorted(col.dropna().astype(str).unique())[:10]
            raise SchemaError(f"treatment column holds text ({col.iloc[i]!r}); its labels are {labels}",
                              where=f"row {i}, column '{spec.treatment}'",
                              fix=f"pass arm_labels (e.g. --arm-labels {','.join(labels)}) to map label j to arm j, "
                                  "or encode arms as integer codes")
        col = num
    return check_arms(col, where=f"column '{spec.treatment}'")


def prepare_table(df: pd.DataFrame, spec: TreatmentTable) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Validate ``df`` against ``spec``; returns (covariates (n, p) float frame, (n,) arm codes, (n,) outcomes)."""
    if not isinstance(df, pd.DataFrame) or df.empty:
        raise SchemaError("the treatment table is empty", where="table", fix="pass a table with one row per patient")
    for role, col in (("treatment", spec.treatment), ("outcome", spec.outcome)):
        if col not in df.columns:
            raise SchemaError(f"{role} column '{col}' is not in the table", where="table columns",
                              fix=f"use one of: {', '.join(map(str, df.columns))}")
    roles = {spec.treatment, spec.outcome, *spec.exclude}
    if spec.covariates is None:
        covs = [c for c in df.columns if c not in roles and pd.api.types.is_numeric_dtype(df[c])
                and not pd.api.types.is_bool_dtype(df[c])]
        skipped = [c for c in df.columns if c not in roles and c not in covs]
        if skipped:
            raise SchemaError(f"column(s) {skipped} are not numeric, so they cannot be covariates as they are",
                              where=f"column '{skipped[0]}'",
                              fix="encode them as numbers (ordinal or one-hot), list them in exclude, or pass "
                                  "covariates explicitly")
    else:
        covs = list(spec.covariates)
        missing = [c for c in covs if c not in df.columns]
        if missing:
            raise SchemaError(f"covariate(s) not in the table: {', '.join(missing)}", where=f"column '{missing[0]}'",
                              fix="fix the names or drop them from covariates")
        clash = [c for c in covs if c in roles]
        if clash:
            raise SchemaError(f"'{clash[0]}' is the treatment/outcome or excluded, not a covariate",
                              where="covariates", fix="remove it from covariates")
    if not covs:
        raise SchemaError("no covariates to personalise on", where="covariates",
                          fix="list the baseline covariates (numeric columns measured before treatment)")
    X = df[covs].copy()
    for c in covs:
        num = pd.to_numeric(X[c], errors="coerce")
        bad = num.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            kind = "missing" if pd.isna(X[c].iloc[i]) else f"text ({X[c].iloc[i]!r})"
            raise SchemaError(f"covariate '{c}' is {kind}", where=f"row {i}, column '{c}'",
                              fix="fill or drop the row (no imputation); encode text covariates as numbers")
        X[c] = num.astype(float)
    a = _encode_arms(df[spec.treatment], spec)
    y = check_numeric(df[spec.outcome], where=f"column '{spec.outcome}'")
    arms, counts = np.unique(a, return_counts=True)
    if len(arms) < 2:
        raise ValidationError(f"only one arm ({int(arms[0])}) in column '{spec.treatment}'", where="table",
                              fix="a recommendation needs patients who received at least two different treatments")
    if counts.min() < spec.min_per_arm:
        k = int(arms[int(np.argmin(counts))])
        raise ValidationError(f"arm {k} has {counts.min()} patients (< min_per_arm={spec.min_per_arm})",
                              where=f"column '{spec.treatment}'",
                              fix="drop that arm, merge it with a similar one, or lower min_per_arm knowingly")
    if spec.reference is not None and spec.reference not in arms:
        raise SchemaError(f"reference arm {spec.reference} is not in the data (arms: {arms.tolist()})",
                          where="reference", fix="use one of the arm codes")
    return X.reset_index(drop=True), a, y


def arm_names(spec: TreatmentTable, arms: np.ndarray) -> dict[int, str]:
    """Display name per arm code: arm_names, else arm_labels, else the code."""
    if spec.arm_names:
        return {int(k): spec.arm_names.get(int(k), str(k)) for k in arms}
    if spec.arm_labels:
        return {int(k): spec.arm_labels[int(k)] for k in arms}
    return {int(k): str(int(k)) for k in arms}


def fit_table_policy(df: pd.DataFrame, spec: TreatmentTable, **policy_kw: Any) -> ConservativePolicy:
    """Fit a conservative policy on a validated table (``policy_kw`` go to :class:`ConservativePolicy`)."""
    X, a, y = prepare_table(df, spec)
    default_by = "mean" if spec.design == "randomised" else "standardised"
    return ConservativePolicy(higher_is_better=spec.higher_is_better, default_arm_by=default_by,
                              **policy_kw).fit(X, a, y)


def train_table_bundle(df: pd.DataFrame, spec: TreatmentTable, out: str | Path, *, name: str = "treatment-table",
                       **policy_kw: Any) -> Path:
    """Fit on ``df`` and write a bundle for ``medkit treatment recommend``; returns the bundle directory."""
    from medkit.treatment.serving import save_bundle

    policy = fit_table_policy(df, spec, **policy_kw)
    ref = spec.reference if spec.reference is not None else int(policy.arms_.min())
    names = arm_names(spec, policy.arms_)
    means = {names[int(k)]: float(m) for k, m in zip(policy.arms_, policy.arm_means_, strict=True)}
    meaning = ("causal effect in the trial population" if spec.design == "randomised" else
               "covariate-adjusted difference; causal only without unmeasured confounding and with overlap")
    return save_bundle(out, policy, name=name, arm_names=names, reference=ref, outcome=spec.outcome, unit=spec.unit,
                       metrics={"arm_means_in_sample": means, "n_patients": len(df)},
                       extra={"table_spec": spec.model_dump(), "design": spec.design, "estimate_meaning": meaning})
