"""Checks between two splits: patient overlap, shared feature rows, distribution shift (PSI and KS).

PSI (population stability index) per variable, with bins at the deciles of the reference split::

    PSI = sum_b (q_b - p_b) * ln(q_b / p_b)

< 0.1 stable, 0.1–0.25 moderate shift (info), > 0.25 major shift (warning) — the usual credit-risk
conventions (Siddiqi 2006), also used for clinical model monitoring. KS is the two-sample
Kolmogorov–Smirnov statistic and p-value (scipy); with thousands of rows tiny shifts are "significant",
so severity is driven by PSI and KS is reported alongside.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from medkit.quality.report import Finding

Rows = list[dict[str, object]]

PSI_INFO = 0.10
PSI_WARN = 0.25
_EPS = 1e-4


def psi(reference: np.ndarray, current: np.ndarray, n_bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` (numeric, NaN dropped).

    Bins are the reference quantiles (ties merged); empty bins get a floor of 1e-4 so the log is finite.
    """
    ref = np.asarray(reference, float)
    cur = np.asarray(current, float)
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return float("nan")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, n_bins + 1)[1:-1]))
    p = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    q = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1) / len(cur)
    p, q = np.maximum(p, _EPS), np.maximum(q, _EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def psi_categorical(reference: ArrayLike, current: ArrayLike) -> float:
    r = pd.Series(reference).astype(str).value_counts(normalize=True)
    c = pd.Series(current).astype(str).value_counts(normalize=True)
    cats = r.index.union(c.index)
    p = np.maximum(r.reindex(cats, fill_value=0).to_numpy(), _EPS)
    q = np.maximum(c.reindex(cats, fill_value=0).to_numpy(), _EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def distribution_shift(train: pd.DataFrame, test: pd.DataFrame, names: tuple[str, str] = ("train", "test"),
                       source: str = "table") -> tuple[list[Finding], Rows]:
    """PSI and KS per shared variable between two splits; also flags large changes in missingness."""
    from scipy.stats import ks_2samp

    findings: list[Finding] = []
    rows: Rows = []
    for c in [c for c in train.columns if c in test.columns]:
        a, b = train[c], test[c]
        numeric = pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b)
        if numeric:
            av, bv = a.to_numpy(float), b.to_numpy(float)
            value = psi(av, bv)
            an, bn = av[~np.isnan(av)], bv[~np.isnan(bv)]
            ks = ks_2samp(an, bn) if len(an) and len(bn) else None
            row = {"variable": c, "PSI": round(value, 4), "KS": round(float(ks.statistic), 4) if ks else None,
                   "KS p": float(f"{ks.pvalue:.3g}") if ks else None,
                   f"median {names[0]}": float(np.median(an)) if len(an) else None,
                   f"median {names[1]}": float(np.median(bn)) if len(bn) else None}
        else:
            value = psi_categorical(a.dropna(), b.dropna())
            row = {"variable": c, "PSI": round(value, 4), "KS": None, "KS p": None}
        dm = abs(float(a.isna().mean()) - float(b.isna().mean()))
        row["missing diff"] = round(dm, 4)
        rows.append(row)
        where = f"{source}: column '{c}', {names[0]} vs {names[1]}"
        if np.isnan(value):
            continue
        if value > PSI_WARN:
            ratio = ""
            if numeric and row.get(f"median {names[0]}") not in (None, 0):
                r = row[f"median {names[1]}"] / row[f"median {names[0]}"]  # type: ignore[operator]
                ratio = f"; median ratio {r:.3g} (a unit change?)" if r > 2 or r < 0.5 else ""
            findings.append(Finding("shift", "warning", f"'{c}' is distributed very differently in {names[1]} "
                                    f"(PSI {value:.2f}){ratio}", where=where,
                                    fix="check units, coding and population of each split", value=value))
        elif value > PSI_INFO:
            findings.append(Finding("shift", "info", f"'{c}' shifts moderately between splits (PSI {value:.2f})",
                                    where=where, fix="report performance per split", value=value))
        if dm > 0.2:
            findings.append(Finding("shift", "warning", f"'{c}' missingness differs by {dm:.0%} between splits",
                                    where=where, fix="check extraction of this variable per split", value=dm))
    rows.sort(key=lambda r: -(r["PSI"] if isinstance(r["PSI"], float) and not np.isnan(r["PSI"]) else -1))
    return findings, rows


def split_overlap(train_groups: ArrayLike, test_groups: ArrayLike,
                  train_X: pd.DataFrame | None = None, test_X: pd.DataFrame | None = None,
                  names: tuple[str, str] = ("train", "test"), source: str = "table") -> tuple[list[Finding], Rows]:
    """Patients present in both splits (error), and identical feature rows across splits (error:
    a duplicated patient under a new id leaks exactly like a shared id)."""
    findings: list[Finding] = []
    shared = np.intersect1d(np.asarray(train_groups), np.asarray(test_groups))
    rows: Rows = [{"check": "patient ids in both splits", "count": len(shared)}]
    if len(shared):
        findings.append(Finding("split_overlap", "error",
                                f"{len(shared)} patient id(s) appear in both {names[0]} and {names[1]}",
                                where=f"{source}: id column",
                                fix="split by patient (medkit.data.splits.group_split)", value=float(len(shared))))
    if train_X is not None and test_X is not None and train_X.shape[1]:
        cols = [c for c in train_X.columns if c in test_X.columns]
        h_tr = set(pd.util.hash_pandas_object(train_X[cols], index=False).tolist())
        h_te = pd.util.hash_pandas_object(test_X[cols], index=False)
        n = int(h_te.isin(h_tr).sum())
        rows.append({"check": f"{names[1]} rows identical to a {names[0]} row", "count": n})
        if n:
            first = test_X.index[int(np.flatnonzero(h_te.isin(h_tr).to_numpy())[0])]
            findings.append(Finding("split_overlap", "error",
                                    f"{n} {names[1]} row(s) have exactly the same features as a {names[0]} row "
                                    "(a duplicated patient?)", where=f"{source}: {names[1]} row {first}",
                                    fix="de-duplicate before splitting", value=float(n)))
    return findings, rows
