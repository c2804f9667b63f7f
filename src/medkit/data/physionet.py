"""Reader for the PhysioNet/CinC Challenge 2012 original per-patient text format.

Each record is a text file ``<RecordID>.txt``::

    Time,Parameter,Value
    00:00,RecordID,132539
    00:00,Age,54
    00:00,Gender,0
    00:00,Height,-1          <- descriptors at 00:00; -1 means missing
    00:00,ICUType,4
    00:00,Weight,-1
    00:07,GCS,15             <- irregular measurements, time hh:mm since admission
    ...

Sets A and B ship as ``set-a.tar.gz`` / ``set-b.tar.gz`` (members ``set-a/<id>.txt``)
with ``Outcomes-a.txt`` / ``Outcomes-b.txt``; they are read straight from the tar.

What this module does, and does not, do to the values
-----------------------------------------------------
* ``-1`` in a descriptor (Age, Gender, Height, ICUType, the 00:00 Weight) becomes
  NaN: that is the format's documented missing code, counted in ``n_missing_descriptors``.
* Measurement values are kept exactly as written; physiologically impossible values
  are handled by the named cleaning rules in :mod:`medkit.clinical.cleaning`.
* An unknown parameter name, an unparsable or negative time, a non-numeric value,
  a RecordID that differs from the file name, or a repeated descriptor raises
  :class:`~medkit.core.errors.DataError` naming the file and line (1-based, header = line 1).
"""

from __future__ import annotations

import itertools
import re
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from medkit.core.errors import DataError

#: The 37 time-series variables of the challenge (Weight is both a descriptor at 00:00 and a series).
PARAMETERS: tuple[str, ...] = (
    "ALP", "ALT", "AST", "Albumin", "BUN", "Bilirubin", "Cholesterol", "Creatinine", "DiasABP", "FiO2",
    "GCS", "Glucose", "HCO3", "HCT", "HR", "K", "Lactate", "MAP", "MechVent", "Mg", "NIDiasABP", "NIMAP",
    "NISysABP", "Na", "PaCO2", "PaO2", "Platelets", "RespRate", "SaO2", "SysABP", "Temp", "TroponinI",
    "TroponinT", "Urine", "WBC", "Weight", "pH",
)
#: Static descriptors (RecordID is the key, not a feature).
DESCRIPTORS: tuple[str, ...] = ("Age", "Gender", "Height", "ICUType", "Weight")
OUTCOME_COLUMNS: tuple[str, ...] = ("SAPS-I", "SOFA", "Length_of_stay", "Survival", "In-hospital_death")
_ONCE = {"RecordID", "Age", "Gender", "Height", "ICUType"}
_KNOWN = set(PARAMETERS) | _ONCE
_TIME_RE = re.compile(r"^(\d{1,3}):(\d{2})$")
HEADER = "Time,Parameter,Value"


