"""PhysioNet 2012 as a multi-site problem: summary features, ICU types as sites, set A to train, set B to test.

ICU types (1 coronary care, 2 cardiac surgery recovery, 3 medical, 4 surgical) are the natural "hospitals":
their case mix and mortality differ, which is what makes federated averaging non-trivial.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medkit.core.errors import ConfigError

ICU_NAMES = {1: "coronary care", 2: "cardiac surgery recovery", 3: "medical ICU", 4: "surgical ICU"}


@dataclass
class PhysioNetXY:
    """Summary features ``X`` (N, F), label ``y`` (N,) in-hospital death, ``icu`` (N,) ICU type 1-4."""

    X: np.ndarray
    y: np.ndarray
    icu: np.ndarray
    columns: list[str]
    provenance: dict[str, object]


def load_xy(which: str = "a", data_dir: str | Path | None = None, limit: int | None = None) -> PhysioNetXY:
    """Set ``which`` ('a' or 'b') as summary features (descriptors included, ICUType as a feature too)."""
    from medkit.data.physionet import summary_features
    from medkit.data.registry import load_dataset

    ds = load_dataset(f"physionet2012-{which}", data_dir=data_dir, limit=limit)
    recs = ds.data
    F = summary_features(recs.long, recs.static)
    icu = recs.static.loc[F.index, "ICUType"].to_numpy()
    return PhysioNetXY(F.to_numpy(dtype=float), recs.y.astype(int), np.nan_to_num(icu, nan=0).astype(int),
                       list(F.columns), ds.provenance())


def make_sites(data: PhysioNetXY, n_sites: int, seed: int = 0) -> list[np.ndarray]:
    """Row indices per site: by ICU type when ``n_sites == 4``, otherwise a seeded stratified random split."""
    if n_sites < 2:
        raise ConfigError(f"need at least 2 sites, got {n_sites}", where="--sites", fix="use --sites 2..8")
    if n_sites == 4:
        return [np.flatnonzero(data.icu == k) for k in (1, 2, 3, 4)]
    from sklearn.model_selection import StratifiedKFold

    skf = StratifiedKFold(n_splits=n_sites, shuffle=True, random_state=seed)
    return [test for _, test in skf.split(data.X, data.y)]
