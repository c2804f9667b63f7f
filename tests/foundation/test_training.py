"""The training loop: exact resume after a kill, overfitting, early stopping, bad losses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from medkit.core.errors import ConfigError, ModelError
from medkit.data import load_dataset
from medkit.training import TrainConfig, Trainer

SCRIPT = Path(__file__).with_name("_train_script.py")


def _run(ckpt: Path, out: Path, kill_after: int) -> int:
    return subprocess.run([sys.executable, str(SCRIPT), str(ckpt), str(out), str(kill_after)],
                          capture_output=True, timeout=300).returncode


def test_resume_after_kill_gives_identical_weights(tmp_path: Path) -> None:
    ref_out, res_out = tmp_path / "ref.pt", tmp_path / "resumed.pt"
    assert _run(tmp_path / "ckpt_ref", ref_out, -1) == 0
    rc = _run(tmp_path / "ckpt_res", res_out, 2)
    assert rc != 0 and not res_out.exists()  # killed by SIGKILL after epoch 2
    assert (tmp_path / "ckpt_res" / "last.pt").exists()
    assert _run(tmp_path / "ckpt_res", res_out, -1) == 0  # resume from the checkpoint
    ref, res = torch.load(ref_out), torch.load(res_out)
    assert ref.keys() == res.keys()
    for k in ref:
        assert torch.equal(ref[k], res[k]), k
    # And the weights really changed vs a run that was cut short (the test can fail).
    cut = torch.load(tmp_path / "ckpt_res" / "last.pt", weights_only=False)
    assert cut["epoch"] == 5


def _wdbc_tensors(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    ds = load_dataset("wdbc")
    X = torch.tensor(ds.X.to_numpy()[:n], dtype=torch.float32)
    X = (X - X.mean(0)) / X.std(0)
    return X, torch.tensor(ds.y.to_numpy()[:n], dtype=torch.float32)


def _bce(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(m(batch[0]).squeeze(-1), batch[1])


def test_overfits_a_tiny_batch() -> None:
    X, y = _wdbc_tensors(16)
    model = nn.Sequential(nn.Linear(30, 32), nn.ReLU(), nn.Linear(32, 1))
    cfg = TrainConfig(max_epochs=150, batch_size=16, lr=1e-2, weight_decay=0, patience=None, scheduler="none",
                      progress=False, monitor="train_loss")
    res = Trainer(model, _bce, cfg).fit(TensorDataset(X, y))
    assert res.history[-1]["train_loss"] < 0.01
    assert res.history[0]["train_loss"] > 0.3


def test_early_stopping_and_best_weights_restored() -> None:
    X, y = _wdbc_tensors(300)
    model = nn.Sequential(nn.Linear(30, 64), nn.ReLU(), nn.Linear(64, 1))
    # Validation on shuffled labels: no real improvement possible, so training stops early.
    yv = y[200:][torch.randperm(100, generator=torch.Generator().manual_seed(0))]
    cfg = TrainConfig(max_epochs=60, batch_size=32, lr=3e-2, patience=3, progress=False)
    t = Trainer(model, _bce, cfg)
    res = t.fit(TensorDataset(X[:200], y[:200]), TensorDataset(X[200:], yv))
    assert res.stopped_early and len(res.history) < 60
    assert res.best_epoch == min(range(len(res.history)), key=lambda i: res.history[i]["val_loss"])
    with torch.no_grad():
        final = _bce(model, (X[200:], yv)).item()
    assert final == pytest.approx(res.best_score, rel=1e-5)


def test_nan_loss_and_bad_monitor_raise() -> None:
    X, y = _wdbc_tensors(32)
    X[0, 0] = float("nan")
    model = nn.Linear(30, 1)
    with pytest.raises(ModelError, match="loss became nan"):
        Trainer(model, _bce, TrainConfig(max_epochs=1, progress=False)).fit(TensorDataset(X, y))
    with pytest.raises(ConfigError, match="needs validation data"):
        Trainer(model, _bce, TrainConfig(monitor="val_auroc", progress=False)).fit(TensorDataset(X, y))
    with pytest.raises(ModelError, match="empty"):
        Trainer(model, _bce, TrainConfig(progress=False)).fit(TensorDataset(X[:0], y[:0]))


def test_corrupt_checkpoint_is_reported(tmp_path: Path) -> None:
    X, y = _wdbc_tensors(32)
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read checkpoint"):
        Trainer(nn.Linear(30, 1), _bce, TrainConfig(progress=False), checkpoint_dir=tmp_path).fit(TensorDataset(X, y))


def test_time_budget_stops_and_restores_best() -> None:
    X, y = _wdbc_tensors(200)
    model = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1))
    cfg = TrainConfig(max_epochs=10_000, batch_size=32, patience=None, progress=False, max_seconds=0.5)
    res = Trainer(model, _bce, cfg).fit(TensorDataset(X[:150], y[:150]), TensorDataset(X[150:], y[150:]))
    assert res.out_of_time and res.stopped_early and len(res.history) < 10_000
    with torch.no_grad():
        assert _bce(model, (X[150:], y[150:])).item() == pytest.approx(res.best_score, rel=1e-5)


def test_step_budget_cuts_a_long_epoch_and_keep_last_keeps_last_weights() -> None:
    import time as _time

    X, y = _wdbc_tensors(200)
    calls = {"n": 0}

    def slow_bce(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        calls["n"] += 1
        _time.sleep(0.01)  # 150 batches would take >= 1.5 s; the 0.2 s budget must cut the first epoch
        return _bce(m, batch)

    model = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1))
    cfg = TrainConfig(max_epochs=5, batch_size=1, patience=None, progress=False, max_seconds=0.2,
                      budget_check="step")
    res = Trainer(model, slow_bce, cfg).fit(TensorDataset(X[:150], y[:150]), TensorDataset(X[150:], y[150:]))
    assert res.out_of_time and len(res.history) == 1 and calls["n"] < 150
    assert "val_loss" in res.history[0]  # the partial epoch is validated like a full one

    # Validation labels inverted: every epoch of training makes the validation loss worse, so the best epoch
    # is the first one and "restore_best" and "keep_last" must leave different weights.
    snaps: list[dict[str, torch.Tensor]] = []
    for mode in ("restore_best", "keep_last"):
        snaps.clear()
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1))
        cfg = TrainConfig(max_epochs=10_000, batch_size=32, lr=1e-2, patience=None, progress=False,
                          max_seconds=0.5, on_time_out=mode)
        t = Trainer(model, _bce, cfg, on_epoch_end=lambda e, logs, m=model: snaps.append(
            {k: v.clone() for k, v in m.state_dict().items()}))
        res = t.fit(TensorDataset(X[:150], y[:150]), TensorDataset(X[150:], 1 - y[150:]))
        assert res.out_of_time and len(snaps) >= 3 and res.best_epoch < len(snaps) - 1
        expect = snaps[-1] if mode == "keep_last" else snaps[res.best_epoch]
        for k, v in model.state_dict().items():
            assert torch.equal(v, expect[k]), (mode, k)
