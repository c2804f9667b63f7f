"""``check_dataset(name)``: run the checks that apply to a registered dataset, whatever its task.

* tabular (``binary``/``regression`` with ``X``/``y``): every table check, with its declared schema;
* ``survival``: table checks with the event indicator as label (time is outcome, not a feature);
* ``sequence-binary`` (PhysioNet 2012): per-stay summaries + descriptors + the outcomes file, so that the
  post-outcome columns of the release (Length_of_stay, Survival) are screened;
* ``treatment-effect`` (ACTG 175): table checks with follow-up columns declared post-outcome;
* ``image-binary``: byte-identical images (sha256) within and across classes;
* molecule sets (SMILES): duplicate and conflicting SMILES;
* anything else: a report saying which checks do not apply.

``against`` adds a second dataset as a split (e.g. PhysioNet set B against set A) for overlap and shift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medkit.core.hashing import sha256_file
from medkit.quality.report import Finding, QualityReport
from medkit.quality.runner import check_table, check_xy
from medkit.quality.schema import SCHEMAS, ColumnSpec, TableSchema

# Measured during follow-up (CD4/CD8 at 20 and 96 weeks, off-treatment, follow-up time): never baseline features.
_ACTG175_POST = ("cd420", "cd496", "r", "cd820", "offtrt", "days")


def _physionet_table(ds: Any) -> pd.DataFrame:
    from medkit.data.physionet import summary_features

    recs = ds.data
    wide = summary_features(recs.long, recs.static)
    out = recs.outcomes.loc[wide.index]
    df = wide.join(out)
    df.insert(0, "record_id", df.index.to_numpy())
    return df


def _table_of(ds: Any) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """The table to check and ``check_table`` keyword arguments, or None if the dataset is not tabular."""
    task = ds.info.task
    name = ds.info.name
    if name.startswith("physionet2012"):
        return _physionet_table(ds), {"schema": SCHEMAS.get("physionet2012"), "task": "binary"}
    if task == "survival" and isinstance(ds.X, pd.DataFrame):
        df = ds.X.copy()
        df["event"] = np.asarray(ds.extra["event"], dtype=int)
        return df, {"label": "event", "task": "binary"}
    if task == "treatment-effect" and isinstance(ds.data, pd.DataFrame) and "pidnum" in ds.data.columns:
        cols = [ColumnSpec(c, role="post_outcome", required=False) for c in _ACTG175_POST]
        schema = TableSchema("actg175", (ColumnSpec("pidnum", "int", role="id"),
                                         ColumnSpec("cens", "int", categories=(0, 1), role="label"),
                                         ColumnSpec("arms", "int", categories=(0, 1, 2, 3), role="attribute"),
                                         *cols))
        return ds.data, {"schema": schema, "task": "binary"}
    if isinstance(ds.X, pd.DataFrame) and ds.y is not None:
        df = ds.X.copy()
        label = getattr(ds.y, "name", None) or "label"
        df[label] = np.asarray(ds.y)
        kw: dict[str, Any] = {"label": label, "task": "regression" if task == "regression" else "binary"}
        if ds.groups is not None and len(ds.groups) == len(df):
            df["patient_id"] = np.asarray(ds.groups)
            kw["id_column"] = "patient_id"
        if name in SCHEMAS:
            kw["schema"] = SCHEMAS.get(name)
        return df, kw
    return None


def _smiles_of(ds: Any) -> pd.DataFrame | None:
    data = ds.data
    if isinstance(data, list) and data and isinstance(data[0], str):
        return pd.DataFrame({"smiles": data})
    if isinstance(data, pd.DataFrame):
        for c in data.columns:
            if str(c).lower() in {"smiles", "mol", "canonical_smiles"}:
                return data.rename(columns={c: "smiles"})
    return None


def _near_duplicate_images(paths: list[Path], labels: np.ndarray, source: str, rep: QualityReport,
                           max_distance: int = 2) -> list[Finding]:
    """Pairs whose 64-bit perceptual hashes (imagehash.phash) differ in <= ``max_distance`` bits: resized,
    re-encoded or lightly edited copies. Similar-looking slices of different patients can also match, hence a
    warning, with example file pairs for a human to look at."""
    from PIL import Image

    from medkit.core.deps import require

    imagehash = require("imagehash", "imaging")
    bits = np.zeros((len(paths), 64), dtype=np.uint8)
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            bits[i] = imagehash.phash(im.convert("L")).hash.reshape(-1)
    packed = np.packbits(bits, axis=1).view(">u8").reshape(-1)  # (n,) uint64
    pairs = []
    for i in range(len(packed) - 1):  # O(n^2 / 2) XOR + popcount, vectorised per row
        d = np.unpackbits((packed[i] ^ packed[i + 1:]).view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        for j in np.flatnonzero(d <= max_distance):
            pairs.append((i, i + 1 + int(j)))
    cross = [(i, j) for i, j in pairs if labels[i] != labels[j]]
    rep.tables["near_duplicates"] = [{"hash": "phash 64-bit", "max Hamming distance": max_distance,
                                      "pairs": len(pairs), "pairs with different labels": len(cross)}]
    rep.checks_run.append("near_duplicates")
    out = []
    if pairs:
        ex = ", ".join(f"{paths[i].name}~{paths[j].name}" for i, j in (cross or pairs)[:3])
        out.append(Finding("duplicates", "warning", f"{len(pairs)} image pair(s) are near-identical (perceptual "
                           f"hash), {len(cross)} of them with different labels", where=f"{source}: e.g. {ex}",
                           fix="look at the pairs; drop copies and split by patient so copies cannot straddle "
                           "train and test", value=float(len(pairs))))
    return out


def check_images(paths: list[Path], labels: np.ndarray, source: str, near: bool = True) -> QualityReport:
    """Byte-identical image files (sha256) within a class (warning) and across classes (error); with ``near``,
    perceptually near-identical pairs too (warning)."""
    rep = QualityReport(source=source, n_rows=len(paths), n_columns=2)
    digests = pd.Series([sha256_file(p) for p in paths])
    df = pd.DataFrame({"sha": digests, "label": labels, "file": [p.name for p in paths]})
    dup = df[df["sha"].duplicated(keep=False)]
    conflict = dup.groupby("sha")["label"].nunique()
    n_conf = int((conflict > 1).sum())
    n_extra = int(df["sha"].duplicated().sum())
    rep.tables["duplicates"] = [{"files": len(df), "distinct images": int(df["sha"].nunique()),
                                 "extra copies": n_extra, "images under both labels": n_conf}]
    if n_conf:
        ex = dup[dup["sha"].isin(conflict[conflict > 1].index)]["file"].tolist()[:4]
        rep.add(Finding("duplicates", "error", f"{n_conf} identical image(s) carry both labels",
                        where=f"{source}: e.g. {', '.join(ex)}", fix="relabel or drop them", value=float(n_conf)))
    if n_extra:
        ex = dup["file"].tolist()[:4]
        rep.add(Finding("duplicates", "warning", f"{n_extra} image file(s) are byte-identical copies of another",
                        where=f"{source}: e.g. {', '.join(ex)}",
                        fix="de-duplicate before splitting, or copies will sit in train and test", value=float(n_extra)))
    if near:
        rep.findings.extend(_near_duplicate_images(paths, np.asarray(labels), source, rep))
    from medkit.quality.checks import class_balance

    f, rows = class_balance(labels, source)
    rep.findings.extend(f)
    rep.tables["class_balance"] = rows
    rep.checks_run += ["duplicates", "class_balance"]
    return rep


def check_smiles(df: pd.DataFrame, source: str, label_cols: list[str] | None = None) -> QualityReport:
    """Duplicate SMILES strings; the same SMILES with different labels is an error."""
    rep = QualityReport(source=source, n_rows=len(df), n_columns=df.shape[1])
    s = df["smiles"].astype(str)
    n_extra = int(s.duplicated().sum())
    rep.tables["duplicates"] = [{"rows": len(s), "distinct SMILES": int(s.nunique()), "extra copies": n_extra}]
    if n_extra:
        first = int(np.flatnonzero(s.duplicated().to_numpy())[0])
        rep.add(Finding("duplicates", "warning", f"{n_extra} SMILES string(s) repeat an earlier row",
                        where=f"{source}: row {df.index[first]}",
                        fix="canonicalise and de-duplicate before a scaffold split", value=float(n_extra)))
    for c in label_cols or []:
        if c in df.columns:
            conflict = df.groupby(s)[c].nunique(dropna=True)
            n = int((conflict > 1).sum())
            if n:
                rep.add(Finding("duplicates", "error", f"{n} SMILES appear with different values of '{c}'",
                                where=f"{source}: column '{c}'", fix="resolve or drop the conflicting measurements",
                                value=float(n)))
    rep.checks_run.append("duplicates")
    return rep


def check_dataset(name: str, data_dir: str | Path | None = None, against: str | None = None,
                  **load_kwargs: Any) -> QualityReport:
    """Load a registered dataset and run the checks that apply to it (see module docstring)."""
    from medkit.data import load_dataset

    ds = load_dataset(name, data_dir=data_dir, **load_kwargs)
    tab = _table_of(ds)
    if tab is not None:
        df, kw = tab
        if against is not None:
            other = _table_of(load_dataset(against, data_dir=data_dir, **load_kwargs))
            if other is not None:
                split = [name] * len(df) + [against] * len(other[0])
                df = pd.concat([df, other[0]], ignore_index=False)
                return check_table(df, split=split, reference_split=name, source=f"{name} vs {against}", **kw)
        return check_table(df, source=name, **kw)
    if ds.info.task == "image-binary" and ds.y is not None:
        return check_images(list(ds.files), np.asarray(ds.y), name)
    smi = _smiles_of(ds)
    if smi is not None:
        labels = [c for c in smi.columns if c != "smiles"]
        return check_smiles(smi, name, labels)
    if isinstance(ds.X, pd.DataFrame):
        return check_xy(ds.X, ds.y, ds.groups, source=name)
    rep = QualityReport(source=name, n_rows=ds.n_rows, n_columns=0)
    rep.add(Finding("applicability", "info", f"no table, image or molecule checks apply to a '{ds.info.task}' "
                    "dataset; its loader validates the format", where=name))
    return rep
