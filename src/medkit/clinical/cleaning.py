"""Named cleaning rules for ICU time series: every change is a rule, every rule is counted.

Nothing is coerced silently. Each :class:`Rule` says which parameter it looks at,
which values it matches, and what it does with them:

* ``convert`` rewrites the value with a documented formula (e.g. °F → °C), or
* ``remove`` deletes the measurement (treated as not measured afterwards).

:func:`clean_records` applies the rules in order and returns a
:class:`CleaningReport` with a count per (rule, parameter) that run reports show.
With ``strict=True`` the first match of a ``remove`` rule raises
:class:`~medkit.core.errors.DataError` instead, naming the record, time and value.

The default rules were set from the physiology and from what set A of the
PhysioNet 2012 challenge actually contains (e.g. 24 temperatures of -17.8 °C,
which is 0 °F, i.e. a disconnected probe; pH written as 735 for 7.35; invasive
blood pressures of 0 while a line is flushed; a Height of 1.8 written in metres).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medkit.core.errors import DataError
from medkit.data.physionet import PhysioNetRecords

Match = Callable[[np.ndarray], np.ndarray]
Convert = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Rule:
    """One cleaning rule.

    Attributes
    ----------
    name
        Stable identifier shown in reports (``temp_fahrenheit_to_celsius``).
    parameters
        Parameters it applies to (time-series names, or ``static:<Descriptor>``).
    match
        ``values -> bool mask`` of the values the rule acts on.
    action
        ``"convert"`` (apply ``convert``) or ``"remove"``.
    why
        One sentence for the report.
    """

    name: str
    parameters: tuple[str, ...]
    match: Match
    action: str
    why: str
    convert: Convert | None = None


def _between(lo: float, hi: float) -> Match:
    return lambda v: (v >= lo) & (v <= hi)


def _outside(lo: float, hi: float) -> Match:
    return lambda v: (v < lo) | (v > hi)


_PRESSURES = ("DiasABP", "SysABP", "MAP", "NIDiasABP", "NISysABP", "NIMAP")

#: Plausible physical ranges (inclusive) after the unit conversions; values outside are removed.
PHYSICAL_RANGES: dict[str, tuple[float, float]] = {
    "ALP": (1, 5000), "ALT": (1, 20000), "AST": (1, 30000), "Albumin": (0.5, 7), "BUN": (0.5, 300),
    "Bilirubin": (0, 80), "Cholesterol": (20, 800), "Creatinine": (0.05, 30), "DiasABP": (1, 250),
    "FiO2": (0.21, 1), "GCS": (3, 15), "Glucose": (5, 2000), "HCO3": (2, 60), "HCT": (5, 75), "HR": (1, 300),
    "K": (1, 12), "Lactate": (0.1, 40), "MAP": (1, 300), "MechVent": (0, 1), "Mg": (0.2, 10),
    "NIDiasABP": (1, 250), "NIMAP": (1, 300), "NISysABP": (1, 300), "Na": (90, 200), "PaCO2": (5, 200),
    "PaO2": (10, 800), "Platelets": (1, 2500), "RespRate": (1, 100), "SaO2": (20, 100), "SysABP": (1, 300),
    "Temp": (25, 45), "TroponinI": (0, 500), "TroponinT": (0, 100), "Urine": (0, 12000), "WBC": (0.05, 300),
    "Weight": (20, 350), "pH": (6.3, 8.0),
    "static:Age": (15, 120), "static:Height": (100, 250), "static:Weight": (20, 350),
}

DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("temp_fahrenheit_to_celsius", ("Temp",), _between(80, 113), "convert",
         "Temperatures of 80-113 are degrees Fahrenheit (26.7-45 °C); converted with (F - 32) * 5/9.",
         convert=lambda v: (v - 32.0) * 5.0 / 9.0),
    Rule("ph_hundredfold_rescaled", ("pH",), _between(630, 800), "convert",
         "pH written without the decimal point (735 for 7.35); divided by 100.", convert=lambda v: v / 100.0),
    Rule("fio2_percent_to_fraction", ("FiO2",), _between(21, 100), "convert",
         "FiO2 given in percent (21-100); divided by 100 to a fraction.", convert=lambda v: v / 100.0),
    Rule("height_metres_to_cm", ("static:Height",), _between(1.0, 2.5), "convert",
         "Heights of 1.0-2.5 are metres; multiplied by 100.", convert=lambda v: v * 100.0),
    Rule("pressure_or_rate_zero_removed", ("HR", "RespRate", *_PRESSURES), lambda v: v <= 0, "remove",
         "A heart rate, respiratory rate or blood pressure <= 0 is a disconnected or flushed sensor, not a patient."),
    Rule("weight_zero_removed", ("Weight", "static:Weight"), lambda v: v <= 0, "remove",
         "A weight <= 0 kg is a placeholder, not a measurement."),
    Rule("temp_below_25C_removed", ("Temp",), lambda v: v < 25, "remove",
         "Core temperature below 25 °C (e.g. -17.8 °C = 0 °F) is a probe artefact."),
    *(Rule("outside_physical_range_removed", (p,), _outside(lo, hi), "remove",
           "Value outside the physically possible range for this variable (see PHYSICAL_RANGES).")
      for p, (lo, hi) in PHYSICAL_RANGES.items()),
)


@dataclass
class CleaningReport:
    """What the cleaning changed.

    Attributes
    ----------
    counts
        Rows ``{"rule", "parameter", "action", "n"}`` for every rule that matched.
    n_values
        Number of measurements and descriptor values inspected.
    rules
        ``{name: why}`` of every rule in force, matched or not.
    """

    counts: list[dict[str, object]] = field(default_factory=list)
    n_values: int = 0
    rules: dict[str, str] = field(default_factory=dict)

    @property
    def n_changed(self) -> int:
        return int(sum(int(c["n"]) for c in self.counts))  # type: ignore[call-overload]

    def as_dict(self) -> dict[str, object]:
        return {"n_values": self.n_values, "n_changed": self.n_changed, "counts": self.counts, "rules": self.rules}


def _apply(values: np.ndarray, params: np.ndarray, keep: np.ndarray, rule: Rule, p: str, report: CleaningReport,
           strict: bool, where: Callable[[int], str]) -> None:
    sel = (params == p) & keep & ~np.isnan(values)
    if not sel.any():
        return
    hit = np.zeros_like(sel)
    hit[sel] = rule.match(values[sel])
    n = int(hit.sum())
    if n == 0:
        return
    if rule.action == "remove":
        if strict:
            i = int(np.flatnonzero(hit)[0])
            raise DataError(f"{p} = {values[i]:g} matches cleaning rule '{rule.name}': {rule.why}", where=where(i),
                            fix="correct the value at the source, or run without strict cleaning to remove it "
                                "(the removal is counted in the run report)")
        keep &= ~hit
    else:
        assert rule.convert is not None
        values[hit] = rule.convert(values[hit])
    report.counts.append({"rule": rule.name, "parameter": p, "action": rule.action, "n": n})


def clean_records(recs: PhysioNetRecords, *, rules: tuple[Rule, ...] = DEFAULT_RULES,
                  strict: bool = False) -> tuple[PhysioNetRecords, CleaningReport]:
    """Apply ``rules`` in order to the measurements and descriptors of ``recs``.

    Returns a new :class:`PhysioNetRecords` (the input is not modified) and the report.
    Removed measurements are dropped from ``long``; removed descriptors become NaN.
    """
    report = CleaningReport(rules={r.name: r.why for r in rules})
    long = recs.long
    values = long["value"].to_numpy(dtype=float).copy()
    params = long["parameter"].to_numpy()
    keep = np.ones(len(long), dtype=bool)
    rid = long["record_id"].to_numpy()
    mins = long["minutes"].to_numpy()

    def where_long(i: int) -> str:
        return f"record {rid[i]}, {mins[i] // 60:02d}:{mins[i] % 60:02d}, {params[i]}"

    static = recs.static.copy()
    s_long = static.reset_index().melt(id_vars="record_id", var_name="parameter", value_name="value")
    s_vals = s_long["value"].to_numpy(dtype=float).copy()
    s_params = ("static:" + s_long["parameter"]).to_numpy()
    s_keep = np.ones(len(s_long), dtype=bool)
    s_rid = s_long["record_id"].to_numpy()

    def where_static(i: int) -> str:
        return f"record {s_rid[i]}, descriptor {s_params[i][7:]} at 00:00"

    for rule in rules:
        for p in rule.parameters:
            if p.startswith("static:"):
                _apply(s_vals, s_params, s_keep, rule, p, report, strict, where_static)
            else:
                _apply(values, params, keep, rule, p, report, strict, where_long)
    report.n_values = int(len(long) + np.isfinite(s_vals).sum())
    new_long = long.assign(value=values)[keep].reset_index(drop=True)
    s_vals[~s_keep] = np.nan
    s_long["value"] = s_vals
    new_static = s_long.pivot(index="record_id", columns="parameter", values="value")
    new_static = new_static.reindex(index=static.index, columns=static.columns)
    out = PhysioNetRecords(new_long, new_static, recs.outcomes, list(recs.files), dict(recs.n_missing_descriptors))
    return out, report


def cleaning_table(report: CleaningReport) -> pd.DataFrame:
    """Counts as a table sorted by rule then parameter (for HTML reports)."""
    if not report.counts:
        return pd.DataFrame(columns=["rule", "parameter", "action", "n"])
    return pd.DataFrame(report.counts).groupby(["rule", "parameter", "action"], as_index=False)["n"].sum()