@dataclass
class PhysioNetRecords:
    """Records read from PhysioNet-2012-format files.

    Attributes
    ----------
    long
        One row per measurement: ``record_id`` (int), ``minutes`` (int, since ICU
        admission), ``parameter`` (str, one of :data:`PARAMETERS`), ``value`` (float,
        as written). Sorted by record, time, parameter.
    static
        One row per record (index ``record_id``): Age (years), Gender (0 female / 1 male),
        Height (cm), ICUType (1 coronary care, 2 cardiac surgery recovery, 3 medical,
        4 surgical), Weight (kg, at admission); NaN where the file says -1.
    outcomes
        One row per record (index ``record_id``) with :data:`OUTCOME_COLUMNS`, or
        ``None`` when read without an outcomes file. ``Survival`` keeps -1 (= not
        known to have died) as in the source; ``In-hospital_death`` is 0/1.
    files
        The files read (tarball/outcomes or record files), for checksums.
    n_missing_descriptors
        How many descriptor values were the missing code -1 (per descriptor).
    """

    long: pd.DataFrame
    static: pd.DataFrame
    outcomes: pd.DataFrame | None
    files: list[Path] = field(default_factory=list)
    n_missing_descriptors: dict[str, int] = field(default_factory=dict)

    @property
    def record_ids(self) -> np.ndarray:
        return self.static.index.to_numpy()

    @property
    def y(self) -> np.ndarray:
        """In-hospital death (0/1) aligned with :attr:`record_ids`."""
        if self.outcomes is None:
            raise DataError("these records were read without an outcomes file", where="PhysioNetRecords.y",
                            fix="read them with an Outcomes-*.txt file")
        return self.outcomes.loc[self.record_ids, "In-hospital_death"].to_numpy().astype(int)

    def subset(self, ids: Iterable[int]) -> PhysioNetRecords:
        """The same records restricted to ``ids`` (order of ``ids`` kept in ``static``)."""
        ids = list(ids)
        idset = set(ids)
        out = None if self.outcomes is None else self.outcomes.loc[ids]
        long = self.long[self.long["record_id"].isin(idset)].reset_index(drop=True)
        return PhysioNetRecords(long, self.static.loc[ids], out, list(self.files), dict(self.n_missing_descriptors))


