"""Molecule featurisation: Morgan fingerprints and chemprop-style atom/bond graphs for the D-MPNN.

Atom features (133): one-hot atomic number (first 100 elements + other), degree (0–5), formal charge
(−2…+2), chirality tag (4), total H count (0–4), hybridisation (SP…SP3D2), aromaticity, mass/100 — the
feature set of chemprop v1/v2 ("v1" featuriser). Bond features (14): none-bond flag, type (4), conjugated,
in ring, stereo (6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["ATOM_DIM", "BOND_DIM", "BatchGraph", "GraphCache", "MolGraph", "atom_codes", "atom_features", "batch_graphs",
           "bond_features", "dense_atoms", "dense_bonds", "mol_graph", "morgan_matrix"]

_MAX_Z = 100
_DEGREE = [0, 1, 2, 3, 4, 5]
_CHARGE = [-1, -2, 1, 2, 0]
_CHIRAL = [0, 1, 2, 3]
_NUM_H = [0, 1, 2, 3, 4]


def _hybrids() -> list[Any]:
    from rdkit.Chem.rdchem import HybridizationType as H

    return [H.SP, H.SP2, H.SP3, H.SP3D, H.SP3D2]


def _onehot(value: Any, choices: Sequence[Any]) -> list[float]:
    v = [0.0] * (len(choices) + 1)
    v[choices.index(value) if value in choices else -1] = 1.0
    return v


ATOM_DIM = (_MAX_Z + 1) + (len(_DEGREE) + 1) + (len(_CHARGE) + 1) + (len(_CHIRAL) + 1) + (len(_NUM_H) + 1) + 6 + 2
BOND_DIM = 14


def atom_features(atom: Any) -> list[float]:
    hy = _hybrids()
    return (_onehot(atom.GetAtomicNum() - 1, list(range(_MAX_Z))) + _onehot(atom.GetTotalDegree(), _DEGREE)
            + _onehot(atom.GetFormalCharge(), _CHARGE) + _onehot(int(atom.GetChiralTag()), _CHIRAL)
            + _onehot(int(atom.GetTotalNumHs()), _NUM_H) + _onehot(atom.GetHybridization(), hy)
            + [1.0 if atom.GetIsAromatic() else 0.0, atom.GetMass() * 0.01])


def bond_features(bond: Any) -> list[float]:
    from rdkit.Chem.rdchem import BondType as B

    bt = bond.GetBondType()
    return ([0.0, float(bt == B.SINGLE), float(bt == B.DOUBLE), float(bt == B.TRIPLE), float(bt == B.AROMATIC),
             float(bond.GetIsConjugated()), float(bond.IsInRing())] + _onehot(int(bond.GetStereo()), list(range(6))))


# Offsets of each one-hot group inside the atom / bond feature vector (same layout as atom_features/bond_features).
_A_GROUPS = [_MAX_Z + 1, len(_DEGREE) + 1, len(_CHARGE) + 1, len(_CHIRAL) + 1, len(_NUM_H) + 1, 6]
_A_OFF = np.cumsum([0] + _A_GROUPS[:-1])
_ONEHOT_END = int(sum(_A_GROUPS))  # aromatic flag and mass/100 follow


def _lut(choices: Sequence[Any]) -> dict[Any, int]:
    return {c: i for i, c in enumerate(choices)}


_DEG, _CHG, _CHI, _NH = _lut(_DEGREE), _lut(_CHARGE), _lut(_CHIRAL), _lut(_NUM_H)
_LUTS: dict[str, dict[Any, int]] = {}


def _rdkit_luts() -> tuple[dict[Any, int], dict[Any, int]]:
    """Hybridisation and bond-type lookup tables, built once (RDKit enums are imported lazily)."""
    if not _LUTS:
        from rdkit.Chem.rdchem import BondType as B

        _LUTS["hyb"] = _lut(_hybrids())
        _LUTS["bond"] = {B.SINGLE: 1, B.DOUBLE: 2, B.TRIPLE: 3, B.AROMATIC: 4}
    return _LUTS["hyb"], _LUTS["bond"]


def atom_codes(mol: Any) -> tuple[np.ndarray, np.ndarray]:
    """Compact atom features: ``(A, 6)`` int16 column indices of the hot entries, ``(A, 2)`` aromatic, mass/100.

    Equal to :func:`atom_features` once expanded (tested); ~50 bytes per atom instead of 532, so a cache of
    100,000 molecules fits in ~150 MB, and the dense matrix of a whole batch is built with one numpy scatter.
    Dictionary lookups and ``GetAtomWithIdx`` instead of list scans and RDKit's Python atom sequence: this
    loop is the per-molecule cost of prediction.
    """
    hyb, _ = _rdkit_luts()
    n_at = mol.GetNumAtoms()
    rows = np.empty((n_at, 6), dtype=np.int16)
    cont = np.empty((n_at, 2), dtype=np.float32)
    for i in range(n_at):
        a = mol.GetAtomWithIdx(i)
        z = a.GetAtomicNum() - 1
        rows[i] = (z if 0 <= z < _MAX_Z else _MAX_Z, _DEG.get(a.GetTotalDegree(), len(_DEGREE)),
                   _CHG.get(a.GetFormalCharge(), len(_CHARGE)), _CHI.get(int(a.GetChiralTag()), len(_CHIRAL)),
                   _NH.get(int(a.GetTotalNumHs()), len(_NUM_H)), hyb.get(a.GetHybridization(), 5))
        cont[i] = (1.0 if a.GetIsAromatic() else 0.0, a.GetMass() * 0.01)
    return rows + _A_OFF.astype(np.int16), cont


def _bond_code(bond: Any, types: dict[Any, int]) -> tuple[int, int, int, int]:
    """Compact bond features: type column (1-4, 0 = none of them), conjugated, in ring, stereo column (7-13)."""
    st = int(bond.GetStereo())
    return (types.get(bond.GetBondType(), 0), int(bond.GetIsConjugated()), int(bond.IsInRing()),
            7 + (st if st < 6 else 6))


@dataclass
class MolGraph:
    """One molecule, stored compactly.

    ``atoms`` (A, 6) int16 hot columns, ``atom_cont`` (A, 2) aromatic flag and mass/100, ``bonds`` (2B, 4) int8
    (type column, conjugated, in ring, stereo column) per directed bond, ``src``/``dst`` (2B,) atom indices.
    ``x`` / ``e`` give the dense (A, ATOM_DIM) / (2B, BOND_DIM) float32 features.
    """

    atoms: np.ndarray
    atom_cont: np.ndarray
    bonds: np.ndarray
    src: np.ndarray
    dst: np.ndarray

    @property
    def n_atoms(self) -> int:
        return int(self.atoms.shape[0])

    @property
    def x(self) -> np.ndarray:
        return dense_atoms(self.atoms, self.atom_cont)

    @property
    def e(self) -> np.ndarray:
        return dense_bonds(self.bonds)


def dense_atoms(codes: np.ndarray, cont: np.ndarray) -> np.ndarray:
    """``(A, ATOM_DIM)`` float32 from compact codes (one scatter for a whole batch)."""
    x = np.zeros((codes.shape[0], ATOM_DIM), dtype=np.float32)
    np.put_along_axis(x, codes.astype(np.int64), 1.0, axis=1)
    x[:, _ONEHOT_END:] = cont
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


def mol_graph(mol: Any) -> MolGraph:
    """Directed-bond graph of an RDKit molecule; bond ``2k`` and ``2k+1`` are each other's reverse."""
    codes, cont = atom_codes(mol)
    _, types = _rdkit_luts()
    bonds, src, dst = [], [], []
    for k in range(mol.GetNumBonds()):
        b = mol.GetBondWithIdx(k)
        c = _bond_code(b, types)
        u, v = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        bonds += [c, c]
        src += [u, v]
        dst += [v, u]
    return MolGraph(codes, cont, np.array(bonds, dtype=np.int8).reshape(-1, 4), np.array(src, dtype=np.int64),
                    np.array(dst, dtype=np.int64))


