"""Datasets of the drug pillar: the MoleculeNet CSVs (chemprop's 2018 copies) in ``<data dir>/moleculenet``.

Each loader returns a :class:`Dataset` whose ``X`` is the list of SMILES (as written in the file), ``y`` an
``(n, T)`` float array with NaN for missing labels, and ``extra`` = ``{"tasks", "task_type", "smiles_column"}``.
:func:`read_molecule_table` is the checked reader also used for user CSVs (``medkit drug train --csv``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medkit.core.errors import DataError, SchemaError
from medkit.core.logging import get_logger
from medkit.data.paths import require_file
from medkit.data.registry import Dataset, DatasetInfo, register_dataset

log = get_logger("medkit.data.drug_sets")

__all__ = ["MOLECULENET", "MoleculeTable", "read_molecule_table"]

_CITATION = ("Wu Z, Ramsundar B, Feinberg EN, et al. MoleculeNet: a benchmark for molecular machine learning. "
             "Chem Sci 2018;9:513-530. Files as committed by Yang K et al. (chemprop), J Chem Inf Model 2019.")
_LICENCE = ("unknown: no data licence ships with the files; terms come from each upstream source "
            "(see moleculenet/SOURCE.md)")
_URL = "https://github.com/chemprop/chemprop/tree/b83635bcddaddcdb91d453128edec9f2be0d25cf/data"


@dataclass(frozen=True)
class _Spec:
    file: str
    smiles_column: str
    task_type: str  # "regression" | "classification"
    description: str
    sha256: str
    targets: tuple[str, ...] | None = None  # None = every column after the SMILES
    rename: tuple[tuple[str, str], ...] = ()


MOLECULENET: dict[str, _Spec] = {
    "esol": _Spec("delaney.csv", "smiles", "regression",
                  "ESOL aqueous solubility, log(mol/L), 1,128 molecules (Delaney 2004). The file's column is "
                  "named `logp` but holds log-solubility; medkit renames it `log_solubility`.",
                  "887aa5930b0a7e7fcb76a2d25dc0ebe11c23878ca2d8d1e2204ca2c46b175140",
                  rename=(("logp", "log_solubility"),)),
    "freesolv": _Spec("freesolv.csv", "smiles", "regression", "FreeSolv hydration free energy (kcal/mol), 642.",
                      "97d74c86228d4c16c0fbbf063bb8280354d8152db09a85ade8517a2f43bd9824"),
    "lipo": _Spec("lipo.csv", "smiles", "regression", "Lipophilicity logD at pH 7.4 (ChEMBL), 4,200.",
                  "aa9bd9669188e35efd908758a75561bba402016d901fed2d0d949289abbcf31c"),
    "bbbp": _Spec("bbbp.csv", "smiles", "classification", "Blood-brain barrier penetration (binary), 2,039.",
                  "a61e17872cbec0743a6147dc802a1f7550acfe8dc1053f881f4c42a3ce2dc597"),
    "bace": _Spec("bace.csv", "mol", "classification", "BACE-1 inhibition (binary), 1,513.",
                  "847be1e38d3798c60df03e1aaf2ccd0f09f9ed89407de78e80463aa637088532"),
    "clintox": _Spec("clintox.csv", "smiles", "classification", "FDA approval and clinical-trial toxicity, 1,478.",
                     "cc561402d058a0d996a9f5e5d02bc20f6652b7003525b32c3598b8da4b24e9b7"),
    "tox21": _Spec("tox21.csv", "smiles", "classification",
                   "12 Tox21 assays (binary, multitask, missing labels), 7,831.",
                   "b58cc1f683e78e3c7a1bf7116e9aac0119804018d100f7b8cdb0857941c31aca"),
    "sider": _Spec("sider.csv", "smiles", "classification", "27 SIDER side-effect organ classes, 1,427.",
                   "71efc6ac4ca82d6545bc512509863281be0f17234afd7adaf71a71899988302e"),
    "hiv": _Spec("hiv.csv.gz", "smiles", "classification", "HIV replication inhibition (binary), 41,127.",
                 "0a4a7390d6f22035c293e8e0d500655d76233b35f0f68ab128f3ceccdd97a297"),
}


@dataclass
class MoleculeTable:
    """A checked molecule table: SMILES, label matrix with NaN for missing, and the task names."""

    smiles: list[str]
    y: np.ndarray  # (n, T) float, NaN = missing
    tasks: list[str]
    frame: pd.DataFrame
    smiles_column: str


def read_molecule_table(source: str | Path | pd.DataFrame, *, smiles_column: str | None = None,
                        targets: list[str] | None = None, task_type: str | None = None,
                        require_targets: bool = True, name: str | None = None) -> MoleculeTable:
    """Read and check a CSV (or DataFrame) of molecules with labels.

    Parameters
    ----------
    source
        A CSV path (``.csv`` or ``.csv.gz``) or a DataFrame.
    smiles_column
        Column holding SMILES; default ``smiles`` (case-insensitive), then ``mol``/``SMILES``-like names.
    targets
        Label columns; default every other column.
    task_type
        ``"classification"`` additionally checks labels are 0/1.
    require_targets
        ``False`` for prediction input (SMILES only).

    Raises
    ------
    SchemaError
        The SMILES column is missing, a label column is not numeric (names the first bad row), or a binary
        label is not 0/1.
    DataError
        The file cannot be read, or a target column has no labels at all (all NaN).
    """
    where = name or (str(source) if not isinstance(source, pd.DataFrame) else "table")
    if isinstance(source, pd.DataFrame):
        df = source.copy()
    else:
        p = Path(source)
        if not p.is_file():
            raise DataError(f"file not found: {p}", where=str(p), fix="check the path")
        try:
            df = pd.read_csv(p)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise DataError(f"cannot read CSV: {exc}", where=str(p), fix="save the file as comma-separated UTF-8") from None
    col = smiles_column or _guess_smiles_column(df)
    if col is None or col not in df.columns:
        raise SchemaError(f"no SMILES column {'named ' + repr(smiles_column) if smiles_column else 'found'}; "
                          f"columns are {list(df.columns)[:20]}", where=where,
                          fix="name the column 'smiles' or pass --smiles-column <name>")
    tasks = list(targets) if targets else [c for c in df.columns if c != col]
    missing = [t for t in tasks if t not in df.columns]
    if missing:
        raise SchemaError(f"target column(s) {missing} not in the file; columns are {list(df.columns)[:20]}",
                          where=where, fix="pass --target with existing column names")
    if require_targets and not tasks:
        raise SchemaError("the table has a SMILES column but no label column", where=where,
                          fix="add a label column or pass --target")
    y = np.full((len(df), len(tasks)), np.nan)
    for j, t in enumerate(tasks):
        raw = df[t]
        num = pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & num.isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise SchemaError(f"label column {t!r} holds non-numeric values, e.g. {raw.iloc[i]!r}",
                              where=f"{where}: row {i + 2}, column {t!r}",
                              fix="encode labels as numbers (0/1 for classes) and leave missing labels empty")
        if require_targets and num.isna().all():
            raise DataError(f"target column {t!r} has no labels (all values missing)",
                            where=f"{where}: column {t!r}", fix="drop this task or fill in its labels")
        if task_type == "classification":
            vals = set(np.unique(num.dropna().to_numpy()))
            if not vals <= {0.0, 1.0}:
                raise SchemaError(f"classification label {t!r} has values {sorted(vals)[:5]} beyond 0/1",
                                  where=f"{where}: column {t!r}", fix="use 0/1 labels or task_type='regression'")
        y[:, j] = num.to_numpy(dtype=float)
    smiles = ["" if (isinstance(s, float) and np.isnan(s)) else str(s) for s in df[col].tolist()]
    return MoleculeTable(smiles, y, tasks, df, col)


def _guess_smiles_column(df: pd.DataFrame) -> str | None:
    lower = {str(c).lower(): str(c) for c in df.columns}
    for cand in ("smiles", "canonical_smiles", "mol", "molecule"):
        if cand in lower:
            return lower[cand]
    return None


def _make_loader(key: str, spec: _Spec) -> None:
    @register_dataset(key, task="regression" if spec.task_type == "regression" else
                      ("binary" if key in {"bbbp", "bace", "hiv"} else "multitask"),
                      description=spec.description, licence=_LICENCE, citation=_CITATION,
                      source=f"data-dir:moleculenet/{spec.file}", pillar="drug", url=_URL)
    def _load(info: DatasetInfo, data_dir: Any = None, n: int | None = None) -> Dataset:
        path = require_file(f"moleculenet/{spec.file}", info.name, data_dir)
        df = pd.read_csv(path, nrows=n)
        if spec.rename:
            df = df.rename(columns=dict(spec.rename))
        table = read_molecule_table(df, smiles_column=spec.smiles_column, task_type=spec.task_type, name=str(path))
        ds = Dataset(info, table.frame, [path], n_rows=len(table.smiles), X=table.smiles, y=table.y,
                     extra={"tasks": table.tasks, "task_type": spec.task_type, "smiles_column": spec.smiles_column,
                            "expected_sha256": spec.sha256})
        if n is None and ds.checksums.get(path.name) != spec.sha256:
            log.warning("%s differs from the registered copy (sha256 mismatch); results may not be comparable",
                        path.name)
        return ds


for _k, _s in MOLECULENET.items():
    _make_loader(_k, _s)
