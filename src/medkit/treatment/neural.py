"""TARNet / DragonNet-style neural treatment-effect model: a shared representation with one head per arm.

Φ(x) = MLP(x) (shared) → ŷ_a = h_a(Φ(x)) for each arm a; the loss is the squared error of the *factual*
head (the arm the patient received). With ``propensity_weight > 0`` a softmax propensity head on Φ is added
(DragonNet, Shi et al. NeurIPS 2019): in a randomised trial it should learn nothing, and its cross-entropy
regularises Φ towards treatment-irrelevant features. Trained with :class:`medkit.training.Trainer`
(early stopping on a 15 % validation split), inputs and outcome standardised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from medkit.treatment.learners import _ArmLearner


class ArmHeadsNet(nn.Module):
    """Shared representation + K outcome heads (+ optional propensity head)."""

    def __init__(self, p: int, n_arms: int, hidden: int = 64, rep: int = 32, dropout: float = 0.1) -> None:
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(p, hidden), nn.ELU(), nn.Dropout(dropout), nn.Linear(hidden, rep), nn.ELU())
        self.heads = nn.ModuleList([nn.Sequential(nn.Linear(rep, hidden // 2), nn.ELU(), nn.Linear(hidden // 2, 1))
                                    for _ in range(n_arms)])
        self.prop = nn.Linear(rep, n_arms)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.phi(x)  # (B, rep)
        y = torch.cat([h(z) for h in self.heads], 1)  # (B, K)
        return y, self.prop(z)  # (B, K), (B, K) logits


class TARNetLearner(_ArmLearner):
    """Multi-arm TARNet (``propensity_weight=0``) or DragonNet-style (``> 0``) learner.

    Parameters
    ----------
    hidden, rep, dropout
        Width of the shared MLP, size of the representation, dropout.
    propensity_weight
        Weight of the propensity cross-entropy (0 = TARNet).
    max_epochs, batch_size, lr, weight_decay, patience
        :class:`medkit.training.TrainConfig` settings.
    reference, seed
        Reference arm for ``effects``; random seed.
    """

    def __init__(self, hidden: int = 64, rep: int = 32, dropout: float = 0.1, propensity_weight: float = 0.0,
                 max_epochs: int = 100, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 1e-3,
                 patience: int = 10, reference: int = 0, seed: int = 0) -> None:
        self.hidden = hidden
        self.rep = rep
        self.dropout = dropout
        self.propensity_weight = propensity_weight
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.reference = reference
        self.seed = seed

    def _fit(self, X: np.ndarray, k: np.ndarray, y: np.ndarray, prop: np.ndarray) -> None:
        from torch.utils.data import TensorDataset

        from medkit.training import TrainConfig, Trainer

        self.x_mean_, self.x_std_ = X.mean(0), np.where(X.std(0) > 0, X.std(0), 1.0)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std() or 1.0)
        Xs = torch.from_numpy(((X - self.x_mean_) / self.x_std_).astype(np.float32))
        ys = torch.from_numpy(((y - self.y_mean_) / self.y_std_).astype(np.float32))
        kt = torch.from_numpy(k.astype(np.int64))
        torch.manual_seed(self.seed)
        net = ArmHeadsNet(X.shape[1], len(self.arms_), self.hidden, self.rep, self.dropout)
        perm = np.random.default_rng(self.seed).permutation(len(y))
        n_val = max(1, int(0.15 * len(y)))
        va, tr = torch.from_numpy(perm[:n_val]), torch.from_numpy(perm[n_val:])
        w = self.propensity_weight

        def loss_fn(m: nn.Module, batch: Any) -> torch.Tensor:
            xb, kb, yb = batch
            out, logits = m(xb)
            factual = out.gather(1, kb[:, None])[:, 0]  # (B,) the head of the received arm
            loss = torch.mean((factual - yb) ** 2)
            if w > 0:
                loss = loss + w * nn.functional.cross_entropy(logits, kb)
            return loss

        cfg = TrainConfig(max_epochs=self.max_epochs, batch_size=self.batch_size, lr=self.lr,
                          weight_decay=self.weight_decay, patience=self.patience, seed=self.seed, progress=False)
        self.train_result_ = Trainer(net, loss_fn, cfg, description="tarnet").fit(
            TensorDataset(Xs[tr], kt[tr], ys[tr]), TensorDataset(Xs[va], kt[va], ys[va]))
        self.net_ = net

    def predict_outcomes(self, X: Any) -> np.ndarray:
        Xa = self._X(X)
        self.net_.eval()
        with torch.no_grad():
            out, _ = self.net_(torch.from_numpy(((Xa - self.x_mean_) / self.x_std_).astype(np.float32)))
        return out.numpy().astype(np.float64) * self.y_std_ + self.y_mean_
