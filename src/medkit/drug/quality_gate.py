"""Data-quality gate for property-model training: duplicate molecules and conflicting labels.

Runs :func:`medkit.quality.check_smiles` on the *standardised* (canonical) SMILES, because two differently
written SMILES of one molecule are the same training example. Real MoleculeNet sets contain such repeats
(ESOL: 11 extra copies, 6 molecules with different solubility values; BBBP: 73 extra copies, 11 molecules with
both classes), so the default rule is a named, counted merge rather than a refusal:

``duplicates="merge"`` (default)
    Rows with the same canonical SMILES become one molecule. Regression: the mean of the replicate values
    (standard practice for replicate measurements; the largest spread is reported). Classification: the
    majority class; a tie is masked (NaN, excluded from that task's loss and metrics). Conflicts in more than
    ``max_conflict_fraction`` of molecules (default 1%) are an *error*: that many contradictions means a
    mis-joined table, not measurement noise.
``duplicates="refuse"``
    No merge; any conflicting label is an error (the gate refuses).

The findings are written as ``quality.json`` / ``quality.html`` in the run directory, then
:func:`medkit.quality.gate` refuses on errors (and on warnings unless ``allow_warnings``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["QualityGateResult", "quality_gate"]

DuplicateRule = Literal["merge", "refuse"]


@dataclass
class QualityGateResult:
    """The molecules to train on after the gate, and what the gate found.

    Attributes
    ----------
    smiles
        (m,) canonical SMILES, one per molecule.
    y
        (m, T) labels (NaN = missing / masked tie).
    report
        The :class:`medkit.quality.QualityReport` the gate judged (written to ``quality.json``/``.html``).
    merge
        Counts of the merge rule: ``rows_in``, ``molecules_out``, ``rows_merged``, ``conflicting_molecules``,
        ``masked_ties``, ``max_spread`` (regression, label units).
    """

    smiles: list[str]
    y: np.ndarray
    report: Any
    merge: dict[str, Any]


def _merge(smiles: list[str], y: np.ndarray, tasks: list[str], task_type: str) -> tuple[list[str], np.ndarray,
                                                                                          dict[str, Any]]:
    df = pd.DataFrame(y, columns=tasks)
    df.insert(0, "smiles", smiles)
    g = df.groupby("smiles", sort=False)
    sizes = g.size()
    n_conf, n_ties, spread = 0, 0, 0.0
    out = np.full((len(sizes), len(tasks)), np.nan)
    for i, (_, grp) in enumerate(g):
        vals = grp[tasks].to_numpy(float)
        conflict = False
        for j in range(len(tasks)):
            v = vals[~np.isnan(vals[:, j]), j]
            if len(v) == 0:
                continue
            if np.ptp(v) > 0:
                conflict = True
            if task_type == "regression":
                out[i, j] = float(v.mean())
                spread = max(spread, float(np.ptp(v)))
            else:
                ones = int((v == 1).sum())
                if 2 * ones == len(v):
                    n_ties += 1  # tie: no majority, the label is unknown → masked
                else:
                    out[i, j] = float(2 * ones > len(v))
        n_conf += conflict
    merge = {"rule": "mean of replicates" if task_type == "regression" else "majority class, ties masked",
             "rows_in": len(smiles), "molecules_out": len(sizes), "rows_merged": int(len(smiles) - len(sizes)),
             "conflicting_molecules": n_conf, "masked_ties": n_ties,
             "max_spread": spread if task_type == "regression" else None}
    return [str(s) for s in sizes.index], out, merge


def quality_gate(smiles: list[str], y: np.ndarray, tasks: list[str], task_type: str, *, source: str,
                 out_dir: Path | None = None, duplicates: DuplicateRule = "merge",
                 max_conflict_fraction: float = 0.01, allow_warnings: bool = False) -> QualityGateResult:
    """Check, (by default) merge duplicate molecules, write the quality report, and refuse on blocking findings.

    Parameters
    ----------
    smiles, y
        (n,) standardised SMILES of the valid rows and their (n, T) labels.
    tasks, task_type
        Label names and ``"regression"`` / ``"classification"``.
    source
        Name used in findings (dataset name or CSV file).
    out_dir
        Where ``quality.json`` and ``quality.html`` go (the run directory); ``None`` writes nothing.
    duplicates
        ``"merge"`` or ``"refuse"`` (see module docstring).

    Raises
    ------
    ValidationError
        Through :func:`medkit.quality.gate`, naming the finding, where it is and how to fix it.
    """
    from medkit.quality import Finding, check_smiles, gate

    df = pd.DataFrame(np.asarray(y, float), columns=tasks)
    df.insert(0, "smiles", smiles)
    raw = check_smiles(df, source, tasks)
    if duplicates == "refuse":
        rep, smi, Y = raw, list(smiles), np.asarray(y, float)
        merge: dict[str, Any] = {"rule": "refuse", "rows_in": len(smiles), "molecules_out": len(smiles)}
    else:
        smi, Y, merge = _merge(list(smiles), np.asarray(y, float), tasks, task_type)
        m2 = pd.DataFrame(Y, columns=tasks)
        m2.insert(0, "smiles", smi)
        rep = check_smiles(m2, source, tasks)
        rep.tables["duplicates_before_merge"] = raw.tables.get("duplicates", [])
        rep.tables["merge"] = [merge]
        frac = merge["conflicting_molecules"] / max(merge["molecules_out"], 1)
        if merge["rows_merged"]:
            spread = f"; largest spread {merge['max_spread']:.3g}" if merge["max_spread"] is not None else ""
            rep.add(Finding("duplicates", "info",
                            f"{merge['rows_merged']} duplicate row(s) merged into {merge['molecules_out']} molecules "
                            f"({merge['rule']}); {merge['conflicting_molecules']} molecule(s) had conflicting labels"
                            f"{spread}; {merge['masked_ties']} tie(s) masked",
                            where=f"{source}: canonical SMILES", fix="pass duplicates='refuse' to refuse instead",
                            value=float(merge["rows_merged"])))
        if frac > max_conflict_fraction:
            rep.add(Finding("duplicates", "error",
                            f"{merge['conflicting_molecules']} of {merge['molecules_out']} molecules ({frac:.1%}) carry "
                            f"conflicting labels, above the {max_conflict_fraction:.0%} tolerance: the table is likely "
                            "mis-joined", where=f"{source}: label column(s) {', '.join(tasks)}",
                            fix="check how labels were joined to structures; resolve the conflicts before training",
                            value=frac))
    if out_dir is not None:
        rep.write_json(out_dir / "quality.json")
        rep.write_html(out_dir / "quality.html", title=f"Data quality: {source}")
    gate(rep, allow_warnings=allow_warnings)
    return QualityGateResult(smi, Y, rep, merge)
