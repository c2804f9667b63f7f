"""Side information for the treatment models: drug fingerprints, cell-line profiles, ACTG 175 covariates.

Morgan fingerprints are computed here (RDKit) rather than imported from ``medkit.drug`` because pillars do not
import each other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from medkit.core.deps import require
from medkit.core.errors import DataError

# Baseline (pre-randomisation) covariates of ACTG 175. Excluded: treat/arms (the treatment), offtrt, cd420,
# cd496, r, cd820, cens, days (post-baseline), pidnum (an identifier), zprior (constant 1 in this copy).
ACTG_COVARIATES = ["age", "wtkg", "hemo", "homo", "drugs", "karnof", "oprior", "z30", "preanti", "race", "gender",
                   "str2", "strat", "symptom", "cd40", "cd80"]
ACTG_ARMS = {0: "ZDV", 1: "ZDV+ddI", 2: "ZDV+zal", 3: "ddI"}


def morgan_fingerprints(smiles: Sequence[str], *, radius: int = 2, n_bits: int = 1024) -> np.ndarray:
    """(n, n_bits) 0/1 float32 Morgan (ECFP-like) fingerprints.

    Raises
    ------
    DataError
        If a SMILES string does not parse (names its position).
    """
    require("rdkit", "treatment")
    from rdkit import Chem, RDLogger
    from rdkit.Chem import rdFingerprintGenerator

    RDLogger.DisableLog("rdApp.*")  # type: ignore[attr-defined]
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(smiles), n_bits), dtype=np.float32)
    for j, smi in enumerate(smiles):
        mol = Chem.MolFromSmiles(str(smi)) if isinstance(smi, str) else None
        if mol is None:
            raise DataError(f"SMILES {smi!r} does not parse", where=f"drug {j}",
                            fix="correct the SMILES or drop the drug")
        out[j] = gen.GetFingerprintAsNumPy(mol).astype(np.float32)
    return out


def cell_line_features(mutations: pd.DataFrame, cell_lines: pd.DataFrame | None = None) -> np.ndarray:
    """(n_lines, 702 + n_lineages) float32: binary mutation profile plus one-hot lineage."""
    parts = [mutations.to_numpy(dtype=np.float32)]
    if cell_lines is not None and "lineage" in cell_lines:
        parts.append(pd.get_dummies(cell_lines["lineage"].fillna("unknown")).to_numpy(dtype=np.float32))
    return np.hstack(parts)


def gdsc2_long(response: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Observed cells of a (lines × drugs) matrix as ((n, 2) int indices, (n,) values), row-major order."""
    R = response.to_numpy(dtype=float)
    obs = np.argwhere(~np.isnan(R))
    return obs.astype(np.int64), R[obs[:, 0], obs[:, 1]]


def gbsg2_treatment_table(df: pd.DataFrame, horizon_days: float = 1095.0) -> tuple[pd.DataFrame, int]:
    """GBSG2 (686 breast-cancer patients) as a treatment table: hormone therapy (``horTh``, text "no"/"yes")
    and ``rfs`` = 1 if recurrence-free at ``horizon_days`` (3 years), 0 if recurrence/death before it.

    Patients censored before the horizon have no defined outcome and are dropped; the count is returned
    (documented correction: 129 of 686 at 3 years). Covariates are numeric: age, estrec, progrec, pnodes, tsize,
    ``postmeno`` (menostat Post = 1) and ``tgrade`` as 1/2/3. horTh was not fully randomised in GBSG-2, so
    treat the table as observational.
    """
    keep = (df["time"] >= horizon_days) | (df["event"] == 1)
    d = df.loc[keep]
    out = pd.DataFrame({
        "age": d["age"].astype(float), "estrec": d["estrec"].astype(float), "progrec": d["progrec"].astype(float),
        "pnodes": d["pnodes"].astype(float), "tsize": d["tsize"].astype(float),
        "postmeno": (d["menostat"].astype(str) == "Post").astype(float),
        "tgrade": d["tgrade"].astype(str).map({"I": 1.0, "II": 2.0, "III": 3.0}),
        "horTh": d["horTh"].astype(str),
        "rfs": (d["time"] >= horizon_days).astype(float),
    }).reset_index(drop=True)
    return out, int((~keep).sum())
