"""Test-only shim that makes molsets' metric functions importable on current RDKit/pandas/numpy.

molsets 0.3.1 imports ``rdkit.six`` (removed from RDKit), calls ``DataFrame.append`` (removed in pandas 2) and
uses ``np.NaN`` (removed in numpy 2). We patch exactly those three names, then import ``moses.metrics`` so the
tests can compare medkit's own metric code against the reference implementation. Never used by ``src/``.
"""

from __future__ import annotations

import sys
import types
from typing import Any


def import_moses_metrics() -> Any:
    """Return the ``moses.metrics`` module (and its ``utils``) after installing the compatibility patches."""
    import numpy as np
    import pandas as pd

    if "rdkit.six" not in sys.modules:
        six = types.ModuleType("rdkit.six")
        six.iteritems = lambda d: iter(d.items())  # type: ignore[attr-defined]
        six.iterkeys = lambda d: iter(d.keys())  # type: ignore[attr-defined]
        six.itervalues = lambda d: iter(d.values())  # type: ignore[attr-defined]
        sys.modules["rdkit.six"] = six
    if not hasattr(pd.DataFrame, "append"):
        def _append(self: pd.DataFrame, other: pd.DataFrame, sort: bool = False) -> pd.DataFrame:
            return pd.concat([self, other], sort=sort)

        pd.DataFrame.append = _append  # type: ignore[attr-defined]
    if not hasattr(np, "NaN"):
        setattr(np, "NaN", np.nan)  # noqa: B010 - molsets reads np.NaN
    import moses.metrics as mm
    import moses.metrics.utils as mu

    return mm, mu
