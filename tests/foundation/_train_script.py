"""Helper run in a subprocess by test_training: trains a small MLP on real WDBC data.

argv: checkpoint_dir out_weights kill_after_epoch(-1 = never)
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from medkit.data import load_dataset
from medkit.training import TrainConfig, Trainer


def main() -> None:
    ckpt, out, kill_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)
    ds = load_dataset("wdbc")
    X = ds.X.to_numpy(dtype=np.float32)
    X = (X - X.mean(0)) / X.std(0)
    y = ds.y.to_numpy().astype(np.float32)
    data = TensorDataset(torch.from_numpy(X[:400]), torch.from_numpy(y[:400]))
    val = TensorDataset(torch.from_numpy(X[400:]), torch.from_numpy(y[400:]))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))

    def loss_fn(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        xb, yb = batch
        return nn.functional.binary_cross_entropy_with_logits(m(xb).squeeze(-1), yb)

    def on_epoch_end(epoch: int, logs: dict[str, float]) -> None:
        if epoch == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)  # a real kill: no cleanup, no exception handlers

    cfg = TrainConfig(max_epochs=6, batch_size=32, lr=1e-2, patience=None, seed=0, progress=False)
    Trainer(model, loss_fn, cfg, checkpoint_dir=ckpt, on_epoch_end=on_epoch_end).fit(data, val)
    torch.save(model.state_dict(), out)


if __name__ == "__main__":
    main()
