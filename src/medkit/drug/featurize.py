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

__all__ = ["ATOM_DIM", "ATOM_DIMS", "BOND_DIM", "AtomFeatures", "BatchGraph", "GraphCache", "MolGraph", "atom_codes",
           "atom_features", "batch_graphs", "bond_features", "check_atom_features", "dense_atoms", "dense_bonds",
           "mol_graph", "morgan_matrix"]

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


def _lut(choices: Sequence[Any]) -> dict[Any, int]:
    return {c: i for i, c in enumerate(choices)}


_DEG, _CHG, _CHI, _NH = _lut(_DEGREE), _lut(_CHARGE), _lut(_CHIRAL), _lut(_NUM_H)


@dataclass(frozen=True)
class _AtomLayout:
    """Lookup tables of one atom-feature layout: atomic number and hybridisation → column, group offsets."""

    z: dict[int, int]
    hyb: dict[Any, int]
    offsets: np.ndarray  # (6,) int16 start column of each one-hot group
    dim: int


_LAYOUTS: dict[str, _AtomLayout] = {}
_BOND_TYPES: dict[Any, int] = {}


def _layout(mode: str) -> _AtomLayout:
    """Layout tables, built once per mode (RDKit enums are imported lazily)."""
    if mode not in _LAYOUTS:
        check_atom_features(mode)
        g = _groups(mode)
        _LAYOUTS[mode] = _AtomLayout(_lut(_ATOMIC_NUMS[mode]), _lut(_hybrids(mode)),
                                     np.cumsum([0] + g[:-1]).astype(np.int16), ATOM_DIMS[mode])
    return _LAYOUTS[mode]


def _bond_types() -> dict[Any, int]:
    if not _BOND_TYPES:
        from rdkit.Chem.rdchem import BondType as B

        _BOND_TYPES.update({B.SINGLE: 1, B.DOUBLE: 2, B.TRIPLE: 3, B.AROMATIC: 4})
    return _BOND_TYPES


def atom_codes(mol: Any, mode: str = "v1") -> tuple[np.ndarray, np.ndarray]:
    """Compact atom features: ``(A, 6)`` int16 column indices of the hot entries, ``(A, 2)`` aromatic, mass/100.

    Equal to :func:`atom_features` once expanded (tested); ~50 bytes per atom instead of 532, so a cache of
    100,000 molecules fits in ~150 MB, and the dense matrix of a whole batch is built with one numpy scatter.
    Dictionary lookups and ``GetAtomWithIdx`` instead of list scans and RDKit's Python atom sequence: this
    loop is the per-molecule cost of prediction.
    """
    lay = _layout(mode)
    nz, nh = len(lay.z), len(lay.hyb)
    n_at = mol.GetNumAtoms()
    rows = np.empty((n_at, 6), dtype=np.int16)
    cont = np.empty((n_at, 2), dtype=np.float32)
    for i in range(n_at):
        a = mol.GetAtomWithIdx(i)
        rows[i] = (lay.z.get(a.GetAtomicNum(), nz), _DEG.get(a.GetTotalDegree(), len(_DEGREE)),
                   _CHG.get(a.GetFormalCharge(), len(_CHARGE)), _CHI.get(int(a.GetChiralTag()), len(_CHIRAL)),
                   _NH.get(int(a.GetTotalNumHs()), len(_NUM_H)), lay.hyb.get(a.GetHybridization(), nh))
        cont[i] = (1.0 if a.GetIsAromatic() else 0.0, a.GetMass() * 0.01)
    return rows + lay.offsets, cont


def _bond_code(bond: Any, types: dict[Any, int]) -> tuple[int, int, int, int]:
    """Compact bond features: type column (1-4, 0 = none of them), conjugated, in ring, stereo column (7-13)."""
    st = int(bond.GetStereo())
    return (types.get(bond.GetBondType(), 0), int(bond.GetIsConjugated()), int(bond.IsInRing()),
            7 + (st if st < 6 else 6))


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
    codes, cont = atom_codes(mol, atom_features)
    types = _bond_types()
    bonds, src, dst = [], [], []
    for k in range(mol.GetNumBonds()):
        b = mol.GetBondWithIdx(k)
        c = _bond_code(b, types)
        u, v = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        bonds += [c, c]
        src += [u, v]
        dst += [v, u]
    return MolGraph(codes, cont, np.array(bonds, dtype=np.int8).reshape(-1, 4), np.array(src, dtype=np.int64),
                    np.array(dst, dtype=np.int64), ATOM_DIMS[atom_features])


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

    def __len__(self) -> int:
        return len(self._d)


@dataclass
class BatchGraph:
    """Molecules concatenated into one disconnected graph (torch tensors).

    ``x`` (A, atom_dim), ``e`` (E, BOND_DIM), ``src``/``dst``/``rev`` (E,), ``batch`` (A,) molecule of each atom,
    ``n_mols``.
    """

    x: torch.Tensor
    e: torch.Tensor
    src: torch.Tensor
    dst: torch.Tensor
    rev: torch.Tensor
    batch: torch.Tensor
    n_mols: int


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
    x = dense_atoms(np.concatenate([g.atoms for g in graphs]), np.concatenate([g.atom_cont for g in graphs]),
                    atom_dim)
    e = dense_bonds(np.concatenate([g.bonds for g in graphs]))
    batch = np.repeat(np.arange(len(graphs)), n_at)
    return BatchGraph(torch.from_numpy(x), torch.from_numpy(e), torch.from_numpy(src.astype(np.int64)),
                      torch.from_numpy(dst.astype(np.int64)), torch.from_numpy(rev.astype(np.int64)),
                      torch.from_numpy(batch), len(graphs))


def morgan_matrix(mols: Sequence[Any], radius: int = 2, n_bits: int = 2048, counts: bool = False) -> np.ndarray:
    """``(n, n_bits)`` Morgan fingerprint matrix (float32); ``counts=True`` gives count fingerprints."""
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(mols), n_bits), dtype=np.float32)
    for i, m in enumerate(mols):
        out[i] = gen.GetCountFingerprintAsNumPy(m) if counts else gen.GetFingerprintAsNumPy(m)
    return out
