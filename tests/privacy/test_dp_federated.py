"""DP-SGD through the Trainer (epsilon vs Opacus' accountant) and a Flower federation on real PhysioNet rows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from medkit.core.errors import PrivacyError

torch = pytest.importorskip("torch")
pytest.importorskip("opacus")


@pytest.fixture(scope="module")
def physio(shared_data: Path):
    from medkit.privacy.physionet_sites import load_xy

    return load_xy("a", shared_data, limit=700)


@pytest.mark.parametrize("eps", [0, -1.0, math.inf, float("nan")])
def test_epsilon_must_be_positive_and_finite(eps: float) -> None:
    from medkit.privacy.dp import make_dp_setup_hook

    with pytest.raises(PrivacyError, match="epsilon must be a finite number > 0"):
        make_dp_setup_hook(eps, epochs=3)


def test_dp_training_epsilon_matches_opacus_accountant(physio) -> None:
    from opacus.accountants import RDPAccountant
    from sklearn.metrics import roc_auc_score

    from medkit.privacy.dp import make_dp_setup_hook
    from medkit.privacy.tabular_mlp import MLP, Standardizer, predict_proba, train_mlp
    from medkit.training import TrainConfig

    X, y = physio.X, physio.y
    tr = np.arange(len(y)) < 500
    st = Standardizer().fit(X[tr])
    cfg = TrainConfig(max_epochs=4, batch_size=50, lr=3e-3, grad_clip=None, patience=None, scheduler="none",
                      monitor="train_loss", progress=False)
    hook = make_dp_setup_hook(3.0, 1e-4, epochs=cfg.max_epochs)
    torch.manual_seed(0)
    model = MLP(X.shape[1])
    train_mlp(model, st.transform(X[tr]), y[tr], cfg, setup_hook=hook)
    rep = hook.report()
    # independent recomputation with Opacus' own RDP accountant from (noise, sample rate, steps)
    acc = RDPAccountant()
    acc.history = [(rep["noise_multiplier"], rep["sample_rate"], rep["steps"])]
    assert rep["epsilon_spent"] == pytest.approx(acc.get_epsilon(1e-4), rel=1e-9)
    assert rep["epsilon_spent"] <= 3.0 + 1e-6 and rep["epsilon_spent"] > 1.0
    assert rep["steps"] == 4 * 10 and rep["noise_multiplier"] > 0.3
    p = predict_proba(model, st.transform(X[~tr]))
    assert np.isfinite(p).all() and roc_auc_score(y[~tr], p) > 0.55  # noisy, but still learns something


def test_delta_too_large_is_refused(physio) -> None:
    from medkit.privacy.dp import make_dp_setup_hook
    from medkit.privacy.tabular_mlp import MLP, train_mlp
    from medkit.training import TrainConfig

    hook = make_dp_setup_hook(3.0, 0.01, epochs=1)
    with pytest.raises(PrivacyError, match="delta=0.01 is not below 1/n"):
        train_mlp(MLP(physio.X.shape[1]), np.nan_to_num(physio.X[:300]).astype(np.float32), physio.y[:300],
                  TrainConfig(max_epochs=1, progress=False, grad_clip=None), setup_hook=hook)
    with pytest.raises(PrivacyError, match="no DP training"):
        make_dp_setup_hook(1.0, epochs=1).spent_epsilon()


def test_three_site_federation_converges_with_dropout_and_a_site_without_positives(physio) -> None:
    from sklearn.metrics import roc_auc_score

    from medkit.privacy.federated import run_federated
    from medkit.privacy.tabular_mlp import predict_proba

    X, y, icu = physio.X, physio.y, physio.icu
    tr = np.arange(len(y)) < 560
    sites = [(X[tr & (icu == k)], y[tr & (icu == k)]) for k in (2, 3, 4)]
    cc = tr & (icu == 1) & (y == 0)
    sites.append((X[cc], y[cc]))  # site 3: coronary care negatives only ...
    res = run_federated(sites, strategy="fedprox", mu=0.01, rounds=4, local_epochs=2, seed=0, timeout_s=240,
                        drop={3: 3}, val_fraction=0.2)  # ... and it crashes in round 3
    assert res.sites_without_positives == [3] and res.dropped_sites == [3]
    assert [r["n_results"] for r in res.rounds] == [4, 4, 3, 3]
    assert res.rounds[2]["n_failures"] == 1
    losses = [r["train_loss"] for r in res.rounds]
    assert losses[-1] < losses[0]  # converging
    assert 1 <= res.best_round <= 4 and all(0.5 < r["val_auroc"] <= 1 for r in res.rounds)
    p = predict_proba(res.model(X.shape[1]), res.standardise(X[~tr]))
    assert roc_auc_score(y[~tr], p) > 0.7


class _Seq(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.GRU(3, 4, batch_first=True)
        self.out = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, 3) -> (B,)
        return self.out(self.rnn(x)[0][:, -1]).squeeze(-1)


def test_gru_model_is_refused_then_made_compatible() -> None:
    from medkit.privacy.dp import make_dp_compatible, make_dp_setup_hook
    from medkit.training import TrainConfig, Trainer

    x = torch.randn(400, 5, 3)
    y = (x[:, -1, 0] > 0).float()
    ds = torch.utils.data.TensorDataset(x, y)

    def loss_fn(m: torch.nn.Module, b: tuple) -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy_with_logits(m(b[0]), b[1])

    cfg = TrainConfig(max_epochs=2, batch_size=50, grad_clip=None, progress=False, monitor="train_loss")
    with pytest.raises(PrivacyError, match="GRU"):
        Trainer(_Seq(), loss_fn, cfg, setup_hook=make_dp_setup_hook(5.0, 1e-3, epochs=2)).fit(ds)
    hook = make_dp_setup_hook(5.0, 1e-3, epochs=2)
    Trainer(make_dp_compatible(_Seq()), loss_fn, cfg, setup_hook=hook).fit(ds)
    assert 0 < hook.spent_epsilon() <= 5.0 + 1e-6
