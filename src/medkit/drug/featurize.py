"""Molecule featurisation: Morgan fingerprints and chemprop-style atom/bond graphs for the D-MPNN.

Atom features, two layouts as chemprop's ``MultiHotAtomFeaturizer``: one-hot atomic number, degree (0–5),
formal charge (−2…+2), chirality tag (4), total H count (0–4), hybridisation, aromaticity, mass/100.
``"v1"`` (133 columns, chemprop's ``v1()``): atomic numbers 1–100 + other, hybridisation SP…SP3D2 + other.
``"v2"`` (72 columns, chemprop v2's default ``v2()``): atomic numbers 1–36 and 53 (I) + other, hybridisation
S, SP, SP2, SP2D, SP3, SP3D, SP3D2 + other. Bond features (14): none-bond flag, type (4), conjugated, in ring,
stereo (6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

__all__ = ["ATOM_DIM", "ATOM_DIMS", "BOND_COMBOS", "BOND_DIM", "N_BOND_COMBOS", "AtomFeatures", "BatchGraph",
           "GraphCache", "MolGraph", "atom_codes", "atom_features", "batch_graphs", "bond_combo_ids", "bond_features",
           "check_atom_features", "dense_atoms", "dense_bonds", "mol_graph", "mol_graphs", "morgan_matrix"]

AtomFeatures = Literal["v1", "v2"]

_MAX_Z = 100
_DEGREE = [0, 1, 2, 3, 4, 5]
_CHARGE = [-1, -2, 1, 2, 0]
_CHIRAL = [0, 1, 2, 3]
_NUM_H = [0, 1, 2, 3, 4]
# Atomic numbers with their own column, per layout (anything else falls in the "other" column).
_ATOMIC_NUMS: dict[str, list[int]] = {"v1": list(range(1, _MAX_Z + 1)), "v2": list(range(1, 37)) + [53]}
_HYBRID_NAMES: dict[str, list[str]] = {"v1": ["SP", "SP2", "SP3", "SP3D", "SP3D2"],
                                       "v2": ["S", "SP", "SP2", "SP2D", "SP3", "SP3D", "SP3D2"]}


def check_atom_features(mode: str) -> None:
    if mode not in _ATOMIC_NUMS:
        from medkit.core.errors import ConfigError

        raise ConfigError(f"atom_features must be 'v1' or 'v2', got {mode!r}", where="atom_features",
                          fix="use 'v1' (chemprop v1 layout) or 'v2' (chemprop v2's default layout)")


def _hybrids(mode: str = "v1") -> list[Any]:
    from rdkit.Chem.rdchem import HybridizationType as H

    check_atom_features(mode)
    return [getattr(H, n) for n in _HYBRID_NAMES[mode]]


def _onehot(value: Any, choices: Sequence[Any]) -> list[float]:
    v = [0.0] * (len(choices) + 1)
    v[choices.index(value) if value in choices else -1] = 1.0
    return v


def _groups(mode: str) -> list[int]:
    """Sizes of the one-hot groups (each with its "other" column); aromatic flag and mass/100 follow."""
    return [len(_ATOMIC_NUMS[mode]) + 1, len(_DEGREE) + 1, len(_CHARGE) + 1, len(_CHIRAL) + 1, len(_NUM_H) + 1,
            len(_HYBRID_NAMES[mode]) + 1]


ATOM_DIMS = {m: sum(_groups(m)) + 2 for m in _ATOMIC_NUMS}  # {"v1": 133, "v2": 72}
ATOM_DIM = ATOM_DIMS["v1"]
BOND_DIM = 14


def atom_features(atom: Any, mode: str = "v1") -> list[float]:
    """Per-atom reference featuriser (list scans; the fast path is :func:`atom_codes`)."""
    return (_onehot(atom.GetAtomicNum(), _ATOMIC_NUMS[mode]) + _onehot(atom.GetTotalDegree(), _DEGREE)
            + _onehot(atom.GetFormalCharge(), _CHARGE) + _onehot(int(atom.GetChiralTag()), _CHIRAL)
            + _onehot(int(atom.GetTotalNumHs()), _NUM_H) + _onehot(atom.GetHybridization(), _hybrids(mode))
            + [1.0 if atom.GetIsAromatic() else 0.0, atom.GetMass() * 0.01])


def bond_features(bond: Any) -> list[float]:
    from rdkit.Chem.rdchem import BondType as B

    bt = bond.GetBondType()
    return ([0.0, float(bt == B.SINGLE), float(bt == B.DOUBLE), float(bt == B.TRIPLE), float(bt == B.AROMATIC),
             float(bond.GetIsConjugated()), float(bond.IsInRing())] + _onehot(int(bond.GetStereo()), list(range(6))))


_LUT_WIDTH = 128  # raw RDKit values (atomic number, degree, charge + 8, chiral tag, H count, hybridisation) < 128
_CHARGE_SHIFT = 8
_LUTS: dict[str, np.ndarray] = {}
_BOND_LUT: list[np.ndarray] = []


def _atom_lut(mode: str) -> np.ndarray:
    """``(6, _LUT_WIDTH)`` int64: raw value of each atom property → its column in the layout (incl. the group
    offset); values without a column of their own map to the group's "other" column. Built once per mode."""
    if mode not in _LUTS:
        check_atom_features(mode)
        g = _groups(mode)
        off = np.cumsum([0] + g[:-1])
        lut = (off + np.array(g) - 1)[:, None].repeat(_LUT_WIDTH, axis=1)  # "other" column of each group
        for k, (choices, shift) in enumerate([(_ATOMIC_NUMS[mode], 0), (_DEGREE, 0), (_CHARGE, _CHARGE_SHIFT),
                                              (_CHIRAL, 0), (_NUM_H, 0), ([int(h) for h in _hybrids(mode)], 0)]):
            for i, v in enumerate(choices):
                lut[k, v + shift] = off[k] + i
        _LUTS[mode] = lut.astype(np.int64)
    return _LUTS[mode]


