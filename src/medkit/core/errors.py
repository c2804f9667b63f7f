"""The medkit error hierarchy.

Every error says *what* went wrong, *where* (file, row, column, key) and *how to
fix it*. The CLI prints ``str(error)`` as a single line and exits non-zero.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "MedkitError",
    "MissingDependencyError",
    "ModelError",
    "NotFittedError",
    "PrivacyError",
    "SchemaError",
    "SecurityError",
    "ValidationError",
]


class MedkitError(Exception):
    """Base class of every error medkit raises on purpose.

    Parameters
    ----------
    what
        What went wrong, in one sentence.
    where
        Where it happened: a file, ``file:row``, a column or a config key.
    fix
        How the user can fix it.
    """

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self._format())

    def _format(self) -> str:
        msg = self.what.rstrip(".")
        if self.where:
            msg += f" (at {self.where})"
        msg += "."
        if self.fix:
            msg += f" Fix: {self.fix.rstrip('.')}."
        return msg


class DataError(MedkitError):
    """Input data is missing, malformed or clinically implausible."""


class SchemaError(DataError):
    """Data does not match its declared schema (column, type, range, category)."""


class ValidationError(DataError):
    """A split or dataset fails an integrity check (e.g. patient leakage)."""


class ConfigError(MedkitError):
    """A configuration key is unknown, missing or of the wrong type."""


class MissingDependencyError(MedkitError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


class ModelError(MedkitError):
    """A model cannot be fitted, loaded or applied as asked."""


class NotFittedError(ModelError):
    """An estimator was used before ``fit``."""


class PrivacyError(MedkitError):
    """A privacy guarantee would be violated (k too small, epsilon invalid, PHI left)."""


class SecurityError(MedkitError):
    """A security requirement is not met (missing secret key, forbidden path)."""
