"""Drug-likeness properties and alerts: Lipinski rule of five, PAINS and Brenk alerts, SA score, QED.

The SA score is Ertl & Schuffenhauer's synthetic accessibility (1 easy … 10 hard) from RDKit's Contrib
``SA_Score`` (loaded from ``RDConfig.RDContribDir``); PAINS (A/B/C) and Brenk come from RDKit's FilterCatalog.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any

from medkit.core.errors import MissingDependencyError

__all__ = ["DrugLikeness", "assess", "sa_score"]

_CACHE: dict[str, Any] = {}


def _sascorer() -> Any:
    if "sa" not in _CACHE:
        import os

        from rdkit.Chem import RDConfig

        path = os.path.join(RDConfig.RDContribDir, "SA_Score")
        if not os.path.isfile(os.path.join(path, "sascorer.py")):
            raise MissingDependencyError("RDKit Contrib SA_Score is not installed", where=path,
                                         fix="install an RDKit build that ships Contrib (pip install rdkit does)")
        if path not in sys.path:
            sys.path.append(path)
        import sascorer  # type: ignore[import-not-found]

        _CACHE["sa"] = sascorer
    return _CACHE["sa"]


def sa_score(mol: Any) -> float:
    """Synthetic accessibility score, 1 (easy) to 10 (hard)."""
    return float(_sascorer().calculateScore(mol))


def _catalog(name: str) -> Any:
    if name not in _CACHE:
        from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

        params = FilterCatalogParams()
        params.AddCatalog(getattr(FilterCatalogParams.FilterCatalogs, name))
        _CACHE[name] = FilterCatalog(params)
    return _CACHE[name]


@dataclass
class DrugLikeness:
    """Properties of one molecule. ``pains``/``brenk`` hold the first matching alert's name ('' if none)."""

    mw: float
    logp: float
    hbd: int
    hba: int
    rotb: int
    tpsa: float
    qed: float
    sa: float
    lipinski_violations: int
    pains: str
    brenk: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess(mol: Any) -> DrugLikeness:
    """Compute the drug-likeness record of an RDKit molecule."""
    from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdMolDescriptors

    mw, logp = Descriptors.MolWt(mol), Crippen.MolLogP(mol)  # type: ignore[attr-defined]
    hbd, hba = Lipinski.NumHDonors(mol), Lipinski.NumHAcceptors(mol)  # type: ignore[attr-defined]
    viol = int(mw > 500) + int(logp > 5) + int(hbd > 5) + int(hba > 10)
    pains = _catalog("PAINS").GetFirstMatch(mol)
    brenk = _catalog("BRENK").GetFirstMatch(mol)
    return DrugLikeness(mw, logp, hbd, hba, rdMolDescriptors.CalcNumRotatableBonds(mol),
                        rdMolDescriptors.CalcTPSA(mol), QED.qed(mol), sa_score(mol), viol,
                        pains.GetDescription() if pains else "", brenk.GetDescription() if brenk else "")
