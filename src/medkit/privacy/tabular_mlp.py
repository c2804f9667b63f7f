"""A small MLP on tabular summary features for the DP and federated experiments, trained with medkit's Trainer.

No BatchNorm (Opacus' per-sample gradients do not support it, and batch statistics would mix sites in
federated training); preprocessing is a median-impute + standardise fitted on training rows only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from medkit.training import TrainConfig, Trainer
from medkit.training.loop import SetupHook, TrainResult, predict_batches


@dataclass
class Standardizer:
    """Median imputation then z-scoring, clipped to +-5 SD (fitted on training rows)."""

    median_: np.ndarray | None = None
    mean_: np.ndarray | None = None
    std_: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> Standardizer:
        X = np.asarray(X, dtype=float)
        med = np.nanmedian(np.where(np.isfinite(X), X, np.nan), axis=0)
        self.median_ = np.where(np.isfinite(med), med, 0.0)
        Xi = self._impute(X)
        self.mean_ = Xi.mean(axis=0)
        std = Xi.std(axis=0)
        self.std_ = np.where(std > 1e-8, std, 1.0)
        return self

    def _impute(self, X: np.ndarray) -> np.ndarray:
        assert self.median_ is not None
        return np.where(np.isfinite(X), X, self.median_)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(N, F) float array -> (N, F) float32, no NaN."""
        assert self.mean_ is not None and self.std_ is not None
        Z = (self._impute(np.asarray(X, dtype=float)) - self.mean_) / self.std_
        return np.clip(Z, -5, 5).astype(np.float32)


class MLP(nn.Module):
    """(B, F) -> (B,) logits; two hidden ReLU layers with dropout."""

    def __init__(self, n_features: int, hidden: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, F) -> (B,)
        return self.net(x).squeeze(-1)


def tensor_dataset(X: np.ndarray, y: np.ndarray) -> TensorDataset:
    return TensorDataset(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32))


def auroc_val_fn(model: nn.Module, loader: torch.utils.data.DataLoader) -> dict[str, float]:
    """Validation AUROC (NaN when the validation labels hold one class only)."""
    from sklearn.metrics import roc_auc_score

    ps, ys = [], []
    for xb, yb in loader:
        ps.append(torch.sigmoid(model(xb)))
        ys.append(yb)
    y = torch.cat(ys).numpy()
    p = torch.cat(ps).numpy()
    return {"val_auroc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")}


def train_mlp(model: nn.Module, X: np.ndarray, y: np.ndarray, config: TrainConfig, *,
              X_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
              setup_hook: SetupHook | None = None,
              penalty: Callable[[nn.Module], torch.Tensor] | None = None,
              pos_weight: float | None = None) -> TrainResult:
    """Train ``model`` through :class:`medkit.training.Trainer` with BCE loss.

    ``penalty(model)`` is added to every batch loss (FedProx' proximal term); ``setup_hook`` attaches
    e.g. Opacus (see :mod:`medkit.privacy.dp`).
    """
    pw = torch.tensor(pos_weight) if pos_weight else None

    def loss_fn(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        xb, yb = batch
        loss = nn.functional.binary_cross_entropy_with_logits(m(xb), yb, pos_weight=pw)
        return loss + penalty(m) if penalty is not None else loss

    has_val = X_val is not None and y_val is not None and len(np.unique(y_val)) == 2
    cfg = config if has_val or config.monitor in {"val_loss", "train_loss"} else \
        config.model_copy(update={"monitor": "train_loss", "mode": "min"})
    trainer = Trainer(model, loss_fn, cfg, val_fn=auroc_val_fn if has_val else None, setup_hook=setup_hook,
                      description="mlp")
    val = tensor_dataset(X_val, y_val) if has_val else None  # type: ignore[arg-type]
    return trainer.fit(tensor_dataset(X, y), val)


def predict_proba(model: nn.Module, X: np.ndarray) -> np.ndarray:
    """(N, F) -> (N,) probabilities."""
    ds = TensorDataset(torch.as_tensor(X, dtype=torch.float32))
    logits = predict_batches(model, ds, lambda m, b: m(b[0]))
    return 1.0 / (1.0 + np.exp(-logits))
