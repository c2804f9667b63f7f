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

__all__ = ["ATOM_DIM", "BOND_DIM", "BatchGraph", "MolGraph", "batch_graphs", "mol_graph", "morgan_matrix"]

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


@dataclass
class MolGraph:
    """One molecule: ``x`` (A, ATOM_DIM), ``e`` (2B, BOND_DIM) per directed bond, ``src``/``dst`` (2B,)."""

    x: np.ndarray
    e: np.ndarray
    src: np.ndarray
    dst: np.ndarray

    @property
    def n_atoms(self) -> int:
        return int(self.x.shape[0])


def mol_graph(mol: Any) -> MolGraph:
    """Directed-bond graph of an RDKit molecule; bond ``2k`` and ``2k+1`` are each other's reverse."""
    x = np.array([atom_features(a) for a in mol.GetAtoms()], dtype=np.float32).reshape(-1, ATOM_DIM)
    e, src, dst = [], [], []
    for b in mol.GetBonds():
        f = bond_features(b)
        u, v = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        e += [f, f]
        src += [u, v]
        dst += [v, u]
    return MolGraph(x, np.array(e, dtype=np.float32).reshape(-1, BOND_DIM), np.array(src, dtype=np.int64),
                    np.array(dst, dtype=np.int64))


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
    xs, es, srcs, dsts, revs, bs = [], [], [], [], [], []
    a_off = e_off = 0
    for i, g in enumerate(graphs):
        n_e = g.e.shape[0]
        xs.append(g.x)
        es.append(g.e)
        srcs.append(g.src + a_off)
        dsts.append(g.dst + a_off)
        revs.append(np.arange(n_e) ^ 1 if n_e else np.zeros(0, np.int64))  # 2k <-> 2k+1
        revs[-1] = revs[-1] + e_off
        bs.append(np.full(g.n_atoms, i, dtype=np.int64))
        a_off += g.n_atoms
        e_off += n_e
    return BatchGraph(torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(es)),
                      torch.from_numpy(np.concatenate(srcs)), torch.from_numpy(np.concatenate(dsts)),
                      torch.from_numpy(np.concatenate(revs).astype(np.int64)), torch.from_numpy(np.concatenate(bs)),
                      len(graphs))


def morgan_matrix(mols: Sequence[Any], radius: int = 2, n_bits: int = 2048, counts: bool = False) -> np.ndarray:
    """``(n, n_bits)`` Morgan fingerprint matrix (float32); ``counts=True`` gives count fingerprints."""
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(mols), n_bits), dtype=np.float32)
    for i, m in enumerate(mols):
        out[i] = gen.GetCountFingerprintAsNumPy(m) if counts else gen.GetFingerprintAsNumPy(m)
    return out