def _bond_lut() -> np.ndarray:
    """RDKit ``int(BondType)`` → type column 1-4 (0 = none of single, double, triple, aromatic)."""
    if not _BOND_LUT:
        from rdkit.Chem.rdchem import BondType as B

        lut = np.zeros(64, dtype=np.int64)
        for col, bt in enumerate([B.SINGLE, B.DOUBLE, B.TRIPLE, B.AROMATIC], start=1):
            lut[int(bt)] = col
        _BOND_LUT.append(lut)
    return _BOND_LUT[0]


_ROWS6 = np.arange(6)


def _atom_rows(mol: Any) -> list[tuple[Any, ...]]:
    """Raw RDKit values per atom: the only per-atom Python work (``GetAtomWithIdx`` is cheaper than iterating
    ``GetAtoms()``)."""
    return [(a.GetAtomicNum(), a.GetTotalDegree(), a.GetFormalCharge() + _CHARGE_SHIFT, int(a.GetChiralTag()),
             a.GetTotalNumHs(), int(a.GetHybridization()), a.GetIsAromatic(), a.GetMass())
            for a in map(mol.GetAtomWithIdx, range(mol.GetNumAtoms()))]


def _bond_rows(mol: Any) -> list[tuple[int, ...]]:
    return [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), int(b.GetBondType()), b.GetIsConjugated(), b.IsInRing(),
             int(b.GetStereo())) for b in map(mol.GetBondWithIdx, range(mol.GetNumBonds()))]


def _codes_from_rows(rows: list[tuple[Any, ...]], mode: str) -> tuple[np.ndarray, np.ndarray]:
    raw = np.array(rows, dtype=np.float64).reshape(-1, 8)
    idx = raw[:, :6].astype(np.int64)
    np.clip(idx, 0, _LUT_WIDTH - 1, out=idx)  # out-of-table values (e.g. charge +9) share the "other" column
    codes = _atom_lut(mode)[_ROWS6, idx].astype(np.int16)
    cont = np.empty((raw.shape[0], 2), dtype=np.float32)
    cont[:, 0] = raw[:, 6]
    cont[:, 1] = raw[:, 7] * 0.01  # as atom_features: mass * 0.01 in double, then float32
    return codes, cont


