"""Shared fixtures. ``shared_data`` points at ../shared/data (or $MEDKIT_DATA); tests needing it skip with a reason."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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



@pytest.fixture
def count_reads(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A function that, once called, counts from then on: it returns ``(opened, hashed)``, the names of files
    opened by ``open`` and of bundle artefacts hashed by :func:`medkit.core.bundle.sha256_file`."""
    import builtins

    from medkit.core import bundle as core_bundle

    def start() -> tuple[list[str], list[str]]:
        opened: list[str] = []
        hashed: list[str] = []
        real_open, real_hash = builtins.open, core_bundle.sha256_file

        def counting_open(file: Any, *a: Any, **k: Any) -> Any:
            opened.append(Path(file).name)
            return real_open(file, *a, **k)

        def counting_hash(path: Any, *a: Any, **k: Any) -> str:
            hashed.append(Path(path).name)
            return real_hash(path, *a, **k)

        monkeypatch.setattr(builtins, "open", counting_open)
        monkeypatch.setattr(core_bundle, "sha256_file", counting_hash)
        return opened, hashed

    return start
