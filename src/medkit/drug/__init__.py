"""Drug discovery: standardisation, generative models, MOSES metrics, property predictors, screening funnel.

Heavy libraries (torch, RDKit) are imported by the submodules, not here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["standardise_smiles"]


def standardise_smiles(*args: Any, **kwargs: Any) -> Any:
    """See :func:`medkit.drug.chem.standardise_smiles`."""
    from medkit.drug.chem import standardise_smiles as _f

    return _f(*args, **kwargs)