def atom_codes(mol: Any, mode: str = "v1") -> tuple[np.ndarray, np.ndarray]:
    """Compact atom features: ``(A, 6)`` int16 column indices of the hot entries, ``(A, 2)`` aromatic, mass/100.

    Equal to :func:`atom_features` once expanded (tested); ~50 bytes per atom instead of 532, so a cache of
    100,000 molecules fits in ~150 MB, and the dense matrix of a whole batch is built with one numpy scatter.
    The raw RDKit values are mapped to columns with one lookup-table index (:func:`mol_graphs` does it once for
    a whole list of molecules).
    """
    return _codes_from_rows(_atom_rows(mol), mode)


@dataclass
class MolGraph:
    """One molecule, stored compactly.

    ``atoms`` (A, 6) int16 hot columns, ``atom_cont`` (A, 2) aromatic flag and mass/100, ``bonds`` (2B, 4) int8
    (type column, conjugated, in ring, stereo column) per directed bond, ``src``/``dst`` (2B,) atom indices,
    ``atom_dim`` the width of the atom layout the codes index (``ATOM_DIMS[mode]``).
    ``x`` / ``e`` give the dense (A, atom_dim) / (2B, BOND_DIM) float32 features.
    """

    atoms: np.ndarray
    atom_cont: np.ndarray
    bonds: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    atom_dim: int = ATOM_DIM

    @property
    def n_atoms(self) -> int:
        return int(self.atoms.shape[0])

    @property
    def x(self) -> np.ndarray:
        return dense_atoms(self.atoms, self.atom_cont, self.atom_dim)

    @property
    def e(self) -> np.ndarray:
        return dense_bonds(self.bonds)


def dense_atoms(codes: np.ndarray, cont: np.ndarray, atom_dim: int = ATOM_DIM) -> np.ndarray:
    """``(A, atom_dim)`` float32 from compact codes (one scatter for a whole batch)."""
    x = np.zeros((codes.shape[0], atom_dim), dtype=np.float32)
    np.put_along_axis(x, codes.astype(np.int64), 1.0, axis=1)
    x[:, atom_dim - 2:] = cont  # aromatic flag and mass/100 close every layout
    return x


def dense_bonds(codes: np.ndarray) -> np.ndarray:
    """``(E, BOND_DIM)`` float32 from compact bond codes."""
    e = np.zeros((codes.shape[0], BOND_DIM), dtype=np.float32)
    rows = np.arange(codes.shape[0])
    typed = codes[:, 0] > 0
    e[rows[typed], codes[typed, 0]] = 1.0
    e[:, 5] = codes[:, 1]
    e[:, 6] = codes[:, 2]
    e[rows, codes[:, 3]] = 1.0
    return e


def mol_graph(mol: Any, atom_features: str = "v1") -> MolGraph:
    """Directed-bond graph of an RDKit molecule; bond ``2k`` and ``2k+1`` are each other's reverse.

    ``atom_features`` picks the atom layout (``"v1"`` or ``"v2"``, see the module docstring)."""
    return mol_graphs([mol], atom_features)[0]


