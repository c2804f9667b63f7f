"""Shared fixtures. ``shared_data`` points at ../shared/data (or $MEDKIT_DATA); tests needing it skip with a reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("MEDKIT_PROGRESS", "0")

ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path | None:
    env = os.environ.get("MEDKIT_DATA")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = _shared_data_dir()
    if d is None:
        pytest.skip("shared data directory not found: set MEDKIT_DATA or place it at ../shared/data")
    return d


@pytest.fixture(autouse=True)
def _torch_threads() -> None:
    # Tests run on 2 cores; keep torch from oversubscribing.
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
