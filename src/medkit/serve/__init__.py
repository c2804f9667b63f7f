"""medkit.serve: FastAPI service and web UI over registered model bundles (see docs/serve.md).

Importing this package is cheap; FastAPI and SQLAlchemy load when :func:`create_app` is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["create_app", "demo_hint"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    """Build the FastAPI app; see :func:`medkit.serve.app.create_app`."""
    from medkit.serve.app import create_app as _create

    return _create(*args, **kwargs)


def demo_hint(out_dir: str | Path) -> str:
    """The closing line of ``medkit demo``: how to serve the models the demo just trained.

    Parameters
    ----------
    out_dir
        The demo's output folder (searched for ``bundle.json``).
    """
    out = Path(out_dir)
    n = len({p.parent for p in out.rglob("bundle.json")}) if out.is_dir() else 0
    if n == 0:
        return (f"No model bundles were found in {out}. Register one with `medkit models register RUN --name NAME`, "
                "then start the web service with `medkit serve --dev`.")
    return (f"Serve the demo's {n} model(s) in the web UI: medkit serve --dev --models-from {out} "
            "then open http://127.0.0.1:8000 and sign in as 'admin' with the password it prints "
            "(--dev is for a local trial; see docs/serve.md for production set-up).")
