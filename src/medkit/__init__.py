"""medkit: build, validate and deploy clinical AI on real data.

``import medkit`` is deliberately light: it pulls in no torch, rdkit or monai.
Heavy libraries are imported inside the functions that need them through
:func:`medkit.core.deps.require`, which names the extra to install when one is
missing.
"""

from medkit.core.errors import (
    ConfigError,
    DataError,
    MedkitError,
    MissingDependencyError,
    ModelError,
    SchemaError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "MedkitError",
    "MissingDependencyError",
    "ModelError",
    "SchemaError",
    "__version__",
]
