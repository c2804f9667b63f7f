"""D-MPNN overfits 32 molecules, masked multitask loss, ensembles, fingerprint baseline vs scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medkit.core.errors import DataError, NotFittedError
from medkit.data import load_dataset
from medkit.drug.dmpnn import DMPNNModel, masked_loss
from medkit.drug.predictors import FingerprintModel

SMALL = dict(hidden=64, ffn_hidden=64, depth=3, batch_size=16, progress=False, patience=None)


@pytest.fixture(scope="module")
def mols() -> list[str]:
    return load_dataset("moses", split="test", n=32).data


def _logp(smiles: list[str]) -> np.ndarray:
    from rdkit import Chem
    from rdkit.Chem import Crippen

    return np.array([Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in smiles])


def test_dmpnn_overfits_32_molecules(mols: list[str]) -> None:
    y = _logp(mols)
    m = DMPNNModel(epochs=150, lr=3e-3, **SMALL).fit(mols, y)
    pred = m.predict(mols)
    rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
    assert rmse < 0.15 * y.std(), rmse  # memorises: RMSE well below the label spread
    assert m.histories_[0][-1]["train_loss"] < 0.05 * m.histories_[0][0]["train_loss"]


def test_masked_multitask_loss() -> None:
    pred = torch.tensor([[0.5, 2.0], [1.0, -1.0]], requires_grad=True)
    y = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    loss = masked_loss(pred, y, "regression")
    assert float(loss.detach()) == pytest.approx(((0.5 - 1) ** 2 + 1 ** 2 + (-2) ** 2) / 3)
    loss.backward()
    assert pred.grad is not None and float(pred.grad[0, 1]) == 0.0  # missing label: no gradient
    bce = masked_loss(pred.detach(), y, "classification")
    ref = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor([0.5, 1.0, -1.0]),
                                                               torch.tensor([1.0, 0.0, 1.0]))
    assert float(bce) == pytest.approx(float(ref), rel=1e-6)


def test_multitask_classification_ensemble_and_bad_inputs(mols: list[str]) -> None:
    y = np.stack([(_logp(mols) > 2).astype(float), (np.arange(32) % 2).astype(float)], axis=1)
    y[::3, 1] = np.nan  # missing labels in task 1
    m = DMPNNModel(task_type="classification", epochs=3, ensemble_size=2, **SMALL).fit(mols, y)
    res = m.predict_with_uncertainty(mols[:4] + ["not a smiles", ""])
    assert res.mean.shape == (6, 2) and np.isnan(res.mean[4:]).all()
    assert [r.index for r in res.invalid] == [4, 5]
    assert ((res.mean[:4] >= 0) & (res.mean[:4] <= 1)).all()
    assert (res.variance[:4] > 0).all()  # two members disagree somewhat
    a = m.explain(mols[0])
    from rdkit import Chem

    assert len(a.weights) == Chem.MolFromSmiles(mols[0]).GetNumAtoms()
    with pytest.raises(DataError):
        m.explain("C1CC")
    with pytest.raises(DataError, match="no labels"):
        DMPNNModel(epochs=1, **SMALL).fit(mols, np.full(32, np.nan))
    with pytest.raises(DataError, match="numeric"):
        DMPNNModel(epochs=1, **SMALL).fit(mols, ["a"] * 32)
    with pytest.raises(NotFittedError):
        DMPNNModel().predict(mols)


def test_fingerprint_rf_matches_sklearn(mols: list[str]) -> None:
    from sklearn.ensemble import RandomForestRegressor

    from medkit.drug.chem import mol_from_smiles
    from medkit.drug.featurize import morgan_matrix

    y = _logp(mols)
    m = FingerprintModel(model="rf", n_estimators=20, seed=3).fit(mols, y)
    X = morgan_matrix([mol_from_smiles(s) for s in mols], 2, 2048, counts=True)
    ref = RandomForestRegressor(n_estimators=20, random_state=3, n_jobs=1).fit(X, y)
    assert np.allclose(m.predict(mols), ref.predict(X))
    a = m.explain(mols[1])
    assert np.isfinite(a.weights).all() and a.method == "fingerprint occlusion"
    g = FingerprintModel(model="gbm", n_estimators=20, task_type="classification").fit(mols, (y > 2).astype(float))
    proba = g.predict_proba(mols + ["xx"])
    assert proba.shape == (33, 2) and np.isnan(proba[-1]).all()
    assert np.allclose(proba[:-1].sum(1), 1.0)


def test_draw_attribution(mols: list[str]) -> None:
    from medkit.drug.draw import draw_attributions

    m = FingerprintModel(model="rf", n_estimators=5).fit(mols, _logp(mols))
    png = draw_attributions(m.explain(mols[0]), fmt="png", size=(200, 160))
    assert isinstance(png, bytes) and png[:4] == b"\x89PNG"


def test_interpret_dispatch_and_clone(mols: list[str]) -> None:
    from sklearn.base import clone

    from medkit.interpret import explain

    m = FingerprintModel(model="rf", n_estimators=5).fit(mols, _logp(mols))
    ex = explain(m, mols[:2])  # medkit.interpret hands SMILES to the model's own explain
    assert ex.method == "fingerprint occlusion"
    own = m.explain(mols[:2])
    assert isinstance(own, list) and len(own) == 2
    c = clone(DMPNNModel(hidden=32, ensemble_size=2))
    assert c.get_params()["hidden"] == 32 and not hasattr(c, "models_")


def test_noam_schedule_trains_and_bad_schedule_is_refused(mols: list[str]) -> None:
    from medkit.core.errors import ConfigError

    y = _logp(mols)
    m = DMPNNModel(epochs=40, lr=3e-3, lr_schedule="noam", **SMALL).fit(mols, y)
    h = m.histories_[0]
    assert h[-1]["train_loss"] < 0.5 * h[0]["train_loss"]
    # chemprop's schedule: peak lr after the 2 warm-up epochs, lr/10 at the end (not 0 as cosine)
    assert max(r["lr"] for r in h) == pytest.approx(3e-3, rel=0.05) and h[-1]["lr"] == pytest.approx(3e-4, rel=0.1)
    with pytest.raises(ConfigError, match="lr_schedule"):
        DMPNNModel(epochs=1, lr_schedule="linear", **SMALL).fit(mols, y)  # type: ignore[arg-type]
