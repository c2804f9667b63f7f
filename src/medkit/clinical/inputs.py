"""Reading what the clinical workflows consume: registered datasets, CSV tables, PhysioNet records.

Three task kinds:

* ``icu`` — PhysioNet-2012-format records (``physionet2012-a``/``-b``, a folder of
  ``<RecordID>.txt`` files, or a long CSV ``record_id,Time,Parameter,Value``);
* ``binary`` — a table of numeric features and a 0/1 label (``wdbc`` or a CSV);
* ``survival`` — a table of covariates with time (> 0) and event (0/1) (``veteran``,
  ``whas500``, ``gbsg2``, ``actg320`` or a CSV).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medkit.clinical.cleaning import CleaningReport, clean_records
from medkit.core.errors import ConfigError, DataError, SchemaError
from medkit.data.physionet import HEADER, PhysioNetRecords, _assemble, _parse_record, read_records_dir


@dataclass
class ClinicalData:
    """Loaded input of one task.

    ``X`` is a DataFrame (binary/survival) or cleaned :class:`PhysioNetRecords` (icu);
    ``y`` the 0/1 labels (binary/icu), ``time``/``event`` for survival, ``ids`` patient ids.
    """

    task: str
    X: Any
    ids: np.ndarray
    y: np.ndarray | None = None
    time: np.ndarray | None = None
    event: np.ndarray | None = None
    provenance: list[dict[str, Any]] = field(default_factory=list)
    cleaning: CleaningReport | None = None
    name: str = ""

    def take(self, idx: np.ndarray) -> ClinicalData:
        ids = self.ids[idx]
        X = self.X.subset(ids) if isinstance(self.X, PhysioNetRecords) else self.X.iloc[idx]
        pick = (lambda a: None if a is None else a[idx])  # noqa: E731
        return ClinicalData(self.task, X, ids, pick(self.y), pick(self.time), pick(self.event), self.provenance,
                            self.cleaning, self.name)


#: Columns of registered data sets that are recorded after the outcome starts; never used as features.
POST_OUTCOME: dict[str, list[str]] = {"whas500": ["los"]}


def task_of_dataset(name: str) -> str:
    from medkit.data import dataset_info

    info = dataset_info(name)
    if info.task == "sequence-binary":
        return "icu"
    if info.task in {"binary", "survival"}:
        return info.task
    raise ConfigError(f"dataset '{name}' is a {info.task} task; the clinical workflow handles ICU series, "
                      "binary diagnosis and survival", where="dataset",
                      fix="use physionet2012-a/-b, wdbc, veteran, whas500, gbsg2 or a CSV")


def load_registered(name: str, *, data_dir: Path | None = None, limit: int | None = None,
                    strict_cleaning: bool = False) -> ClinicalData:
    from medkit.data import load_dataset

    task = task_of_dataset(name)
    kw = {"limit": limit} if task == "icu" and limit else {}
    ds = load_dataset(name, data_dir=data_dir, **kw)
    prov = [ds.provenance()]
    if task == "icu":
        recs, rep = clean_records(ds.data, strict=strict_cleaning)
        return ClinicalData("icu", recs, recs.record_ids, y=recs.y, provenance=prov, cleaning=rep, name=name)
    if task == "binary":
        return ClinicalData("binary", ds.X.reset_index(drop=True), np.asarray(ds.groups), y=np.asarray(ds.y),
                            provenance=prov, name=name)
    # columns known only after the outcome (whas500 'los' = length of the hospital stay, which ends at discharge
    # or in-hospital death) would leak follow-up into the risk score; the quality gate flags them
    X = ds.X.drop(columns=[c for c in POST_OUTCOME.get(name, []) if c in ds.X.columns]).reset_index(drop=True)
    return ClinicalData("survival", X, np.arange(len(X)), time=np.asarray(ds.extra["time"], float),
                        event=np.asarray(ds.extra["event"]).astype(int), provenance=prov, name=name)


def load_csv_table(path: Path, *, label: str | None = None, time_column: str | None = None,
                   event_column: str | None = None, id_column: str | None = None) -> ClinicalData:
    """A wide CSV: binary (``label``) or survival (``time_column`` + ``event_column``); no label for predict."""
    from medkit.core.hashing import sha256_file
    from medkit.data.tabular import read_csv, validate_table

    raw = read_csv(path)
    targets = [c for c in (label, time_column, event_column, id_column) if c]
    df = validate_table(raw, label=label, id_column=id_column, source=str(path), binary_label=label is not None,
                        numeric=[c for c in raw.columns if c not in targets and pd.api.types.is_numeric_dtype(raw[c])])
    ids = df[id_column].to_numpy() if id_column else np.arange(len(df))
    if id_column and pd.Series(ids).duplicated().any():
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
        raise SchemaError(f"patient id {dup!r} occurs in more than one row", where=f"{path}: column '{id_column}'",
                          fix="one row per patient (aggregate repeated visits first)")
    X = df.drop(columns=targets).reset_index(drop=True)
    prov = [{"name": Path(path).name, "source": str(path), "sha256": sha256_file(path), "n_rows": len(df)}]
    if time_column or event_column:
        for c in (time_column, event_column):
            if c is None or c not in df.columns:
                raise SchemaError(f"survival CSV needs both time and event columns (missing {c!r})", where=str(path),
                                  fix="pass --time-column and --event-column")
        from medkit.clinical.survival_metrics import check_survival

        t, e = check_survival(pd.to_numeric(df[time_column], errors="coerce").to_numpy(),
                              df[event_column].to_numpy(), where=f"{path}: columns '{time_column}'/'{event_column}'")
        return ClinicalData("survival", X, ids, time=t, event=e.astype(int), provenance=prov, name=Path(path).name)
    y = df[label].to_numpy().astype(int) if label else None
    return ClinicalData("binary", X, ids, y=y, provenance=prov, name=Path(path).name)


def records_from_long_csv(path: Path) -> PhysioNetRecords:
    """A long CSV ``record_id,Time,Parameter,Value`` (one row per value, descriptors at 00:00) → records.

    Each record is validated exactly like a record file; errors name the CSV line.
    """
    from medkit.data.tabular import read_csv

    df = read_csv(path, dtype=str, keep_default_na=False)
    cols = {c.lower(): c for c in df.columns}
    need = ["record_id", "time", "parameter", "value"]
    if not all(c in cols for c in need):
        raise SchemaError(f"long CSV needs columns {need}, found {list(df.columns)}", where=str(path),
                          fix="one row per measurement: record_id,Time,Parameter,Value (Time as hh:mm)")
    df = df.rename(columns={cols[c]: c for c in need})
    parsed = []
    for rid, g in df.groupby("record_id", sort=True):
        lines = [HEADER] + [f"{t},{p},{v}" for t, p, v in zip(g["time"], g["parameter"], g["value"], strict=True)]
        has_id = (g["parameter"] == "RecordID").any()
        if not has_id:
            lines.insert(1, f"00:00,RecordID,{rid}")
        try:
            parsed.append(_parse_record("\n".join(lines), f"{path} record {rid}", int(rid)))
        except ValueError:
            raise DataError(f"record_id {rid!r} is not an integer", where=str(path), fix="use numeric record ids") from None
        except DataError as exc:
            # translate the record-local line to the CSV line (header + offset of the record's rows)
            local = int(str(exc.where).rsplit(":", 1)[-1]) if exc.where and ":" in str(exc.where) else None
            rows = g.index.to_numpy()
            k = (local - 2 - (0 if has_id else 1)) if local else None
            where = f"{path}:{rows[k] + 2}" if k is not None and 0 <= k < len(rows) else f"{path} record {rid}"
            raise DataError(exc.what, where=where, fix=exc.fix) from None
    if not parsed:
        raise DataError("CSV holds no rows", where=str(path), fix="add measurements")
    return _assemble(parsed, [Path(path)], None)


def load_records_input(path: Path, *, strict_cleaning: bool = False) -> tuple[PhysioNetRecords, CleaningReport]:
    """Records for prediction: a directory of ``<RecordID>.txt`` files, one such file, or a long CSV."""
    p = Path(path)
    if p.is_dir():
        recs = read_records_dir(p)
    elif p.suffix.lower() == ".csv":
        recs = records_from_long_csv(p)
    elif p.is_file():
        from medkit.data.physionet import _id_from_name

        recs = _assemble([_parse_record(p.read_text(encoding="utf-8"), str(p), _id_from_name(p.name))], [p], None)
    else:
        raise DataError(f"input not found: {p}", where=str(p), fix="pass a CSV, a record file or a folder of records")
    return clean_records(recs, strict=strict_cleaning)
