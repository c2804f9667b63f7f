"""medkit's D-MPNN pieces against chemprop v2 (installed) as the independent reference.

- the Noam-like LR schedule equals chemprop's ``build_NoamLike_LRSched`` step by step, and resumes exactly;
- atom/bond features equal chemprop's ``MultiHotAtomFeaturizer.v1()`` / ``.v2()`` (chemprop v2's default) /
  ``MultiHotBondFeaturizer``;
- with the same weights, medkit's message passing + mean readout equals chemprop's ``BondMessagePassing`` +
  ``MeanAggregation`` (``h0_preactivation=True``), and the paper form (``False``) differs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medkit.drug.noam import NoamAdam, noam_lr

chemprop = pytest.importorskip("chemprop")

SMILES = ["CC(=O)Oc1ccccc1C(=O)O", "C[C@H](N)C(=O)O", "c1ccc2[nH]ccc2c1", "O=[N+]([O-])c1ccc(Cl)cc1", "C#CCBr",
          "CCO"]
# atoms that the v1 and v2 layouts place differently: Te and Sn (own column in v1, "other" in v2), I (own column
# in both), Na+ (hybridisation S: its own column in v2, "other" in v1), hexavalent S (SP3D2)
ODD = ["C[Te]C", "[Sn](C)(C)(C)C", "CC(=O)[O-].[Na+]", "Ic1ccccc1", "FS(F)(F)(F)(F)F"]


def test_noam_schedule_equals_chemprop() -> None:
    from chemprop.schedulers import build_NoamLike_LRSched

    warm, cool, init, peak, final = 6, 20, 1e-4, 1e-3, 1e-4
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=init)
    sched = build_NoamLike_LRSched(opt, warm, cool, init, peak, final)
    ref = []
    for _ in range(warm + cool + 5):
        ref.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    ours = [noam_lr(i, warm, warm + cool, init, peak, final) for i in range(len(ref))]
    np.testing.assert_allclose(ours, ref, rtol=1e-9)
    assert max(ours) == pytest.approx(peak) and ours[-1] == pytest.approx(final)


def test_noam_adam_sets_lr_and_resumes_from_state_dict() -> None:
    def run(steps: int, opt: NoamAdam, p: torch.nn.Parameter) -> list[float]:
        lrs = []
        for _ in range(steps):
            p.grad = torch.ones_like(p)
            opt.step()
            lrs.append(opt.param_groups[0]["lr"])
        return lrs

    p = torch.nn.Parameter(torch.zeros(3))
    full = run(12, NoamAdam([p], 4, 10), p)
    assert full[:5] == pytest.approx([noam_lr(i, 4, 10, 1e-4, 1e-3, 1e-4) for i in range(5)])
    q = torch.nn.Parameter(torch.zeros(3))
    first = NoamAdam([q], 4, 10)
    head = run(5, first, q)
    r = torch.nn.Parameter(q.detach().clone())
    resumed = NoamAdam([r], 4, 10)
    resumed.load_state_dict(first.state_dict())
    tail = run(7, resumed, r)
    assert head + tail == pytest.approx(full)
    torch.testing.assert_close(r.detach(), p.detach())


def _chemprop_graphs(mode: str = "v1", smiles: list[str] = SMILES) -> tuple[object, list[object]]:
    from chemprop.featurizers import MultiHotAtomFeaturizer, SimpleMoleculeMolGraphFeaturizer
    from rdkit import Chem

    feat = SimpleMoleculeMolGraphFeaturizer(atom_featurizer=getattr(MultiHotAtomFeaturizer, mode)())
    return feat, [feat(Chem.MolFromSmiles(s)) for s in smiles]


@pytest.mark.parametrize("mode", ["v1", "v2"])
def test_features_equal_chemprop_featuriser(mode: str) -> None:
    from chemprop.featurizers import SimpleMoleculeMolGraphFeaturizer
    from rdkit import Chem

    from medkit.drug.featurize import ATOM_DIMS, mol_graph

    if mode == "v2":  # v2 is what chemprop uses when no atom featuriser is given (the benchmark's anchor)
        assert SimpleMoleculeMolGraphFeaturizer().atom_fdim == ATOM_DIMS["v2"] == 72
    _, cps = _chemprop_graphs(mode, SMILES + ODD)
    for s, cp in zip(SMILES + ODD, cps, strict=True):
        g = mol_graph(Chem.MolFromSmiles(s), mode)
        assert g.x.shape[1] == ATOM_DIMS[mode]
        np.testing.assert_allclose(g.x, cp.V, atol=1e-6, err_msg=s)  # type: ignore[attr-defined]
        np.testing.assert_allclose(g.e, cp.E, atol=1e-6)  # type: ignore[attr-defined]
        np.testing.assert_array_equal(np.stack([g.src, g.dst]), cp.edge_index)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("pre", "mode"), [(True, "v1"), (False, "v1"), (True, "v2")])
def test_message_passing_equals_chemprop_bond_message_passing(pre: bool, mode: str) -> None:
    from chemprop.data import BatchMolGraph
    from chemprop.nn import BondMessagePassing, MeanAggregation
    from rdkit import Chem

    from medkit.drug.dmpnn import DMPNN
    from medkit.drug.featurize import ATOM_DIMS, BOND_DIM, batch_graphs, mol_graph

    torch.manual_seed(0)
    _, cps = _chemprop_graphs(mode)
    mp = BondMessagePassing(d_v=ATOM_DIMS[mode], d_e=BOND_DIM, d_h=32, depth=3).eval()
    net = DMPNN(n_tasks=1, hidden=32, depth=3, ffn_hidden=8, h0_preactivation=pre, atom_dim=ATOM_DIMS[mode]).eval()
    with torch.no_grad():
        net.W_i.weight.copy_(mp.W_i.weight)
        net.W_h.weight.copy_(mp.W_h.weight)
        net.W_o.weight.copy_(mp.W_o.weight)
        net.W_o.bias.copy_(mp.W_o.bias)
        bmg = BatchMolGraph(cps)
        ref = MeanAggregation()(mp(bmg), bmg.batch)
        bg = batch_graphs([mol_graph(Chem.MolFromSmiles(s), mode) for s in SMILES])
        ours = net.encode(bg)
        fast = [net.encode_fast(bg, numpy_gemm=ng) for ng in (False, True)]  # the prediction path
    if pre:
        torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
        for f in fast:
            torch.testing.assert_close(f, ref, atol=1e-5, rtol=1e-5)
    else:  # the paper's form is a different function of the same weights
        assert not torch.allclose(ours, ref, atol=1e-3)