def mol_graphs(mols: Sequence[Any], atom_features: str = "v1") -> list[MolGraph]:
    """:func:`mol_graph` of each molecule (equal to it, tested), with the numpy work done once for all of them:
    per atom and per bond only the RDKit property calls run in Python. The graphs' arrays are views of shared
    arrays."""
    check_atom_features(atom_features)
    if not mols:
        return []
    arows: list[tuple[Any, ...]] = []
    brows: list[tuple[int, ...]] = []
    n_at, n_b = np.empty(len(mols), dtype=np.int64), np.empty(len(mols), dtype=np.int64)
    for i, mol in enumerate(mols):
        a, b = _atom_rows(mol), _bond_rows(mol)
        arows += a
        brows += b
        n_at[i], n_b[i] = len(a), len(b)
    codes, cont = _codes_from_rows(arows, atom_features)
    raw = np.array(brows, dtype=np.int64).reshape(-1, 6)
    bonds = np.empty((raw.shape[0], 4), dtype=np.int8)
    bonds[:, 0] = _bond_lut()[np.clip(raw[:, 2], 0, 63)]
    bonds[:, 1:3] = raw[:, 3:5]
    bonds[:, 3] = 7 + np.minimum(raw[:, 5], 6)
    bonds = np.repeat(bonds, 2, axis=0)  # one row per direction
    src, dst = raw[:, [0, 1]].reshape(-1), raw[:, [1, 0]].reshape(-1)
    a_cut, e_cut = np.cumsum(n_at)[:-1], 2 * np.cumsum(n_b)[:-1]
    dim = ATOM_DIMS[atom_features]
    return [MolGraph(*parts, dim) for parts in zip(np.split(codes, a_cut), np.split(cont, a_cut),
                                                   np.split(bonds, e_cut), np.split(src, e_cut), np.split(dst, e_cut),
                                                   strict=True)]


class GraphCache:
    """Bounded SMILES → :class:`MolGraph` cache (least recently used out), so repeated molecules (validation
    every epoch, ensemble members, a server seeing the same SMILES) are featurised once. One cache holds one
    atom layout (``atom_features``)."""

    def __init__(self, maxsize: int = 100_000, atom_features: str = "v1") -> None:
        from collections import OrderedDict

        check_atom_features(atom_features)
        self.maxsize = maxsize
        self.atom_features = atom_features
        self._d: OrderedDict[str, MolGraph] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, smiles: str, mol: Any = None) -> MolGraph:
        g = self._d.get(smiles)
        if g is not None:
            self._d.move_to_end(smiles)
            self.hits += 1
            return g
        self.misses += 1
        if mol is None:
            from medkit.drug.chem import mol_from_smiles

            mol = mol_from_smiles(smiles)
        g = mol_graph(mol, self.atom_features)
        self._d[smiles] = g
        if len(self._d) > self.maxsize:
            self._d.popitem(last=False)
        return g

    def get_many(self, smiles: Sequence[str], mols: Sequence[Any] | None = None) -> list[MolGraph]:
        """:meth:`get` for a list (``mols`` optional, parsed molecules of the same rows); the molecules not in the
        cache are featurised together (:func:`mol_graphs`), each distinct SMILES once."""
        out: list[MolGraph | None] = [None] * len(smiles)
        todo: dict[str, list[int]] = {}
        for i, s in enumerate(smiles):
            g = self._d.get(s)
            if g is not None:
                self._d.move_to_end(s)
                self.hits += 1
                out[i] = g
            else:
                todo.setdefault(s, []).append(i)
        if todo:
            self.misses += len(todo)
            if mols is None:
                from medkit.drug.chem import mol_from_smiles

                new_mols = [mol_from_smiles(s) for s in todo]
            else:
                new_mols = [mols[rows[0]] for rows in todo.values()]
            for (s, rows), g in zip(todo.items(), mol_graphs(new_mols, self.atom_features), strict=True):
                self._d[s] = g
                for i in rows:
                    out[i] = g
            while len(self._d) > self.maxsize:
                self._d.popitem(last=False)
        return out  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self._d)


@dataclass
class BatchGraph:
    """Molecules concatenated into one disconnected graph (torch tensors).

    ``x`` (A, atom_dim), ``e`` (E, BOND_DIM), ``src``/``dst``/``rev`` (E,), ``batch`` (A,) molecule of each atom,
    ``n_mols``; ``codes`` (A, 6) int64 hot columns of ``x`` and ``cont`` (A, 2) its last two columns (aromatic
    flag, mass/100), so a product ``x @ W`` can be taken as a sum of rows of ``W`` (``None`` if not built).
    """

    x: torch.Tensor
    e: torch.Tensor
    src: torch.Tensor
    dst: torch.Tensor
    rev: torch.Tensor
    batch: torch.Tensor
    n_mols: int
    codes: torch.Tensor | None = None
    cont: torch.Tensor | None = None
    bond_ids: torch.Tensor | None = None


