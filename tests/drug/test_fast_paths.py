"""D-MPNN fast paths: compact featurisation equals the per-atom reference, the graph cache equals fresh
featurisation, vectorised batching equals the per-molecule loop, parse-only input checks, bf16 training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem

from medkit.drug.chem import parse_smiles, standardise_smiles
from medkit.drug.dmpnn import DMPNN, DMPNNModel, _linear
from medkit.drug.featurize import (
    ATOM_DIMS,
    BOND_DIM,
    GraphCache,
    atom_features,
    batch_graphs,
    bond_features,
    mol_graph,
)

torch.set_num_threads(1)

SMILES = ["CCO", "c1ccc2[nH]ccc2c1", "C[C@H](N)C(=O)O", "F/C=C/Cl", "[NH4+]", "C#N", "O=S(=O)(O)c1ccccc1Br",
          "[2H]C([2H])([2H])I", "C1CC2CCC1CC2", "[Se]1C=CC=C1", "C", "CC(=O)[O-].[Na+]"]


@pytest.mark.parametrize("mode", ["v1", "v2"])
def test_compact_features_equal_per_atom_reference(mode: str) -> None:
    for s in SMILES:
        mol = Chem.MolFromSmiles(s)
        g = mol_graph(mol, mode)
        ref_x = np.array([atom_features(a, mode) for a in mol.GetAtoms()], dtype=np.float32).reshape(
            -1, ATOM_DIMS[mode])
        ref_e = np.array([f for b in mol.GetBonds() for f in (bond_features(b), bond_features(b))],
                         dtype=np.float32).reshape(-1, BOND_DIM)
        assert np.array_equal(g.x, ref_x), s
        assert np.array_equal(g.e, ref_e), s


def _reference_batch(graphs: list) -> dict[str, np.ndarray]:
    """The original per-molecule concatenation loop."""
    xs, es, srcs, dsts, revs, bs = [], [], [], [], [], []
    a_off = e_off = 0
    for i, g in enumerate(graphs):
        n_e = g.src.shape[0]
        xs.append(g.x)
        es.append(g.e)
        srcs.append(g.src + a_off)
        dsts.append(g.dst + a_off)
        revs.append((np.arange(n_e) ^ 1) + e_off)
        bs.append(np.full(g.n_atoms, i))
        a_off += g.n_atoms
        e_off += n_e
    return {k: np.concatenate(v) for k, v in
            {"x": xs, "e": es, "src": srcs, "dst": dsts, "rev": revs, "batch": bs}.items()}


def test_vectorised_batch_equals_loop_and_cache_equals_fresh() -> None:
    cache = GraphCache(maxsize=5)
    graphs = [cache.get(s) for s in SMILES] + [cache.get(SMILES[-1])]
    assert cache.hits == 1 and len(cache) == 5  # bounded
    fresh = [mol_graph(Chem.MolFromSmiles(s)) for s in SMILES + [SMILES[-1]]]
    for a, b in zip(graphs, fresh, strict=True):
        for f in ("atoms", "atom_cont", "bonds", "src", "dst"):
            assert np.array_equal(getattr(a, f), getattr(b, f))
    got, ref = batch_graphs(graphs), _reference_batch(fresh)
    for k, v in ref.items():
        assert np.array_equal(getattr(got, k).numpy(), v), k
    assert got.n_mols == len(graphs)


def test_parse_only_reports_the_same_invalid_rows() -> None:
    bad = ["CCO", "", "C1CC", "c1cccc1", None, "C" * 200, "CCN"]
    p, s = parse_smiles(bad), standardise_smiles(bad)
    assert [(r.index, r.reason) for r in p.invalid] == [(r.index, r.reason) for r in s.invalid]
    assert p.mols is not None and [m is not None for m in p.mols] == [x is not None for x in s.smiles]


def test_padded_bf16_linear_matches_unpadded() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(40, 30)
    t = torch.randn(77, 40)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        padded, plain = _linear(layer, t), layer(t).float()
    assert padded.shape == (77, 30) and padded.dtype == torch.float32
    torch.testing.assert_close(padded, plain, atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(_linear(layer, t), layer(t))  # fp32: no padding, exact


def test_bf16_dmpnn_overfits_and_predicts_like_fp32_parse_only() -> None:
    smiles = ["C" * k + "O" for k in range(1, 9)] + ["c1ccccc1" + "C" * k for k in range(8)]
    y = np.array([len(s) * 0.3 + ("c" in s) for s in smiles])
    m = DMPNNModel(epochs=150, batch_size=16, lr=3e-3, patience=None, progress=False, precision="bf16",
                   standardise=False).fit(smiles, y)
    pred = m.predict(smiles)
    assert np.sqrt(np.mean((pred - y) ** 2)) < 0.15 * y.std()
    res = m.predict_with_uncertainty(smiles[:3] + ["not a smiles"])
    assert np.isnan(res.mean[3, 0]) and res.invalid[0].index == 3
    m.precision = "fp32"  # same weights evaluated in fp32: bf16 changes predictions only slightly
    assert np.allclose(m.predict(smiles), pred, atol=0.05 * y.std())
    assert m.graph_cache_.hits > 0  # the training molecules were featurised once
    with pytest.raises(Exception, match="precision"):
        DMPNNModel(precision="fp16", epochs=1, progress=False).fit(smiles, y)


def test_dmpnn_pickle_drops_cache() -> None:
    import pickle

    m = DMPNNModel(epochs=1, progress=False, standardise=False).fit(["CCO", "CCN", "CCC"], [1.0, 2.0, 3.0])
    m.predict(["CCO"])
    clone = pickle.loads(pickle.dumps(m))
    assert getattr(clone, "graph_cache_", None) is None
    assert np.allclose(clone.predict(["CCO", "CCN"]), m.predict(["CCO", "CCN"]))
    assert isinstance(clone.models_[0], DMPNN)


def test_v2_atom_layout_cache_batch_and_estimator() -> None:
    import pickle

    from medkit.core.errors import ConfigError

    cache = GraphCache(atom_features="v2")
    g2 = cache.get("CC(=O)[O-].[Na+]")
    assert g2.atom_dim == ATOM_DIMS["v2"] and g2.x.shape == (5, ATOM_DIMS["v2"])
    with pytest.raises(ValueError, match="atom layouts"):  # mixing layouts would misplace columns
        batch_graphs([g2, mol_graph(Chem.MolFromSmiles("CCO"))])
    with pytest.raises(ConfigError, match="atom_features"):
        GraphCache(atom_features="v3")
    smiles = ["CCO", "CCN", "CCC", "c1ccccc1O", "CC(=O)O", "CCCl"]
    y = np.array([1.0, 2.0, 3.0, 0.5, 1.5, 2.5])
    m = DMPNNModel(epochs=2, progress=False, standardise=False, atom_features="v2").fit(smiles, y)
    assert m.models_[0].W_i.in_features == ATOM_DIMS["v2"] + BOND_DIM
    assert m.graph_cache_.atom_features == "v2" and np.isfinite(m.predict(smiles)).all()
    assert len(m.explain("CCO").weights) == 3
    with pytest.raises(ConfigError, match="atom_features"):
        DMPNNModel(epochs=1, progress=False, atom_features="v3").fit(smiles, y)
    # a model pickled before the option existed has no atom_features attribute: it loads as the v1 layout
    v1 = DMPNNModel(epochs=1, progress=False, standardise=False).fit(smiles, y)
    state = v1.__getstate__()
    del state["atom_features"]
    old = DMPNNModel.__new__(DMPNNModel)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.atom_features == "v1" and np.allclose(old.predict(smiles), v1.predict(smiles))
