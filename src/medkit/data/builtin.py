"""Imports every module that registers datasets (kept out of ``import medkit``).

Each pillar owns one module here; add a line when you add a module.
"""

from medkit.data import embedded  # noqa: F401  (foundation: pip-shipped sets)
from medkit.data import clinical_sets  # noqa: F401
from medkit.data import drug_sets  # noqa: F401
from medkit.data import imaging_sets  # noqa: F401
from medkit.data import privacy_sets  # noqa: F401
from medkit.data import treatment_sets  # noqa: F401