# Every possible row of the bond features: type column 0-4 (0 = none of the four) × conjugated × in ring × stereo
# column 7-13; ``e == BOND_COMBOS[bond_combo_ids(codes)]`` (tested), so ``e @ W`` is a row of BOND_COMBOS @ W.
N_BOND_COMBOS = 5 * 2 * 2 * 7


def bond_combo_ids(codes: np.ndarray) -> np.ndarray:
    """``(E,)`` int64 row of :data:`BOND_COMBOS` for compact bond codes ``(E, 4)``."""
    c = codes.astype(np.int64)
    return c[:, 0] + 5 * (c[:, 1] + 2 * (c[:, 2] + 2 * (c[:, 3] - 7)))


def _bond_combos() -> np.ndarray:
    t, conj, ring, st = np.meshgrid(np.arange(5), np.arange(2), np.arange(2), np.arange(7, 14), indexing="ij")
    codes = np.stack([t, conj, ring, st], axis=-1).reshape(-1, 4)
    out = np.zeros((N_BOND_COMBOS, BOND_DIM), dtype=np.float32)
    out[bond_combo_ids(codes)] = dense_bonds(codes)
    return out


def batch_graphs(graphs: Sequence[MolGraph]) -> BatchGraph:
    """Concatenate molecules; index offsets and dense features are computed with whole-batch numpy operations.

    All graphs must use the same atom layout (a ``ValueError`` otherwise: mixing them would misplace columns)."""
    dims = {g.atom_dim for g in graphs}
    if len(dims) > 1:
        raise ValueError(f"graphs of different atom layouts (widths {sorted(dims)}) cannot be batched together")
    atom_dim = dims.pop() if dims else ATOM_DIM
    n_at = np.array([g.atoms.shape[0] for g in graphs], dtype=np.int64)
    n_e = np.array([g.src.shape[0] for g in graphs], dtype=np.int64)
    a_off = np.repeat(np.cumsum(n_at) - n_at, n_e)  # atom offset of each edge's molecule
    e_start = np.repeat(np.cumsum(n_e) - n_e, n_e)
    e_total = int(n_e.sum())
    local = np.arange(e_total) - e_start
    rev = e_start + (local ^ 1)  # 2k <-> 2k+1 within each molecule
    src = np.concatenate([g.src for g in graphs]) + a_off if e_total else np.zeros(0, np.int64)
    dst = np.concatenate([g.dst for g in graphs]) + a_off if e_total else np.zeros(0, np.int64)
    codes = np.concatenate([g.atoms for g in graphs]) if graphs else np.zeros((0, 6), np.int16)
    cont = np.concatenate([g.atom_cont for g in graphs]) if graphs else np.zeros((0, 2), np.float32)
    x = dense_atoms(codes, cont, atom_dim)
    bcodes = np.concatenate([g.bonds for g in graphs]) if graphs else np.zeros((0, 4), np.int8)
    e = dense_bonds(bcodes)
    batch = np.repeat(np.arange(len(graphs)), n_at)
    return BatchGraph(torch.from_numpy(x), torch.from_numpy(e), torch.from_numpy(src.astype(np.int64)),
                      torch.from_numpy(dst.astype(np.int64)), torch.from_numpy(rev.astype(np.int64)),
                      torch.from_numpy(batch), len(graphs), torch.from_numpy(codes.astype(np.int64)),
                      torch.from_numpy(np.ascontiguousarray(cont, dtype=np.float32)),
                      torch.from_numpy(bond_combo_ids(bcodes)))


def morgan_matrix(mols: Sequence[Any], radius: int = 2, n_bits: int = 2048, counts: bool = False) -> np.ndarray:
    """``(n, n_bits)`` Morgan fingerprint matrix (float32); ``counts=True`` gives count fingerprints."""
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(mols), n_bits), dtype=np.float32)
    for i, m in enumerate(mols):
        out[i] = gen.GetCountFingerprintAsNumPy(m) if counts else gen.GetFingerprintAsNumPy(m)
    return out


BOND_COMBOS = _bond_combos()  # (N_BOND_COMBOS, BOND_DIM) float32
