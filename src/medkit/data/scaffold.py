"""Bemis–Murcko scaffold split and random split for molecules.

A scaffold split puts every molecule sharing a Bemis–Murcko scaffold on the same side, so the test set holds
chemotypes the model never saw: the realistic setting for prospective screening (Yang et al. 2019). We use the
"balanced" variant of chemprop: scaffold sets larger than half the test size go to train first, the rest are
shuffled with the seed, then filled greedily into train, val and test.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from medkit.core.errors import ConfigError, DataError, ValidationError
from medkit.data.splits import Split

__all__ = ["bemis_murcko_scaffold", "check_no_scaffold_overlap", "random_split", "scaffold_split"]


def bemis_murcko_scaffold(smiles: str, *, include_chirality: bool = False) -> str:
    """Canonical SMILES of the Bemis–Murcko scaffold of ``smiles`` (``""`` for acyclic molecules).

    Raises
    ------
    DataError
        If the SMILES cannot be parsed.
    """
    from rdkit import Chem, RDLogger
    from rdkit.Chem.Scaffolds import MurckoScaffold

    RDLogger.DisableLog("rdApp.*")  # type: ignore[attr-defined]
    mol = Chem.MolFromSmiles(smiles) if isinstance(smiles, str) else None
    if mol is None:
        raise DataError(f"cannot compute a scaffold of invalid SMILES {smiles!r}", where="scaffold split",
                        fix="standardise the molecules first (medkit.drug.standardise_smiles) and drop invalid rows")
    return str(MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=include_chirality))


def _check_sizes(sizes: tuple[float, float, float]) -> None:
    if len(sizes) != 3 or any(s < 0 for s in sizes) or abs(sum(sizes) - 1.0) > 1e-6:
        raise ConfigError(f"split sizes must be three non-negative fractions summing to 1, got {sizes}",
                          where="sizes", fix="use e.g. (0.8, 0.1, 0.1)")


def scaffold_split(smiles: Sequence[str], sizes: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0,
                   *, balanced: bool = True) -> Split:
    """Split molecule indices so that no Bemis–Murcko scaffold is shared between train, val and test.

    Parameters
    ----------
    smiles
        ``n`` valid SMILES.
    sizes
        Train, validation and test fractions (sum 1).
    seed
        Seed of the shuffle of the small scaffold sets.
    balanced
        chemprop's balanced variant (big scaffold sets to train first); ``False`` sorts sets by size, largest first
        (the deterministic DeepChem variant, which ignores ``seed``).

    Returns
    -------
    Split
        Sorted index arrays ``train``, ``val``, ``test``.
    """
    _check_sizes(sizes)
    n = len(smiles)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(smiles):
        groups[bemis_murcko_scaffold(s)].append(i)
    sets = list(groups.values())
    n_train, n_val = sizes[0] * n, sizes[1] * n
    n_test = n - int(n_train) - int(n_val)
    if balanced:
        big = [s for s in sets if len(s) > n_val / 2 or len(s) > n_test / 2]
        small = [s for s in sets if not (len(s) > n_val / 2 or len(s) > n_test / 2)]
        rng = np.random.default_rng(seed)
        rng.shuffle(big)  # type: ignore[arg-type]
        rng.shuffle(small)  # type: ignore[arg-type]
        ordered = big + small
    else:
        ordered = sorted(sets, key=lambda s: (len(s), s[0]), reverse=True)
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for grp in ordered:
        if len(train) + len(grp) <= n_train:
            train += grp
        elif len(val) + len(grp) <= n_val:
            val += grp
        else:
            test += grp
    return Split(np.sort(np.array(train, dtype=int)), np.sort(np.array(test, dtype=int)),
                 np.sort(np.array(val, dtype=int)))


def random_split(n: int, sizes: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0) -> Split:
    """Random train/val/test split of ``n`` rows with a fixed seed."""
    _check_sizes(sizes)
    order = np.random.default_rng(seed).permutation(n)
    a, b = int(round(sizes[0] * n)), int(round((sizes[0] + sizes[1]) * n))
    return Split(np.sort(order[:a]), np.sort(order[b:]), np.sort(order[a:b]))


def check_no_scaffold_overlap(smiles: Sequence[str], split: Split) -> None:
    """Raise :class:`ValidationError` if any scaffold appears in more than one part of ``split``."""
    parts = {"train": split.train, "val": split.val if split.val is not None else np.array([], int),
             "test": split.test}
    seen: dict[str, str] = {}
    for name, idx in parts.items():
        for i in idx:
            sc = bemis_murcko_scaffold(smiles[int(i)])
            if seen.setdefault(sc, name) != name:
                raise ValidationError(f"scaffold {sc!r} is in both {seen[sc]} and {name}",
                                      where=f"row {int(i)}", fix="use scaffold_split to build the split")
