"""Split helpers with fixed seeds. Patient-grouped splits refuse leakage.

The drug pillar adds a scaffold split in ``medkit.data.scaffold``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medkit.core.errors import ConfigError, ValidationError


@dataclass(frozen=True)
class Split:
    """Index arrays into the original rows."""

    train: np.ndarray
    test: np.ndarray
    val: np.ndarray | None = None


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{name} must be in (0, 1), got {value}", where=name, fix="use e.g. 0.2")


def stratified_split(y: np.ndarray | list[Any], test_size: float = 0.2, val_size: float = 0.0, seed: int = 0) -> Split:
    """Stratified train/(val)/test split on labels ``y``."""
    from sklearn.model_selection import train_test_split

    _check_fraction("test_size", test_size)
    idx = np.arange(len(y))
    y_arr = np.asarray(y)
    train, test = train_test_split(idx, test_size=test_size, stratify=y_arr, random_state=seed)
    val = None
    if val_size:
        _check_fraction("val_size", val_size)
        rel = val_size / (1.0 - test_size)
        train, val = train_test_split(train, test_size=rel, stratify=y_arr[train], random_state=seed)
    return Split(np.sort(train), np.sort(test), None if val is None else np.sort(val))


def group_split(
    groups: ArrayLike,
    test_size: float = 0.2,
    seed: int = 0,
    y: ArrayLike | None = None,
) -> Split:
    """Split rows so that every group (patient) is on exactly one side.

    With ``y`` given, groups are stratified by their majority label.
    """
    from sklearn.model_selection import train_test_split

    _check_fraction("test_size", test_size)
    g = np.asarray(groups)
    uniq, inv = np.unique(g, return_inverse=True)
    strat = None
    if y is not None:
        y_arr = np.asarray(y)
        strat = np.array([np.bincount(np.searchsorted(np.unique(y_arr), y_arr[inv == i])).argmax() for i in range(len(uniq))])
    g_train, g_test = train_test_split(np.arange(len(uniq)), test_size=test_size, random_state=seed, stratify=strat)
    train = np.flatnonzero(np.isin(inv, g_train))
    test = np.flatnonzero(np.isin(inv, g_test))
    check_no_leakage(g[train], g[test])
    return Split(train, test)


def check_no_leakage(train_groups: ArrayLike, test_groups: ArrayLike, *, what: str = "patient") -> None:
    """Raise :class:`ValidationError` if any group id appears on both sides."""
    shared = np.intersect1d(np.asarray(train_groups), np.asarray(test_groups))
    if len(shared):
        sample = ", ".join(map(str, shared[:5]))
        raise ValidationError(
            f"{len(shared)} {what} id(s) appear in both train and test (e.g. {sample})",
            where=f"{what} id column",
            fix=f"split by {what} (medkit.data.splits.group_split) so that no {what} is in both sets",
        )


def kfold(
    n: int,
    n_splits: int = 5,
    seed: int = 0,
    y: ArrayLike | None = None,
    groups: ArrayLike | None = None,
) -> Iterator[Split]:
    """K-fold with a fixed seed: stratified if ``y``, grouped if ``groups`` (both: stratified-group)."""
    from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold

    if n_splits < 2:
        raise ConfigError(f"n_splits must be >= 2, got {n_splits}", where="n_splits", fix="use 5")
    idx = np.arange(n)
    splitter: Any
    if groups is not None:
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        y_use = np.zeros(n) if y is None else np.asarray(y)
        it = splitter.split(idx, y_use, np.asarray(groups))
    elif y is not None:
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        it = splitter.split(idx, np.asarray(y))
    else:
        splitter = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
        it = splitter.split(idx)
    for tr, te in it:
        if groups is not None:
            g = np.asarray(groups)
            check_no_leakage(g[tr], g[te])
        yield Split(tr, te)
