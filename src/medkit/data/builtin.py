"""Imports every module that registers datasets (kept out of ``import medkit``).

Each pillar owns one module here; add a line when you add a module.
"""

from medkit.data import (
    clinical_sets,  # noqa: F401
    drug_sets,  # noqa: F401
    embedded,  # noqa: F401  (foundation: pip-shipped sets)
    imaging_sets,  # noqa: F401
    privacy_sets,  # noqa: F401
    treatment_sets,  # noqa: F401
)
