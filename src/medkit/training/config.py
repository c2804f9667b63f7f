"""Training-loop configuration (pydantic, strict)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medkit.core.config import StrictModel


class TrainConfig(StrictModel):
    """Settings of :class:`medkit.training.Trainer`.

    ``monitor`` names a key returned by the validation function (``val_loss``
    by default); ``mode`` says whether lower or higher is better.
    """

    max_epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-2, ge=0)
    scheduler: Literal["none", "cosine", "plateau", "step"] = "cosine"
    warmup_epochs: int = Field(0, ge=0)
    grad_clip: float | None = Field(1.0, gt=0)
    patience: int | None = Field(5, ge=1)
    min_delta: float = Field(0.0, ge=0)
    monitor: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    seed: int = Field(0, ge=0)
    num_threads: int | None = Field(None, ge=1)
    restore_best: bool = True
    progress: bool = True
    drop_last: bool = False
    # Wall-clock budget. "epoch": stop after the epoch that crosses it; "step": stop after the optimiser step that
    # crosses it (the partial epoch is validated and checkpointed like a full one), for epochs longer than the budget.
    max_seconds: float | None = Field(None, gt=0)
    budget_check: Literal["epoch", "step"] = "epoch"
    # Which weights a time-out leaves in the model: the best validated ones (as early stopping does) or the last
    # ones (when later weights are known to be better, e.g. a schedule that anneals to the end of the budget).
    on_time_out: Literal["restore_best", "keep_last"] = "restore_best"
