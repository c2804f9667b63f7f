"""Training shared by the 2-D and 3-D UNet segmenters: loss with paired augmentation, validation monitoring,
Trainer configuration and the fitted-estimator bookkeeping (``history_``, ``best_epoch_``, ...).

Both estimators differ only in how patches are drawn, which augmentation runs and how validation images are
predicted; everything else about a fit is here, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from medkit.training import TrainConfig, Trainer

__all__ = ["fit_segmentation_net"]


def fit_segmentation_net(est: Any, net: torch.nn.Module, x: np.ndarray, y: np.ndarray, crit: Callable[..., Any],
                         aug: Callable[..., Any] | None, val_dice: Callable[[], float] | None, *,
                         patience: int | None, description: str) -> None:
    """Train ``net`` on patches ``x`` ``(N, C, *P)`` / labels ``y`` ``(N, *P)`` and store the fit on ``est``.

    ``est`` provides the hyper-parameters (``epochs``, ``batch_size``, ``lr``, ``seed``, ``num_threads``,
    ``progress``, ``max_seconds``). ``val_dice`` computes validation Dice with ``est.model_`` (set to the
    network being trained before each call); with it, the epoch of best validation Dice is restored at the end.
    A time-out keeps the last epoch's weights: with the cosine schedule they are usually the best-annealed ones.
    """

    def loss_fn(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        xb, yb = batch
        yb = yb.unsqueeze(1)  # (B, 1, *P)
        if aug is not None:
            xb, yb = aug(xb, yb)
        return crit(m(xb), yb)  # type: ignore[no-any-return]

    val_fn = None
    monitor, mode = "train_loss", "min"
    if val_dice is not None:
        monitor, mode = "val_dice", "max"

        def val_fn(m: torch.nn.Module, _loader: Any) -> dict[str, float]:
            est.model_ = m
            return {"val_dice": val_dice()}

    cfg = TrainConfig(max_epochs=est.epochs, batch_size=est.batch_size, lr=est.lr, weight_decay=1e-4,
                      patience=patience, monitor=monitor, mode=mode, seed=est.seed, num_threads=est.num_threads,
                      progress=est.progress, scheduler="cosine", restore_best=val_dice is not None,
                      max_seconds=est.max_seconds, on_time_out="keep_last")
    dummy_val = TensorDataset(torch.zeros(1)) if val_dice is not None else None  # val_fn reads the images itself
    result = Trainer(net, loss_fn, cfg, val_fn=val_fn, description=description).fit(
        TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), dummy_val)
    est.history_ = result.history
    est.best_epoch_ = len(result.history) - 1 if result.out_of_time else result.best_epoch
    est.stopped_by_time_ = result.out_of_time
    est.train_seconds_ = result.seconds
    est.model_ = net.eval()
