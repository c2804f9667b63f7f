"""Datasets of the clinical pillar (registered with :func:`medkit.data.register_dataset`).

PhysioNet/CinC Challenge 2012 sets A and B, read from the data directory in their
original per-record text format (see :mod:`medkit.data.physionet`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medkit.core.errors import DataError
from medkit.data.paths import require_file
from medkit.data.registry import Dataset, DatasetInfo, register_dataset

_CITATION = ("Silva I, Moody G, Scott DJ, Celi LA, Mark RG. Predicting in-hospital mortality of ICU patients: "
             "The PhysioNet/Computing in Cardiology Challenge 2012. Comput Cardiol 2012;39:245-248. "
             "Goldberger AL et al. PhysioBank, PhysioToolkit, and PhysioNet. Circulation 2000;101:e215-e220.")
_LICENCE = ("unknown: PhysioNet marks the challenge data 'Open Access' but the exact licence text was not checked "
            "(see physionet2012/SOURCE.md); check before redistributing")
#: Verified counts (SOURCE.md): records and in-hospital deaths per set.
EXPECTED = {"a": (4000, 554), "b": (4000, 568)}


def _load_set(which: str, info: DatasetInfo, data_dir: Any = None, limit: int | None = None) -> Dataset:
    from medkit.data.physionet import read_records_tar

    tar = require_file(f"physionet2012/set-{which}.tar.gz", info.name, data_dir)
    outcomes = require_file(f"physionet2012/Outcomes-{which}.txt", info.name, data_dir)
    recs = read_records_tar(tar, outcomes, limit=limit)
    n_rec, n_dead = EXPECTED[which]
    if limit is None and (len(recs.static) != n_rec or int(recs.y.sum()) != n_dead):
        raise DataError(f"set {which.upper()} has {len(recs.static)} records / {int(recs.y.sum())} deaths, "
                        f"expected {n_rec} / {n_dead}", where=str(tar),
                        fix="re-copy the physionet2012 folder from the medkit shared data")
    return Dataset(info, recs, [Path(tar), Path(outcomes)], n_rows=len(recs.long), n_patients=len(recs.static),
                   y=recs.y, groups=recs.record_ids,
                   extra={"set": which.upper(), "n_missing_descriptors": recs.n_missing_descriptors})


@register_dataset(
    "physionet2012-a",
    task="sequence-binary",
    description="PhysioNet/CinC Challenge 2012 set A: 4,000 adult ICU stays (MIMIC-II), first 48 h of 37 irregularly "
    "sampled vitals/labs + 5 descriptors; label in-hospital death (554, 13.85%). Training/validation set.",
    licence=_LICENCE,
    citation=_CITATION,
    source="data-dir:physionet2012/set-a.tar.gz",
    pillar="clinical",
    url="https://physionet.org/content/challenge-2012/1.0.0/",
)
def load_physionet2012_a(info: DatasetInfo, data_dir: Any = None, limit: int | None = None) -> Dataset:
    """Set A; ``limit`` reads only the first ``limit`` records by RecordID (for tests and demos)."""
    return _load_set("a", info, data_dir, limit)


@register_dataset(
    "physionet2012-b",
    task="sequence-binary",
    description="PhysioNet/CinC Challenge 2012 set B: 4,000 adult ICU stays, same format as set A; in-hospital "
    "deaths 568 (14.20%). medkit uses it only as the external test set.",
    licence=_LICENCE,
    citation=_CITATION,
    source="data-dir:physionet2012/set-b.tar.gz",
    pillar="clinical",
    url="https://physionet.org/content/challenge-2012/1.0.0/",
)
def load_physionet2012_b(info: DatasetInfo, data_dir: Any = None, limit: int | None = None) -> Dataset:
    """Set B; ``limit`` reads only the first ``limit`` records by RecordID."""
    return _load_set("b", info, data_dir, limit)
