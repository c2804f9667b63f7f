"""Dataset entries: the fixed Br35H split and its duplicate grouping, DRIVE and CHASE_DB1 from their tarballs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medkit.data import load_dataset
from medkit.data.imaging_sets import BR35H_SPLIT_SHA256, br35h_split, manifest_digest, near_duplicates


def test_br35h_split_is_fixed_and_leak_free() -> None:
    df = br35h_split()  # verifies the recorded manifest digest
    assert manifest_digest(df) == BR35H_SPLIT_SHA256
    assert len(df) == 3000 and set(df.split) == {"train", "val", "test"}
    assert df.groupby("cluster")["split"].nunique().max() == 1  # no duplicate cluster spans two splits
    for s in ("val", "test"):
        frac = (df.split == s).mean()
        assert 0.12 < frac < 0.18
        assert abs(df[df.split == s].label.mean() - 0.5) < 0.06
    dups = near_duplicates(df, max_distance=4)
    assert len(dups) > 0 and dups.distance.min() >= 3 and (dups.split_a != dups.split_b).all()


def test_drive_and_chase(shared_data: Path) -> None:
    drive = load_dataset("drive", data_dir=shared_data)
    assert [len(drive.data[s]) for s in ("train", "test")] == [20, 20]
    c = drive.data["test"][0]
    assert c.image.shape == (584, 565, 3) and c.mask.dtype == bool and c.mask2 is not None
    frac = c.mask[c.fov].mean()
    assert 0.10 < frac < 0.15  # SOURCE.md: test vessel share of the FOV 0.104-0.150
    assert "DRIVE.tar.gz" in drive.checksums
    chase = load_dataset("chase_db1", data_dir=shared_data)
    cases = chase.data["test"]
    assert len(cases) == 28 and cases[0].image.shape == (960, 999, 3)
    fov_frac = np.mean([x.fov.mean() for x in cases])
    assert 0.5 < fov_frac < 0.85
    # Almost all vessel pixels lie in the derived FOV.
    assert np.mean([x.mask[x.fov].sum() / x.mask.sum() for x in cases]) > 0.97
