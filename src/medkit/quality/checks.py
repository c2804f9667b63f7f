"""Single-table checks: missingness, duplicates, class balance, label leakage, post-outcome features, outliers.

Each check is a pure function returning ``(findings, table_rows)``; :func:`medkit.quality.check_table`
runs them all. Thresholds are module constants so that docs and tests can quote them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from medkit.quality.report import Finding, Severity
from medkit.quality.schema import TableSchema

Rows = list[dict[str, object]]

MISSING_WARN = 0.5          # a variable missing in > 50% of rows
PATIENT_MISSING_WARN = 0.5  # a patient missing > 50% of variables
LEAK_ERROR_AUROC = 0.99     # one feature alone separates the classes (AUROC or 1-AUROC)
LEAK_INFO_AUROC = 0.95      # strong single predictor: check it is available at prediction time
LEAK_ERROR_RHO = 0.99       # regression: |Spearman rho| of one feature with the target
MINORITY_WARN = 0.05        # minority class below 5%
MINORITY_INFO = 0.20
OUTLIER_Z = 6.0             # robust z (median/MAD) beyond which a value is counted as an outlier
NEAR_DUP_REL = 1e-3         # near-duplicate: standardised distance < 1e-3 x median nearest-neighbour distance

# Names that usually denote something known only after the outcome (discharge, death, length of stay).
POST_OUTCOME_PATTERN = re.compile(
    r"(length[_ ]?of[_ ]?stay|\blos\b|survival|death|died|mortality|discharge|outcome|deceased|dod\b)", re.I)


def _numeric(X: pd.DataFrame) -> pd.DataFrame:
    return X.select_dtypes(include=[np.number, "bool"]).astype(float)


def missingness(X: pd.DataFrame, groups: ArrayLike | None = None, source: str = "table") -> tuple[list[Finding], Rows]:
    """Fraction missing per variable and per patient (patients are ``groups``, or rows)."""
    findings: list[Finding] = []
    frac = X.isna().mean()
    rows: Rows = [{"variable": c, "missing": int(X[c].isna().sum()), "fraction": round(float(frac[c]), 4)}
                  for c in X.columns]
    for c in X.columns:
        if frac[c] == 1.0:
            findings.append(Finding("missingness", "error", f"variable '{c}' is missing in every row",
                                    where=f"{source}: column '{c}'", fix="drop the column or supply its values",
                                    value=1.0))
        elif frac[c] > MISSING_WARN:
            findings.append(Finding("missingness", "warning", f"variable '{c}' is missing in {frac[c]:.0%} of rows",
                                    where=f"{source}: column '{c}'",
                                    fix="check extraction; impute with care or drop the variable", value=float(frac[c])))
    per_row = X.isna().mean(axis=1)
    per_patient = per_row.groupby(np.asarray(groups)).mean() if groups is not None else per_row
    n_bad = int((per_patient > PATIENT_MISSING_WARN).sum())
    if n_bad:
        sev: Severity = "warning" if n_bad / max(len(per_patient), 1) > 0.05 else "info"
        findings.append(Finding("missingness", sev,
                                f"{n_bad} of {len(per_patient)} patients miss more than half of the variables",
                                where=f"{source}: rows", fix="check record linkage for these patients",
                                value=float(n_bad)))
    return findings, rows


def duplicates(X: pd.DataFrame, groups: ArrayLike | None = None, source: str = "table") -> tuple[list[Finding], Rows]:
    """Exact duplicate feature rows (across different patients), and near-duplicates after standardising."""
    findings: list[Finding] = []
    if X.shape[1] == 0 or len(X) < 2:
        return findings, []
    hashed = pd.util.hash_pandas_object(X, index=False)
    dup_mask = hashed.duplicated(keep=False).to_numpy()
    n_dup_groups = int(hashed[dup_mask].nunique())
    n_extra = int(hashed.duplicated().sum())
    table: Rows = [{"kind": "exact duplicate feature rows", "rows involved": int(dup_mask.sum()),
                    "extra copies": n_extra}]
    if n_extra:
        first = int(np.flatnonzero(dup_mask)[0])
        g = np.asarray(groups) if groups is not None else np.arange(len(X))
        # Same features under two different patient ids = a duplicated patient (or a copy-paste error).
        cross = int(sum(len(set(g[hashed.to_numpy() == h])) > 1 for h in hashed[dup_mask].unique()))
        findings.append(Finding(
            "duplicates", "warning",
            f"{n_extra} row(s) repeat another row's features exactly ({n_dup_groups} distinct, "
            f"{cross} shared by different patient ids)",
            where=f"{source}: row {X.index[first]}", fix="de-duplicate, or confirm they are distinct patients",
            value=float(n_extra)))
    num = _numeric(X)
    if num.shape[1] >= 2 and len(num) >= 3:
        from sklearn.neighbors import NearestNeighbors

        Z = num.fillna(num.median()).to_numpy()
        sd = Z.std(axis=0)
        Z = (Z - Z.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        uniq_idx = np.flatnonzero(~hashed.duplicated().to_numpy())  # exact copies are already counted
        Zu = Z[uniq_idx]
        if len(Zu) >= 3:
            dist, _ = NearestNeighbors(n_neighbors=2).fit(Zu).kneighbors(Zu)
            nn = dist[:, 1]
            scale = float(np.median(nn)) or 1.0
            near = int((nn < NEAR_DUP_REL * scale).sum())
            table.append({"kind": f"near-duplicates (distance < {NEAR_DUP_REL:g} x median NN distance)",
                          "rows involved": near, "extra copies": near // 2})
            if near:
                findings.append(Finding("duplicates", "warning",
                                        f"{near} row(s) are near-identical to another row after standardising",
                                        where=f"{source}: rows", fix="check for re-entered records or rounding copies",
                                        value=float(near)))
    return findings, table


def patient_rows(groups: ArrayLike, source: str = "table") -> tuple[list[Finding], Rows]:
    """How many rows each patient has (information for one-row-per-patient tasks)."""
    counts = pd.Series(np.asarray(groups)).value_counts()
    multi = int((counts > 1).sum())
    rows: Rows = [{"patients": len(counts), "rows": int(counts.sum()), "patients with >1 row": multi,
                   "max rows per patient": int(counts.max()) if len(counts) else 0}]
    f = []
    if multi:
        f.append(Finding("duplicates", "info", f"{multi} patient id(s) have more than one row",
                         where=f"{source}: id column",
                         fix="split by patient (group_split) so that no patient is on both sides", value=float(multi)))
    return f, rows


def class_balance(y: ArrayLike, source: str = "table") -> tuple[list[Finding], Rows]:
    """Counts per class; warn on a minority below 5% (info below 20%)."""
    s = pd.Series(np.asarray(y))
    counts = s.value_counts(dropna=False)
    rows: Rows = [{"class": str(k), "n": int(v), "fraction": round(float(v / len(s)), 4)} for k, v in counts.items()]
    findings: list[Finding] = []
    if len(counts) < 2:
        findings.append(Finding("class_balance", "error", "the label has a single class", where=f"{source}: label",
                                fix="a classifier needs both outcomes; check the label column"))
        return findings, rows
    minority = float(counts.min() / len(s))
    if minority < MINORITY_WARN:
        findings.append(Finding("class_balance", "warning", f"minority class is {minority:.1%} of rows",
                                where=f"{source}: label", fix="report AUPRC and calibration; consider more data",
                                value=minority))
    elif minority < MINORITY_INFO:
        findings.append(Finding("class_balance", "info", f"minority class is {minority:.1%} of rows",
                                where=f"{source}: label", fix="report AUPRC alongside AUROC", value=minority))
    return findings, rows


def _auroc_one(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import rankdata

    ok = ~np.isnan(x)
    x, y = x[ok], y[ok]
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(x)
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def label_leakage(X: pd.DataFrame, y: ArrayLike, task: str = "binary",
                  source: str = "table") -> tuple[list[Finding], Rows]:
    """Screen for a single feature that (almost) determines the label.

    Binary: AUROC of each numeric feature alone, folded to ``max(A, 1 - A)``; categorical features with
    <= 20 levels of >= 5 rows each are scored by their per-level event rate. Regression: |Spearman rho|.
    Identifier-like columns (one distinct value per row) are skipped — they are flagged by ``patient_rows``.
    """
    yv = np.asarray(y)
    rows: Rows = []
    findings: list[Finding] = []
    for c in X.columns:
        col = X[c]
        if col.nunique(dropna=True) < 2:
            continue
        if task == "regression":
            if not pd.api.types.is_numeric_dtype(col):
                continue
            from scipy.stats import spearmanr

            ok = col.notna().to_numpy()
            score = abs(float(spearmanr(col.to_numpy(float)[ok], yv[ok].astype(float)).statistic))
            metric = "|Spearman rho|"
            err = score >= LEAK_ERROR_RHO
            info = False
        else:
            yb = (yv == np.unique(yv)[-1]).astype(int)
            if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                x = col.to_numpy(float)
            else:
                counts = col.value_counts()
                if len(counts) > 20 or counts.min() < 5:
                    continue
                rate = pd.Series(yb, index=col.index).groupby(col, observed=True).mean()
                x = col.map(rate).to_numpy(float)
            a = _auroc_one(x, yb)
            if np.isnan(a):
                continue
            score = max(a, 1 - a)
            metric = "single-feature AUROC"
            err = score >= LEAK_ERROR_AUROC
            info = score >= LEAK_INFO_AUROC
        rows.append({"variable": c, metric: round(score, 4)})
        if err:
            findings.append(Finding(
                "label_leakage", "error", f"'{c}' alone predicts the label ({metric} {score:.3f})",
                where=f"{source}: column '{c}'",
                fix="remove it if it is derived from the outcome or recorded after it; otherwise confirm and document",
                value=score))
        elif info:
            findings.append(Finding(
                "label_leakage", "info", f"'{c}' is a strong single predictor ({metric} {score:.3f})",
                where=f"{source}: column '{c}'", fix="confirm it is available at prediction time", value=score))
    rows.sort(key=lambda r: -float(list(r.values())[1]))  # type: ignore[arg-type]
    return findings, rows


def post_outcome(columns: Sequence[str], schema: TableSchema | None = None,
                 feature_times: pd.DataFrame | None = None, outcome_time: ArrayLike | None = None,
                 source: str = "table") -> tuple[list[Finding], Rows]:
    """Features recorded after the outcome time.

    Three screens, strongest first: (1) ``feature_times`` (hours since index, one column per feature) at or
    after ``outcome_time`` in any row is an error; (2) columns the schema declares ``post_outcome`` are an
    error; (3) names that usually mean post-outcome information (length of stay, survival, discharge) are a
    warning — a name is only a hint.
    """
    findings: list[Finding] = []
    rows: Rows = []
    declared = set(schema.names("post_outcome")) if schema is not None else set()
    if feature_times is not None and outcome_time is not None:
        ot = np.asarray(outcome_time, float)
        for c in feature_times.columns:
            late = feature_times[c].to_numpy(float) >= ot
            n = int(np.nansum(late))
            rows.append({"variable": c, "rows recorded at/after outcome": n})
            if n:
                first = int(np.flatnonzero(late)[0])
                findings.append(Finding("post_outcome", "error",
                                        f"'{c}' is recorded at or after the outcome time in {n} row(s)",
                                        where=f"{source}: column '{c}', row {feature_times.index[first]}",
                                        fix="only use values recorded before the prediction time", value=float(n)))
    for c in columns:
        if c in declared:
            findings.append(Finding("post_outcome", "error", f"'{c}' is declared as recorded after the outcome",
                                    where=f"{source}: column '{c}'", fix="drop it from the features"))
        elif POST_OUTCOME_PATTERN.search(str(c)):
            findings.append(Finding("post_outcome", "warning",
                                    f"'{c}' looks like information known only after the outcome",
                                    where=f"{source}: column '{c}'",
                                    fix="confirm it is available at prediction time or drop it"))
    return findings, rows


def outliers(X: pd.DataFrame, source: str = "table") -> tuple[list[Finding], Rows]:
    """Robust-z outlier counts per numeric variable (|x - median| / (1.4826 MAD) > 6). Information only:
    range violations against a declared schema are errors and come from :func:`validate_schema`."""
    num = _numeric(X)
    rows: Rows = []
    findings: list[Finding] = []
    for c in num.columns:
        x = num[c].to_numpy()
        x = x[~np.isnan(x)]
        if len(x) < 5:
            continue
        med = np.median(x)
        mad = 1.4826 * np.median(np.abs(x - med))
        if mad == 0:
            continue
        n = int((np.abs(x - med) / mad > OUTLIER_Z).sum())
        rows.append({"variable": c, "outliers": n, "fraction": round(n / len(x), 4)})
        if n:
            findings.append(Finding("outliers", "info", f"'{c}' has {n} value(s) beyond {OUTLIER_Z:g} robust SDs",
                                    where=f"{source}: column '{c}'", fix="check units and data entry", value=float(n)))
    return findings, rows
