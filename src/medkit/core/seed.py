"""Explicit randomness: one call seeds python, numpy and (if installed) torch."""

from __future__ import annotations

import os
import random
import sys

import numpy as np


def seed_everything(seed: int, *, deterministic: bool = True) -> np.random.Generator:
    """Seed python, numpy and torch; on CPU also force deterministic algorithms.

    Parameters
    ----------
    seed
        Non-negative integer seed.
    deterministic
        If true and torch is already imported or importable, call
        ``torch.use_deterministic_algorithms(True)``.

    Returns
    -------
    numpy.random.Generator
        A generator seeded with ``seed`` for callers that want one.
    """
    if seed < 0:
        from medkit.core.errors import ConfigError

        raise ConfigError(f"seed must be >= 0, got {seed}", where="seed", fix="pass a non-negative integer")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    # Only touch torch if it is installed: import medkit stays light.
    if "torch" in sys.modules or _torch_available():
        import torch

        torch.manual_seed(seed)
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
    return np.random.default_rng(seed)


def _torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def set_threads(n: int | None) -> None:
    """Limit torch CPU threads (``None`` leaves the default)."""
    if n is None:
        return
    import torch

    torch.set_num_threads(max(1, int(n)))