class GraphCache:
    """Bounded SMILES → :class:`MolGraph` cache (least recently used out), so repeated molecules (validation
    every epoch, ensemble members, a server seeing the same SMILES) are featurised once."""

    def __init__(self, maxsize: int = 100_000) -> None:
        from collections import OrderedDict

        self.maxsize = maxsize
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
        g = mol_graph(mol)
        self._d[smiles] = g
        if len(self._d) > self.maxsize:
            self._d.popitem(last=False)
        return g

    def __len__(self) -> int:
        return len(self._d)


@dataclass
class BatchGraph:
    """Molecules concatenated into one disconnected graph (torch tensors).

    ``x`` (A, ATOM_DIM), ``e`` (E, BOND_DIM), ``src``/``dst``/``rev`` (E,), ``batch`` (A,) molecule of each atom,
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
    """Concatenate molecules; index offsets and dense features are computed with whole-batch numpy operations."""
    n_at = np.array([g.atoms.shape[0] for g in graphs], dtype=np.int64)
    n_e = np.array([g.src.shape[0] for g in graphs], dtype=np.int64)
    a_off = np.repeat(np.cumsum(n_at) - n_at, n_e)  # atom offset of each edge's molecule
    e_start = np.repeat(np.cumsum(n_e) - n_e, n_e)
    e_total = int(n_e.sum())
    local = np.arange(e_total) - e_start
    rev = e_start + (local ^ 1)  # 2k <-> 2k+1 within each molecule
    src = np.concatenate([g.src for g in graphs]) + a_off if e_total else np.zeros(0, np.int64)
    dst = np.concatenate([g.dst for g in graphs]) + a_off if e_total else np.zeros(0, np.int64)
    x = dense_atoms(np.concatenate([g.atoms for g in graphs]), np.concatenate([g.atom_cont for g in graphs]))
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
