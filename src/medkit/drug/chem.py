"""Molecule standardisation: parse, sanitise, strip salts/solvents, neutralise, canonical SMILES.

Invalid input is never dropped silently: :func:`standardise_smiles` returns one entry per input row and an
:class:`InvalidRow` (index + reason) for every row it could not standardise, plus counts of the corrections it
made (salts stripped, charges neutralised), so callers can report them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["InvalidRow", "StandardiseResult", "canonical", "mol_from_smiles", "parse_smiles", "quiet_rdkit",
           "standardise_smiles"]

MAX_HEAVY_ATOMS = 150  # far above drug-like (MOSES ≤ 27; approved drugs rarely > 100); catches polymers/garbage


def quiet_rdkit() -> None:
    """Silence RDKit's stderr logging (we report parse failures per row instead)."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")  # type: ignore[attr-defined]


def mol_from_smiles(smiles: Any) -> Any:
    """RDKit Mol or ``None`` for anything that is not a parseable, sanitisable SMILES string."""
    from rdkit import Chem

    quiet_rdkit()
    if not isinstance(smiles, str) or not smiles.strip():
        return None
    return Chem.MolFromSmiles(smiles)


def canonical(smiles: Any) -> str | None:
    """RDKit canonical SMILES or ``None`` if invalid (the MOSES definition of a valid molecule)."""
    from rdkit import Chem

    mol = mol_from_smiles(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


@dataclass
class InvalidRow:
    """One input that could not be standardised."""

    index: int
    smiles: str
    reason: str


@dataclass
class StandardiseResult:
    """Output of :func:`standardise_smiles`.

    Attributes
    ----------
    smiles
        One entry per input: the standardised canonical SMILES or ``None`` if invalid.
    invalid
        Per-row reports for the ``None`` entries.
    corrections
        Counts of changes made to valid rows: ``salt_stripped``, ``neutralised``, ``changed`` (any change).
    mols
        RDKit molecules per input (``None`` for invalid rows), filled by :func:`parse_smiles` only.
    """

    smiles: list[str | None]
    invalid: list[InvalidRow] = field(default_factory=list)
    corrections: dict[str, int] = field(default_factory=dict)
    mols: list[Any] | None = None  # parsed molecules, one per input (only from parse_smiles)

    @property
    def valid_index(self) -> np.ndarray:
        """Indices (into the input) of the rows that standardised."""
        return np.array([i for i, s in enumerate(self.smiles) if s is not None], dtype=int)

    @property
    def valid_smiles(self) -> list[str]:
        return [s for s in self.smiles if s is not None]

    def summary(self) -> str:
        n = len(self.smiles)
        reasons = Counter(r.reason.split(":")[0] for r in self.invalid)
        txt = f"{n - len(self.invalid)}/{n} molecules standardised"
        if self.invalid:
            txt += "; invalid: " + ", ".join(f"{k} ×{v}" for k, v in reasons.most_common())
        if self.corrections:
            txt += "; corrections: " + ", ".join(f"{k} ×{v}" for k, v in sorted(self.corrections.items()) if v)
        return txt

    def report_rows(self) -> list[dict[str, Any]]:
        """JSON/table-ready per-row report of the invalid inputs."""
        return [{"index": r.index, "smiles": r.smiles, "reason": r.reason} for r in self.invalid]


def _parse_checked(smiles: Any, max_heavy_atoms: int) -> tuple[Any, str]:
    """Parse + sanitise + size check: ``(mol, "")`` or ``(None, reason)``."""
    from rdkit import Chem

    if smiles is None or (isinstance(smiles, float) and np.isnan(smiles)):
        return None, "empty: missing value"
    if not isinstance(smiles, str):
        return None, f"not a string: got {type(smiles).__name__}"
    s = smiles.strip()
    if not s:
        return None, "empty: blank SMILES"
    mol = Chem.MolFromSmiles(s, sanitize=False)
    if mol is None:
        return None, "unparseable: not valid SMILES syntax"
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:  # noqa: BLE001 - RDKit raises several sanitisation exception types
        return None, f"sanitisation failed: {str(exc).strip().splitlines()[0]}"
    heavy = mol.GetNumHeavyAtoms()
    if heavy == 0:
        return None, "empty: no heavy atoms"
    if heavy > max_heavy_atoms:
        return None, f"too large: {heavy} heavy atoms > limit {max_heavy_atoms}"
    return mol, ""


def _standardise_one(smiles: Any, *, strip_salts: bool, neutralise: bool, max_heavy_atoms: int,
                     counts: Counter[str]) -> tuple[str | None, str]:
    from rdkit import Chem
    from rdkit.Chem.MolStandardize import rdMolStandardize

    mol, reason = _parse_checked(smiles, max_heavy_atoms)
    if mol is None:
        return None, reason
    try:
        before = Chem.MolToSmiles(mol)
        mol = rdMolStandardize.Cleanup(mol)
        if strip_salts and mol.GetNumAtoms() and len(Chem.GetMolFrags(mol)) > 1:
            mol = rdMolStandardize.LargestFragmentChooser(preferOrganic=True).choose(mol)
            counts["salt_stripped"] += 1
        if neutralise:
            charged = any(a.GetFormalCharge() != 0 for a in mol.GetAtoms())
            mol = rdMolStandardize.Uncharger().uncharge(mol)
            if charged and not any(a.GetFormalCharge() != 0 for a in mol.GetAtoms()):
                counts["neutralised"] += 1
        out = Chem.MolToSmiles(mol)
    except Exception as exc:  # noqa: BLE001
        return None, f"standardisation failed: {str(exc).strip().splitlines()[0]}"
    if Chem.MolFromSmiles(out) is None:
        return None, "standardisation failed: result does not re-parse"
    if out != before:
        counts["changed"] += 1
    return out, ""


def standardise_smiles(smiles: Sequence[Any], *, strip_salts: bool = True, neutralise: bool = True,
                       max_heavy_atoms: int = MAX_HEAVY_ATOMS) -> StandardiseResult:
    """Standardise a batch of SMILES; invalid rows are reported (index + reason), the rest still get results.

    Parameters
    ----------
    smiles
        ``n`` input strings (anything else, NaN or blank is reported as invalid).
    strip_salts
        Keep the largest organic fragment (removes counter-ions and solvents such as ``.Cl`` or ``.O``).
    neutralise
        Neutralise charges where a neutral form exists (RDKit ``Uncharger``); quaternary N stays charged.
    max_heavy_atoms
        Larger molecules are reported as ``too large`` (they are outside every model's domain).

    Returns
    -------
    StandardiseResult
    """
    quiet_rdkit()
    counts: Counter[str] = Counter()
    out: list[str | None] = []
    invalid: list[InvalidRow] = []
    for i, s in enumerate(smiles):
        res, reason = _standardise_one(s, strip_salts=strip_salts, neutralise=neutralise,
                                       max_heavy_atoms=max_heavy_atoms, counts=counts)
        out.append(res)
        if res is None:
            invalid.append(InvalidRow(i, s if isinstance(s, str) else repr(s), reason))
    return StandardiseResult(out, invalid, dict(counts))


def parse_smiles(smiles: Sequence[Any], *, max_heavy_atoms: int = MAX_HEAVY_ATOMS) -> StandardiseResult:
    """The cheap half of :func:`standardise_smiles`: parse, sanitise and size-check only (~0.3 ms instead of
    ~3 ms per molecule), for inputs that are already standardised. Same per-row reasons for invalid rows;
    valid rows keep their input spelling (stripped) and ``mols`` holds the parsed molecules (``None`` if invalid)
    so callers need not parse again."""
    quiet_rdkit()
    out: list[str | None] = []
    mols: list[Any] = []
    invalid: list[InvalidRow] = []
    for i, s in enumerate(smiles):
        mol, reason = _parse_checked(s, max_heavy_atoms)
        out.append(s.strip() if mol is not None else None)
        mols.append(mol)
        if mol is None:
            invalid.append(InvalidRow(i, s if isinstance(s, str) else repr(s), reason))
    return StandardiseResult(out, invalid, {}, mols)
