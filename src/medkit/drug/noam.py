"""chemprop's "Noam-like" learning-rate schedule, as an Adam optimiser that sets its own per-step LR.

chemprop v2 (``chemprop.schedulers.build_NoamLike_LRSched``) warms the LR up linearly from ``init_lr`` to
``max_lr`` over ``warmup_epochs`` and then decays it exponentially to ``final_lr`` at the last step:

    lr(i) = init_lr + (max_lr − init_lr) · i / W                      for i < W
    lr(i) = max_lr · (final_lr / max_lr) ^ ((i − W) / (T − W))        for W ≤ i < T, final_lr afterwards

with ``W`` = warm-up steps and ``T`` = total steps. :class:`medkit.training.Trainer` builds AdamW and its own
schedulers; the D-MPNN swaps in :class:`NoamAdam` through the Trainer's ``setup_hook`` (with the Trainer's
scheduler set to ``"none"``). The step counter and schedule constants live in the optimiser's param groups, so
they are part of ``optimizer.state_dict()`` and a resumed run continues the schedule exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = ["NoamAdam", "noam_lr"]


def noam_lr(step: int, warmup_steps: int, total_steps: int, init_lr: float, max_lr: float, final_lr: float) -> float:
    """Learning rate at optimiser step ``step`` (0-based), identical to chemprop's schedule."""
    if step < warmup_steps:
        return init_lr + (max_lr - init_lr) * step / warmup_steps
    cooldown = total_steps - warmup_steps
    if step < total_steps and cooldown > 0:
        return max_lr * (final_lr / max_lr) ** ((step - warmup_steps) / cooldown)
    return final_lr


class NoamAdam(torch.optim.Adam):
    """Adam whose ``step()`` first sets the LR from :func:`noam_lr` (chemprop: weight decay 0)."""

    def __init__(self, params: Iterable[Any], warmup_steps: int, total_steps: int, init_lr: float = 1e-4,
                 max_lr: float = 1e-3, final_lr: float = 1e-4, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr=init_lr, weight_decay=weight_decay)
        for g in self.param_groups:
            g.update(noam_step=0, noam=(warmup_steps, total_steps, init_lr, max_lr, final_lr))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        for g in self.param_groups:
            g["lr"] = noam_lr(int(g["noam_step"]), *g["noam"])
            g["noam_step"] += 1
        return super().step(closure)


def noam_setup_hook(epochs: int, warmup_epochs: int = 2, init_lr: float = 1e-4, max_lr: float = 1e-3,
                    final_lr: float = 1e-4, weight_decay: float = 0.0) -> Callable[[Any, Any, Any], tuple[Any, Any, Any]]:
    """A Trainer ``setup_hook`` that replaces the optimiser by :class:`NoamAdam` sized to the loader."""

    def hook(model: Any, optimizer: Any, loader: Any) -> tuple[Any, Any, Any]:
        steps = max(1, len(loader))
        return model, NoamAdam(model.parameters(), min(warmup_epochs, epochs - 1) * steps, epochs * steps,
                               init_lr, max_lr, final_lr, weight_decay), loader

    return hook
