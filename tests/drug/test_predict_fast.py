"""D-MPNN prediction path: batch featurisation equals the per-molecule one and the reference featuriser, the
one-hot-aware forward (``predict_fast``) equals the plain forward with the same weights, and the estimator's
predictions are those of the plain forward whichever matrix-product library is used."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem

from medkit.drug import gemm
from medkit.drug.dmpnn import DMPNN, DMPNNModel
from medkit.drug.featurize import (
    ATOM_DIMS,
    BOND_COMBOS,
    BOND_DIM,
    GraphCache,
    atom_features,
    batch_graphs,
    bond_combo_ids,
    bond_features,
    dense_bonds,
    mol_graph,
    mol_graphs,
)

torch.set_num_threads(1)

# single atoms (no bonds), ions, isotopes, stereo bonds, charges outside the one-hot range, odd elements
SMILES = ["CCO", "C", "[NH4+]", "c1ccc2[nH]ccc2c1", "C[C@H](N)C(=O)O", "F/C=C/Cl", "[2H]C([2H])([2H])I", "C#N",
          "O=S(=O)(O)c1ccccc1Br", "CC(=O)[O-].[Na+]", "[Se]1C=CC=C1", "C[Te]C", "[Sn](C)(C)(C)C", "FS(F)(F)(F)(F)F",
          "[Fe+3]", "[O-][N+](=O)c1ccc(cc1)C=O", "C1CC2CCC1CC2", "N#N"]


@pytest.mark.parametrize("mode", ["v1", "v2"])
def test_batch_featurisation_equals_reference_and_single(mode: str) -> None:
    mols = [Chem.MolFromSmiles(s) for s in SMILES]
    batch = mol_graphs(mols, mode)
    assert len(batch) == len(mols) and mol_graphs([], mode) == []
    for s, m, g in zip(SMILES, mols, batch, strict=True):
        one = mol_graph(m, mode)
        for f in ("atoms", "atom_cont", "bonds", "src", "dst"):
            assert np.array_equal(getattr(g, f), getattr(one, f)), (s, f)
        ref_x = np.array([atom_features(a, mode) for a in m.GetAtoms()], dtype=np.float32).reshape(-1, ATOM_DIMS[mode])
        ref_e = np.array([f for b in m.GetBonds() for f in (bond_features(b), bond_features(b))],
                         dtype=np.float32).reshape(-1, BOND_DIM)
        assert np.array_equal(g.x, ref_x) and np.array_equal(g.e, ref_e), s
        ends = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in m.GetBonds()]
        assert g.src.tolist() == [i for u, v in ends for i in (u, v)] and g.dst.tolist() == [i for u, v in ends
                                                                                            for i in (v, u)]


def test_graph_cache_get_many_equals_get() -> None:
    cache = GraphCache(maxsize=100)
    cache.get("CCO")
    smiles = ["CCO", "C#N", "CCO", "c1ccccc1", "C#N", "[NH4+]"]
    got = cache.get_many(smiles)
    assert cache.hits == 2 and cache.misses == 1 + 3  # "CCO" cached twice; the others featurised once each
    assert got[1] is got[4]
    for s, g in zip(smiles, got, strict=True):
        ref = mol_graph(Chem.MolFromSmiles(s))
        assert np.array_equal(g.x, ref.x) and np.array_equal(g.e, ref.e) and np.array_equal(g.src, ref.src)
    small = GraphCache(maxsize=2)
    assert len(small.get_many(smiles)) == len(smiles) and len(small) == 2  # bounded, all rows still answered
    assert small.get_many([]) == []


def test_bond_combination_table_equals_dense_bonds() -> None:
    graphs = mol_graphs([Chem.MolFromSmiles(s) for s in SMILES])
    codes = np.concatenate([g.bonds for g in graphs])
    assert np.array_equal(BOND_COMBOS[bond_combo_ids(codes)], dense_bonds(codes))
    assert len(np.unique(bond_combo_ids(codes))) > 5  # several bond types, stereo and ring flags were exercised
    bg = batch_graphs(graphs)
    assert bg.bond_ids is not None and np.array_equal(BOND_COMBOS[bg.bond_ids.numpy()], bg.e.numpy())


@pytest.mark.parametrize(("mode", "pre"), [("v1", True), ("v1", False), ("v2", True)])
def test_predict_fast_equals_forward(mode: str, pre: bool) -> None:
    torch.manual_seed(0)
    net = DMPNN(n_tasks=2, hidden=48, depth=4, ffn_hidden=16, h0_preactivation=pre, atom_dim=ATOM_DIMS[mode]).eval()
    with torch.no_grad():  # larger weights than the initialisation, so every term matters
        for p in net.parameters():
            p.mul_(3.0)
    g = batch_graphs(mol_graphs([Chem.MolFromSmiles(s) for s in SMILES], mode))
    with torch.no_grad():
        ref = net(g)
    assert ref.abs().max() > 0.1
    no_codes = type(g)(g.x, g.e, g.src, g.dst, g.rev, g.batch, g.n_mols)  # dense-x fallback
    for graph in (g, no_codes):
        for numpy_gemm in (False, True):
            torch.testing.assert_close(net.predict_fast(graph, numpy_gemm=numpy_gemm), ref, atol=1e-5, rtol=1e-5)
    # the fast path is a different computation: a wrong weight split would not pass
    w = net.inference_weights()
    w["bond"] = w["bond"].flip(0)
    w["bond_combos"] = w["bond_combos"].flip(0)
    assert not torch.allclose(net.predict_fast(g, w), ref, atol=1e-3)


def test_estimator_predictions_equal_plain_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    smiles = ["CCO", "CCN", "CCC", "c1ccccc1O", "CC(=O)O", "CCCl", "C", "[NH4+]"]
    y = np.array([1.0, 2.0, 3.0, 0.5, 1.5, 2.5, 0.0, 1.0])
    m = DMPNNModel(epochs=3, progress=False, standardise=False, ensemble_size=2).fit(smiles, y)
    g = batch_graphs([mol_graph(Chem.MolFromSmiles(s)) for s in smiles])
    with torch.no_grad():
        ref = np.mean([net(g).numpy()[:, 0] for net in m.models_], axis=0) * m.y_std_[0] + m.y_mean_[0]
    for backend in ("torch", "numpy"):
        monkeypatch.setattr(gemm, "_GEMM", [backend])
        np.testing.assert_allclose(m.predict(smiles), ref, atol=1e-5, rtol=1e-5)


def test_gemm_backend_choice_and_thread_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from threadpoolctl import threadpool_info

    from medkit.core.errors import ConfigError

    monkeypatch.setattr(gemm, "_GEMM", [])
    monkeypatch.setenv("MEDKIT_DMPNN_GEMM", "numpy")
    assert gemm.gemm_backend() == "numpy"
    monkeypatch.setattr(gemm, "_GEMM", [])
    monkeypatch.setenv("MEDKIT_DMPNN_GEMM", "mkl")
    with pytest.raises(ConfigError, match="MEDKIT_DMPNN_GEMM"):
        gemm.gemm_backend()
    monkeypatch.delenv("MEDKIT_DMPNN_GEMM")
    assert gemm.gemm_backend() in {"torch", "numpy"}  # chosen by timing
    with gemm.blas_limit():  # numpy's BLAS gets torch's thread budget (1 here) while predicting
        assert all(i["num_threads"] == torch.get_num_threads() for i in threadpool_info() if i["user_api"] == "blas")
