"""One training loop a reader can follow top to bottom.

Features: mini-batches, AdamW, LR schedule (cosine / plateau / step, optional
linear warm-up), early stopping on a validation metric, gradient clipping, a rich
progress bar with live loss/metric, CPU thread control, and checkpoint + exact
resume: after a kill, ``fit`` on the same checkpoint directory continues from the
last finished epoch and ends with the same weights as an uninterrupted run.

Exact resume works because everything random is either re-derived from
``(seed, epoch)`` (the shuffle order) or saved in the checkpoint (model,
optimizer, scheduler, early-stopping state, torch/numpy/python RNG states).
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from medkit.core.errors import ConfigError, ModelError
from medkit.core.logging import get_logger
from medkit.core.progress import progress_enabled
from medkit.core.seed import seed_everything
from medkit.training.config import TrainConfig

log = get_logger("medkit.training")

LossFn = Callable[[nn.Module, Any], torch.Tensor]
ValFn = Callable[[nn.Module, DataLoader], dict[str, float]]
SetupHook = Callable[[nn.Module, torch.optim.Optimizer, DataLoader], tuple[nn.Module, torch.optim.Optimizer, DataLoader]]


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    Attributes
    ----------
    history
        One dict per finished epoch: ``epoch``, ``train_loss``, ``lr``, ``seconds``
        and every validation metric.
    best_epoch, best_score
        Epoch (0-based) and value of the monitored metric at its best.
    stopped_early
        Whether early stopping (or the time budget) ended training before ``max_epochs``.
    out_of_time
        Whether ``max_seconds`` ended training; the best weights are restored unless
        ``on_time_out="keep_last"``.
    resumed_from
        Epoch index training resumed after, or ``None``.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = float("nan")
    stopped_early: bool = False
    resumed_from: int | None = None
    seconds: float = 0.0
    out_of_time: bool = False


class Trainer:
    """Train an ``nn.Module`` with a user-supplied loss.

    Parameters
    ----------
    model
        The module to train (updated in place).
    loss_fn
        ``loss_fn(model, batch) -> scalar tensor``. The batch is whatever the
        DataLoader yields (use ``collate_fn`` for custom batching).
    config
        A :class:`TrainConfig`.
    val_fn
        ``val_fn(model, val_loader) -> {"metric": value}``; the default is the mean
        ``loss_fn`` over the validation loader, reported as ``val_loss``. Called in
        ``eval()`` mode under ``torch.no_grad()``.
    checkpoint_dir
        Where ``last.pt`` is written after every epoch; if it already holds one,
        ``fit`` resumes from it.
    setup_hook
        Optional ``(model, optimizer, loader) -> (model, optimizer, loader)`` run
        once before training, e.g. to attach Opacus' ``PrivacyEngine``.
    on_epoch_end
        Optional callback ``(epoch, logs)`` after the checkpoint is written.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        config: TrainConfig | None = None,
        *,
        val_fn: ValFn | None = None,
        checkpoint_dir: str | Path | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        setup_hook: SetupHook | None = None,
        on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
        description: str = "training",
    ) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.config = config or TrainConfig()
        self.val_fn = val_fn
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.collate_fn = collate_fn
        self.setup_hook = setup_hook
        self.on_epoch_end = on_epoch_end
        self.description = description
        self.optimizer: torch.optim.Optimizer | None = None

    # ------------------------------------------------------------------ public
    def fit(self, train_data: Dataset, val_data: Dataset | None = None) -> TrainResult:
        cfg = self.config
        if len(train_data) == 0:  # type: ignore[arg-type]
            raise ModelError("training set is empty", where=self.description, fix="check the split and filters")
        if cfg.monitor not in {"val_loss", "train_loss"} and val_data is None:
            raise ConfigError(f"monitor '{cfg.monitor}' needs validation data", where="train.monitor",
                              fix="pass val_data or monitor 'train_loss'")
        seed_everything(cfg.seed)
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)

        gen = torch.Generator()
        loader = DataLoader(train_data, batch_size=cfg.batch_size, shuffle=True, generator=gen,
                            collate_fn=self.collate_fn, drop_last=cfg.drop_last)
        val_loader = (DataLoader(val_data, batch_size=max(cfg.batch_size, 256), shuffle=False,
                                 collate_fn=self.collate_fn) if val_data is not None else None)
        optimizer: torch.optim.Optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        model = self.model
        if self.setup_hook is not None:
            model, optimizer, loader = self.setup_hook(model, optimizer, loader)
        self.optimizer = optimizer
        scheduler = self._make_scheduler(optimizer, steps_per_epoch=max(1, len(loader)))

        result = TrainResult()
        state = {"best_score": math.inf if cfg.mode == "min" else -math.inf, "best_epoch": -1, "bad_epochs": 0}
        best_weights: dict[str, torch.Tensor] | None = None
        start_epoch = 0
        ckpt = self._checkpoint_path()
        if ckpt is not None and ckpt.exists():
            start_epoch, best_weights = self._load_checkpoint(ckpt, model, optimizer, scheduler, state, result)
            result.resumed_from = start_epoch - 1
            log.info("resumed from %s after epoch %d", ckpt, start_epoch - 1)

        t0 = time.perf_counter()
        with _EpochProgress(cfg.max_epochs, self.description, enabled=cfg.progress and progress_enabled(),
                            start=start_epoch) as bar:
            for epoch in range(start_epoch, cfg.max_epochs):
                gen.manual_seed(cfg.seed * 100_003 + epoch)  # shuffle order depends on (seed, epoch) only
                t_epoch = time.perf_counter()
                deadline = (t0 + cfg.max_seconds if cfg.max_seconds is not None and cfg.budget_check == "step"
                            else None)
                train_loss, cut = self._train_epoch(model, loader, optimizer, scheduler, epoch, deadline)
                logs: dict[str, float] = {"epoch": float(epoch), "train_loss": train_loss,
                                          "lr": float(optimizer.param_groups[0]["lr"])}
                if val_loader is not None:
                    logs.update(self._validate(model, val_loader))
                logs["seconds"] = time.perf_counter() - t_epoch
                if cfg.scheduler == "plateau":
                    scheduler.step(logs.get(cfg.monitor, train_loss))
                result.history.append(logs)

                # Without validation data, "val_loss" falls back to the training loss.
                score = logs.get(cfg.monitor, train_loss if cfg.monitor in {"val_loss", "train_loss"} else None)
                if score is None:
                    raise ConfigError(f"monitored metric '{cfg.monitor}' is not among {sorted(logs)}",
                                      where="train.monitor", fix="monitor a key the validation function returns")
                if self._improved(score, state["best_score"]):
                    state.update(best_score=score, best_epoch=epoch, bad_epochs=0)
                    best_weights = copy.deepcopy(_plain_state(model))
                else:
                    state["bad_epochs"] += 1
                stop = cfg.patience is not None and state["bad_epochs"] >= cfg.patience
                # A time-out is not recorded as "finished" in the checkpoint: a resume gets a fresh budget.
                self._save_checkpoint(model, optimizer, scheduler, state, result, epoch, best_weights, stop)
                bar.update(epoch, logs, cfg.monitor)
                if self.on_epoch_end is not None:
                    self.on_epoch_end(epoch, logs)
                if stop:
                    result.stopped_early = True
                    break
                if cut or (cfg.max_seconds is not None and time.perf_counter() - t0 >= cfg.max_seconds):
                    result.stopped_early = True
                    result.out_of_time = True
                    break

        keep_last = result.out_of_time and cfg.on_time_out == "keep_last"
        if cfg.restore_best and best_weights is not None and not keep_last:
            _plain_module(model).load_state_dict(best_weights)
        result.best_epoch = int(state["best_epoch"])
        result.best_score = float(state["best_score"])
        result.seconds = time.perf_counter() - t0
        self.model = model
        return result

    # ----------------------------------------------------------------- helpers
    def _train_epoch(self, model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                     scheduler: Any, epoch: int, deadline: float | None = None) -> tuple[float, bool]:
        """Mean training loss of one epoch, and whether ``deadline`` (perf_counter time) cut it short."""
        model.train()
        total, n = 0.0, 0
        for batch in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(model, batch)
            if not torch.isfinite(loss):
                raise ModelError(f"loss became {loss.item()} in epoch {epoch}", where=self.description,
                                 fix="lower the learning rate, check inputs for NaN/inf, or enable grad_clip")
            loss.backward()
            if self.config.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), self.config.grad_clip)
            optimizer.step()
            if self.config.scheduler in {"cosine", "step"}:
                scheduler.step()
            total += float(loss.detach()) * _batch_len(batch)
            n += _batch_len(batch)
            if deadline is not None and time.perf_counter() >= deadline:
                return total / max(n, 1), True
        return total / max(n, 1), False

    @torch.no_grad()
    def _validate(self, model: nn.Module, val_loader: DataLoader) -> dict[str, float]:
        model.eval()
        if self.val_fn is not None:
            out = {k: float(v) for k, v in self.val_fn(model, val_loader).items()}
        else:
            total, n = 0.0, 0
            for batch in val_loader:
                total += float(self.loss_fn(model, batch)) * _batch_len(batch)
                n += _batch_len(batch)
            out = {"val_loss": total / max(n, 1)}
        model.train()
        return out

    def _improved(self, score: float, best: float) -> bool:
        if math.isnan(score):
            return False
        d = self.config.min_delta
        return score < best - d if self.config.mode == "min" else score > best + d

    def _make_scheduler(self, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> Any:
        cfg = self.config
        total = cfg.max_epochs * steps_per_epoch
        warm = cfg.warmup_epochs * steps_per_epoch
        if cfg.scheduler == "cosine":
            def f(step: int) -> float:
                if step < warm:
                    return (step + 1) / warm
                progress = (step - warm) / max(1, total - warm)
                return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

            return torch.optim.lr_scheduler.LambdaLR(optimizer, f)
        if cfg.scheduler == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, total // 3), gamma=0.1)
        if cfg.scheduler == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=cfg.mode, patience=2, factor=0.5)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)

    def _checkpoint_path(self) -> Path | None:
        if self.checkpoint_dir is None:
            return None
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        return self.checkpoint_dir / "last.pt"

    def _save_checkpoint(self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                         state: dict[str, Any], result: TrainResult, epoch: int,
                         best_weights: dict[str, torch.Tensor] | None, stopped: bool) -> None:
        path = self._checkpoint_path()
        if path is None:
            return
        payload = {
            "epoch": epoch,
            "model": _plain_state(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "state": dict(state),
            "history": result.history,
            "best_weights": best_weights,
            "stopped": stopped,
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
            "config": self.config.model_dump(),
        }
        tmp = path.with_suffix(".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)  # atomic: a kill during save leaves the previous checkpoint intact

    def _load_checkpoint(self, path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                         state: dict[str, Any], result: TrainResult) -> tuple[int, dict[str, torch.Tensor] | None]:
        try:
            payload = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
            raise ModelError(f"cannot read checkpoint: {exc}", where=str(path),
                             fix="delete the checkpoint directory to start from scratch") from None
        _plain_module(model).load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        state.update(payload["state"])
        result.history = list(payload["history"])
        torch.set_rng_state(payload["rng"]["torch"])
        np.random.set_state(payload["rng"]["numpy"])
        random.setstate(payload["rng"]["python"])
        start = int(payload["epoch"]) + 1
        if payload.get("stopped"):
            start = self.config.max_epochs  # training had already finished
            result.stopped_early = True
        return start, payload.get("best_weights")


def _plain_module(model: nn.Module) -> nn.Module:
    # Opacus' GradSampleModule wraps the user's module as `_module`.
    return getattr(model, "_module", model)


def _plain_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in _plain_module(model).state_dict().items()}


def _batch_len(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, (list, tuple)) and batch:
        return _batch_len(batch[0])
    if isinstance(batch, dict) and batch:
        return _batch_len(next(iter(batch.values())))
    if hasattr(batch, "__len__"):
        return len(batch)
    return 1


@torch.no_grad()
def predict_batches(model: nn.Module, data: Dataset, forward: Callable[[nn.Module, Any], torch.Tensor],
                    batch_size: int = 256, collate_fn: Callable[[list[Any]], Any] | None = None) -> np.ndarray:
    """Run ``forward(model, batch)`` over ``data`` in order and concatenate the outputs as numpy."""
    model.eval()
    outs = [forward(model, b).detach().cpu() for b in DataLoader(data, batch_size=batch_size, shuffle=False,
                                                                  collate_fn=collate_fn)]
    return torch.cat(outs).numpy() if outs else np.empty((0,))


class _EpochProgress:
    """Rich progress bar over epochs with the live loss and monitored metric."""

    def __init__(self, total: int, description: str, *, enabled: bool, start: int = 0) -> None:
        self.enabled = enabled
        self.total = total
        self.description = description
        self.start = start
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _EpochProgress:
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      TextColumn("{task.completed}/{task.total} epochs"),
                                      TextColumn("{task.fields[status]}"), TimeElapsedColumn(), transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=self.total, completed=self.start, status="")
        return self

    def update(self, epoch: int, logs: dict[str, float], monitor: str) -> None:
        if self._progress is not None:
            status = f"loss {logs['train_loss']:.4f}"
            if monitor in logs and monitor != "train_loss":
                status += f"  {monitor} {logs[monitor]:.4f}"
            self._progress.update(self._task, completed=epoch + 1, status=status)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)


def iterate_minibatches(n: int, batch_size: int, seed: int) -> Iterator[np.ndarray]:
    """Shuffled index batches from a fixed seed (for models that batch numpy arrays themselves)."""
    order = np.random.default_rng(seed).permutation(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]
