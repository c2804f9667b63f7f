"""Optional imports with a clear message naming the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from medkit.core.errors import MissingDependencyError

# Which extra provides which top-level module; used in error messages.
EXTRA_OF: dict[str, str] = {
    "torch": "clinical",
    "sksurv": "clinical",
    "lifelines": "clinical",
    "rdkit": "drug",
    "fcd_torch": "drug",
    "chemprop": "drug",
    "monai": "imaging",
    "pydicom": "imaging",
    "nibabel": "imaging",
    "onnxruntime": "imaging",
    "imagehash": "imaging",
    "surprise": "treatment",
    "econml": "treatment",
    "fastapi": "serve",
    "sqlalchemy": "serve",
    "opacus": "privacy",
    "flwr": "privacy",
    "shap": "trust",
    "captum": "trust",
    "matplotlib": "core",
}


def require(module: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra.

    Examples
    --------
    >>> np = require("numpy")
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised via monkeypatch in tests
        top = module.split(".")[0]
        extra = extra or EXTRA_OF.get(top, "all")
        raise MissingDependencyError(
            f"optional dependency '{top}' is not installed ({exc})",
            where=f"import {module}",
            fix=f"pip install 'medkit[{extra}]'",
        ) from exc