def _parse_record(text: str, source: str, expected_id: int | None) -> tuple[int, dict[str, float], list[tuple]]:
    """Parse one record file. Returns (record_id, descriptors, [(minutes, parameter, value)])."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != HEADER:
        raise DataError(f"record does not start with the header '{HEADER}'", where=f"{source}:1",
                        fix="pass PhysioNet 2012 challenge records (Time,Parameter,Value)")
    desc: dict[str, float] = {}
    rows: list[tuple] = []
    record_id: int | None = None
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != 3:
            raise DataError(f"expected 3 comma-separated fields, found {len(parts)}: {line[:60]!r}",
                            where=f"{source}:{i}", fix="each line must be Time,Parameter,Value")
        t, param, raw = (p.strip() for p in parts)
        m = _TIME_RE.match(t)
        if m is None:
            if t.startswith("-"):
                raise DataError(f"negative time {t!r}", where=f"{source}:{i}",
                                fix="times are hh:mm since ICU admission and cannot be negative")
            raise DataError(f"unparsable time {t!r}", where=f"{source}:{i}", fix="write times as hh:mm, e.g. 07:35")
        hh, mm = int(m.group(1)), int(m.group(2))
        if mm >= 60:
            raise DataError(f"unparsable time {t!r} (minutes >= 60)", where=f"{source}:{i}",
                            fix="write times as hh:mm with mm in 00-59")
        minutes = hh * 60 + mm
        if param not in _KNOWN:
            raise DataError(f"unknown parameter {param!r}", where=f"{source}:{i}",
                            fix=f"use the challenge's parameter names: {', '.join(sorted(_KNOWN))}")
        try:
            value = float(raw)
        except ValueError:
            raise DataError(f"non-numeric value {raw[:30]!r} for {param}", where=f"{source}:{i}",
                            fix="values must be numbers (-1 for a missing descriptor)") from None
        if not np.isfinite(value):
            raise DataError(f"non-finite value {raw!r} for {param}", where=f"{source}:{i}", fix="use a finite number")
        # Rows at 00:00 are sorted by name, so the admission Weight can follow measurements at 00:00:
        # the first Weight row at 00:00 is the descriptor, any later one a measurement.
        is_desc = param in _ONCE or (param == "Weight" and minutes == 0 and "Weight" not in desc)
        if is_desc:
            if minutes != 0:
                raise DataError(f"descriptor {param} at {t}; descriptors are only allowed at 00:00",
                                where=f"{source}:{i}", fix="put RecordID/Age/Gender/Height/ICUType at 00:00")
            if param in desc or (param == "RecordID" and record_id is not None):
                raise DataError(f"descriptor {param} appears twice", where=f"{source}:{i}",
                                fix="keep one row per descriptor")
            if param == "RecordID":
                record_id = int(value)
                if expected_id is not None and record_id != expected_id:
                    raise DataError(f"RecordID {record_id} differs from the file name ({expected_id})",
                                    where=f"{source}:{i}", fix="name each file <RecordID>.txt")
            else:
                desc[param] = value
        else:
            rows.append((minutes, param, value))
    if record_id is None:
        if expected_id is None:
            raise DataError("record has no RecordID row", where=source, fix="add '00:00,RecordID,<id>'")
        record_id = expected_id
    return record_id, desc, rows


def _id_from_name(name: str) -> int | None:
    stem = Path(name).stem
    return int(stem) if stem.isdigit() else None


def _assemble(parsed: list[tuple[int, dict[str, float], list[tuple]]], files: list[Path],
              outcomes: pd.DataFrame | None) -> PhysioNetRecords:
    ids = [p[0] for p in parsed]
    if len(set(ids)) != len(ids):
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
        raise DataError(f"RecordID {dup} occurs in more than one file", where=str(files[0]),
                        fix="each patient stay must be one record")
    n = sum(len(p[2]) for p in parsed)
    rec = np.empty(n, dtype=np.int64)
    mins = np.empty(n, dtype=np.int32)
    vals = np.empty(n, dtype=np.float64)
    params: list[str] = []
    k = 0
    for rid, _, rows in parsed:
        m = len(rows)
        rec[k:k + m] = rid
        if m:
            t, p, v = zip(*rows, strict=True)
            mins[k:k + m] = t
            vals[k:k + m] = v
            params.extend(p)
        k += m
    long = pd.DataFrame({"record_id": rec, "minutes": mins, "parameter": params, "value": vals})
    long = long.sort_values(["record_id", "minutes", "parameter"], kind="stable").reset_index(drop=True)
    static = pd.DataFrame([{d: desc.get(d, np.nan) for d in DESCRIPTORS} for _, desc, _ in parsed],
                          index=pd.Index(ids, name="record_id"))
    missing = {d: int((static[d] == -1).sum() + static[d].isna().sum()) for d in DESCRIPTORS}
    static = static.mask(static == -1)  # -1 is the format's missing code for descriptors
    if outcomes is not None:
        absent = sorted(set(ids) - set(outcomes.index))
        if absent:
            raise DataError(f"{len(absent)} records have no outcome row (first: {absent[0]})",
                            where=str(files[-1]), fix="use the outcomes file of the same set")
        outcomes = outcomes.loc[ids]
    return PhysioNetRecords(long, static, outcomes, files, missing)


def read_outcomes(path: str | Path) -> pd.DataFrame:
    """Read ``Outcomes-*.txt`` (``RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death``)."""
    p = Path(path)
    try:
        df = pd.read_csv(p)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot read outcomes file: {exc}", where=str(p), fix="pass an Outcomes-*.txt file") from None
    need = ["RecordID", *OUTCOME_COLUMNS]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DataError(f"outcomes file lacks columns {missing}", where=str(p), fix=f"expected columns {need}")
    bad = ~df["In-hospital_death"].isin([0, 1])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"In-hospital_death must be 0/1, found {df['In-hospital_death'].iloc[row]!r}",
                        where=f"{p}:{row + 2}", fix="correct the outcome value")
    if df["RecordID"].duplicated().any():
        rid = df.loc[df["RecordID"].duplicated(), "RecordID"].iloc[0]
        raise DataError(f"RecordID {rid} has more than one outcome row", where=str(p), fix="keep one row per record")
    return df.set_index("RecordID").rename_axis("record_id")[list(OUTCOME_COLUMNS)]


def read_records_tar(tar_path: str | Path, outcomes_path: str | Path | None = None,
                     limit: int | None = None) -> PhysioNetRecords:
    """Read every ``*.txt`` member of a challenge tarball (optionally only the first ``limit``, by name)."""
    tp = Path(tar_path)
    parsed = []
    try:
        with tarfile.open(tp, "r:gz") as tar:
            if limit is None:
                members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".txt")),
                                 key=lambda m: m.name)
            else:  # stream: stop after `limit` records (the challenge tarballs are name-sorted)
                members = list(itertools.islice((m for m in tar if m.isfile() and m.name.endswith(".txt")), limit))
            for m in members:
                fh = tar.extractfile(m)
                assert fh is not None
                text = fh.read().decode("utf-8")
                parsed.append(_parse_record(text, f"{tp.name}:{m.name}", _id_from_name(m.name)))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot read tarball: {exc}", where=str(tp), fix="re-copy the challenge tarball") from None
    if not parsed:
        raise DataError("tarball holds no record (*.txt) files", where=str(tp), fix="pass set-a.tar.gz or set-b.tar.gz")
    files = [tp]
    outcomes = None
    if outcomes_path is not None:
        outcomes = read_outcomes(outcomes_path)
        files.append(Path(outcomes_path))
    return _assemble(parsed, files, outcomes)


def read_records_dir(directory: str | Path, outcomes_path: str | Path | None = None) -> PhysioNetRecords:
    """Read a directory of ``<RecordID>.txt`` files (the format of a challenge set, unpacked)."""
    d = Path(directory)
    paths = sorted(p for p in d.glob("*.txt") if not p.name.lower().startswith("outcomes"))
    if not paths:
        raise DataError("no record files (*.txt) in directory", where=str(d),
                        fix="pass a folder of PhysioNet 2012 records named <RecordID>.txt")
    parsed = [_parse_record(p.read_text(encoding="utf-8"), str(p), _id_from_name(p.name)) for p in paths]
    outcomes = read_outcomes(outcomes_path) if outcomes_path is not None else None
    files = paths + ([Path(outcomes_path)] if outcomes_path is not None else [])
    return _assemble(parsed, files, outcomes)


def read_record_text(text: str, source: str = "<record>") -> PhysioNetRecords:
    """Parse a single record given as text (e.g. an upload)."""
    return _assemble([_parse_record(text, source, None)], [], None)


_STATS = ("min", "max", "mean", "first", "last", "count")


def summary_features(long_df: pd.DataFrame, static: pd.DataFrame | None = None,
                     record_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Per-variable summaries of each record's series: one row per ``record_id``.

    Parameters
    ----------
    long_df
        ``record_id, minutes, parameter, value`` as in :attr:`PhysioNetRecords.long`.
    static
        Optional descriptors (index ``record_id``) appended as columns.
    record_ids
        Row order; records without any measurement get NaN summaries and count 0.

    Returns
    -------
    DataFrame
        Columns ``<Parameter>_<stat>`` for stat in min/max/mean/first/last/count for
        every one of the 37 :data:`PARAMETERS` (NaN where never measured; count 0),
        then the descriptors. Index ``record_id``.
    """
    df = long_df.sort_values(["record_id", "minutes"], kind="stable")
    g = df.groupby(["record_id", "parameter"], sort=True)["value"]
    agg = g.agg(["min", "max", "mean", "first", "last", "count"])
    wide = agg.unstack("parameter")  # columns (stat, parameter)
    cols = pd.MultiIndex.from_product([_STATS, PARAMETERS])
    wide = wide.reindex(columns=cols)
    wide.columns = [f"{p}_{s}" for s, p in wide.columns]
    order = [f"{p}_{s}" for p in PARAMETERS for s in _STATS]
    wide = wide[order]
    if record_ids is None:
        record_ids = static.index if static is not None else wide.index
    wide = wide.reindex(pd.Index(list(record_ids), name="record_id"))
    count_cols = [c for c in wide.columns if c.endswith("_count")]
    wide[count_cols] = wide[count_cols].fillna(0)
    if static is not None:
        wide = wide.join(static[list(DESCRIPTORS)].add_prefix("static_"))
    return wide
