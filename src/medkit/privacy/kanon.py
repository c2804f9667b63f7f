"""Quasi-identifier generalisation, k-anonymity and (distinct) l-diversity for cohort tables.

Each quasi-identifier (QI) gets a generalisation hierarchy: level 0 is the value itself, higher levels are
coarser (age 5-, 10-, 20-year bands; a categorical column grouped, then ``*``). :class:`KAnonymizer`
searches every combination of levels (full-domain generalisation, as in Samarati / Incognito on small
lattices) and keeps the one with the least information loss for which every equivalence class has
>= ``k`` rows (and >= ``l`` distinct sensitive values) after suppressing at most ``max_suppression`` of
the rows. :func:`export_table` refuses to write a table below the configured ``k``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medkit.core.errors import ConfigError, DataError, PrivacyError

Level = Callable[[pd.Series], pd.Series]


def numeric_levels(widths: Sequence[float], top_code: float | None = None, unit: str = "") -> list[Level]:
    """Hierarchy for a numeric QI: exact value, then bands of each width; values >= ``top_code`` pooled."""

    def band(w: float | None) -> Level:
        def f(s: pd.Series) -> pd.Series:
            x = pd.to_numeric(s, errors="coerce")
            if w is None:
                out = x.map(lambda v: f"{v:g}{unit}" if pd.notna(v) else "missing")
            else:
                lo = np.floor(x / w) * w
                out = pd.Series([f"{a:g}-{a + w:g}{unit}" if pd.notna(a) else "missing" for a in lo], index=s.index)
            if top_code is not None:
                out = out.where(~(x >= top_code), f">={top_code:g}{unit}")
            return out.astype(str)

        return f

    return [band(None)] + [band(w) for w in widths] + [lambda s: pd.Series("*", index=s.index)]


def _label(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "missing"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # codes read as floats (1.0) print as 1
    return str(v)


def categorical_levels(*groupings: Mapping[Any, str]) -> list[Level]:
    """Hierarchy for a categorical QI: the value, each grouping in turn, then ``*``."""
    def group(g: Mapping[Any, str]) -> Level:
        def f(s: pd.Series) -> pd.Series:
            return s.map(lambda v: g.get(v, "other") if pd.notna(v) else "missing").astype(str)

        return f

    levels: list[Level] = [lambda s: s.map(_label)]
    levels += [group(g) for g in groupings]
    levels.append(lambda s: pd.Series("*", index=s.index))
    return levels


@dataclass
class KAnonReport:
    """Privacy of a (generalised) table: ``k`` = smallest class, ``l`` = fewest distinct sensitive values."""

    k: int
    l: int | None  # noqa: E741 - the letter of l-diversity
    n_rows: int
    n_classes: int
    n_suppressed: int = 0
    levels: dict[str, int] = field(default_factory=dict)
    class_size_histogram: dict[int, int] = field(default_factory=dict)
    information_loss: float = 0.0


def kanon_report(table: pd.DataFrame, quasi_identifiers: Sequence[str], sensitive: str | None = None) -> KAnonReport:
    """k and l of ``table`` as it is (no generalisation)."""
    missing = [c for c in list(quasi_identifiers) + ([sensitive] if sensitive else []) if c not in table.columns]
    if missing:
        raise DataError(f"column(s) {missing} not in the table", where="k-anonymity",
                        fix=f"choose quasi-identifiers among {list(table.columns)}")
    if len(table) == 0:
        raise DataError("the table is empty", where="k-anonymity", fix="pass a non-empty cohort")
    keys = table[list(quasi_identifiers)].astype(str)
    sizes = keys.value_counts()
    l_val = None
    if sensitive:
        l_val = int(table.groupby([keys[c] for c in quasi_identifiers])[sensitive].nunique().min())
    hist = sizes.value_counts().sort_index()
    return KAnonReport(int(sizes.min()), l_val, len(table), len(sizes),
                       class_size_histogram={int(a): int(b) for a, b in hist.items()})


@dataclass
class KAnonResult:
    table: pd.DataFrame
    report: KAnonReport


class KAnonymizer:
    """Find the least-generalised table meeting k-anonymity (and l-diversity).

    Parameters
    ----------
    hierarchies
        ``{column: [level functions]}`` (see :func:`numeric_levels`, :func:`categorical_levels`).
    k
        Minimum equivalence-class size.
    l
        Minimum distinct values of ``sensitive`` per class (``None`` = not required).
    sensitive
        The sensitive attribute (e.g. in-hospital death); it is never generalised.
    max_suppression
        Largest fraction of rows that may be dropped (rows in classes still below k / l).
    """

    def __init__(self, hierarchies: Mapping[str, list[Level]], k: int = 5, l: int | None = None,  # noqa: E741
                 sensitive: str | None = None, max_suppression: float = 0.02) -> None:
        if k < 2:
            raise ConfigError(f"k must be >= 2, got {k}", where="k-anonymity.k", fix="use k >= 2 (5 or 10 are usual)")
        if l is not None and (sensitive is None or l < 1):
            raise ConfigError("l-diversity needs a sensitive column and l >= 1", where="k-anonymity.l",
                              fix="pass sensitive=<column> with l")
        if not 0 <= max_suppression < 1:
            raise ConfigError("max_suppression must be in [0, 1)", where="k-anonymity.max_suppression",
                              fix="use e.g. 0.02")
        self.hierarchies = dict(hierarchies)
        self.k = k
        self.l = l
        self.sensitive = sensitive
        self.max_suppression = max_suppression

    def fit_transform(self, table: pd.DataFrame) -> KAnonResult:
        qis = list(self.hierarchies)
        kanon_report(table, qis, self.sensitive)  # column checks
        cache = {(c, i): lev(table[c]) for c, levs in self.hierarchies.items() for i, lev in enumerate(levs)}
        best: tuple[float, int, tuple[int, ...], pd.Series] | None = None
        max_lv = {c: len(levs) - 1 for c, levs in self.hierarchies.items()}
        for combo in itertools.product(*[range(len(self.hierarchies[c])) for c in qis]):
            loss = float(np.mean([combo[i] / max_lv[c] for i, c in enumerate(qis)]))
            if best is not None and loss > best[0]:
                continue
            keys = pd.DataFrame({c: cache[(c, combo[i])] for i, c in enumerate(qis)}, index=table.index)
            ok = self._row_ok(keys, table)
            n_sup = int((~ok).sum())
            if n_sup <= self.max_suppression * len(table) and ok.any():
                cand = (loss, n_sup, combo, ok)
                if best is None or (loss, n_sup) < (best[0], best[1]):
                    best = cand
        if best is None:
            raise PrivacyError(f"no generalisation reaches k={self.k}" + (f", l={self.l}" if self.l else "")
                               + f" with at most {self.max_suppression:.0%} suppressed rows", where="k-anonymity",
                               fix="add coarser hierarchy levels, drop a quasi-identifier or allow more suppression")
        loss, n_sup, combo, ok = best
        out = table.copy()
        for i, c in enumerate(qis):
            out[c] = cache[(c, combo[i])]
        out = out[ok]
        rep = kanon_report(out, qis, self.sensitive)
        rep.n_suppressed = n_sup
        rep.levels = {c: int(combo[i]) for i, c in enumerate(qis)}
        rep.information_loss = loss
        return KAnonResult(out, rep)

    def _row_ok(self, keys: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
        grp = keys.groupby(list(keys.columns), sort=False)
        size = grp[keys.columns[0]].transform("size")
        ok = size >= self.k
        if self.l is not None and self.sensitive is not None:
            div = table[self.sensitive].groupby([keys[c] for c in keys.columns], sort=False).transform("nunique")
            ok &= div >= self.l
        return ok


def export_table(table: pd.DataFrame, path: str | Path, quasi_identifiers: Sequence[str], k: int,
                 sensitive: str | None = None, l: int | None = None) -> KAnonReport:  # noqa: E741
    """Write ``table`` as CSV only if it is k-anonymous (and l-diverse) on ``quasi_identifiers``."""
    rep = kanon_report(table, quasi_identifiers, sensitive)
    if rep.k < k:
        raise PrivacyError(f"refusing to export: the table is only {rep.k}-anonymous, {k} is required "
                           f"({rep.class_size_histogram.get(rep.k, 0)} class(es) of size {rep.k})", where=str(path),
                           fix="generalise first (medkit privacy k-anon) or lower k only with your privacy officer")
    if l is not None and (rep.l is None or rep.l < l):
        raise PrivacyError(f"refusing to export: the table is only {rep.l}-diverse, {l} is required", where=str(path),
                           fix="generalise further or suppress the classes with a single sensitive value")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return rep


def physionet_hierarchies() -> dict[str, list[Level]]:
    """Hierarchies for the PhysioNet 2012 static descriptors (Age, Gender, Height, ICUType).

    Ages >= 90 are always pooled (HIPAA Safe Harbor); ICU types group as cardiac (coronary care, cardiac
    surgery recovery) vs medical/surgical, then ``*``.
    """
    return {
        "Age": numeric_levels([5, 10, 20], top_code=90),
        "Gender": categorical_levels(),
        "Height": numeric_levels([5, 10, 20, 40], unit="cm"),
        "ICUType": categorical_levels({1: "cardiac", 2: "cardiac", 3: "non-cardiac", 4: "non-cardiac"}),
    }
