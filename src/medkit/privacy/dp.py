"""Differential privacy (DP-SGD) for any medkit torch model through Opacus, via the Trainer's ``setup_hook``.

Usage::

    hook = make_dp_setup_hook(epsilon=3.0, delta=1e-5, epochs=cfg.max_epochs)
    Trainer(model, loss_fn, cfg.model_copy(update={"grad_clip": None}), setup_hook=hook).fit(train, val)
    run.write_json("privacy.json", hook.report())   # epsilon actually spent, delta, noise, clipping

The hook calls Opacus' ``PrivacyEngine.make_private_with_epsilon``, which picks the noise multiplier so
that ``epochs`` epochs of Poisson-sampled DP-SGD spend at most ``epsilon`` at ``delta``; the spent epsilon
comes from the same engine's accountant. Caveats: the guarantee covers the training rows only (validation
rows used for early stopping are not protected); resuming a DP run from a checkpoint restarts the accountant,
so medkit's DP runs should not be resumed; Trainer's own gradient clipping is redundant (Opacus clips per
sample) and should be switched off (``grad_clip=None``).
"""

from __future__ import annotations

import math
from typing import Any

from medkit.core.deps import require
from medkit.core.errors import PrivacyError


class DPHook:
    """A Trainer ``setup_hook`` that makes model/optimizer/loader private; see :func:`make_dp_setup_hook`."""

    def __init__(self, epsilon: float, delta: float | None, epochs: int, max_grad_norm: float,
                 accountant: str, secure_mode: bool) -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.epochs = epochs
        self.max_grad_norm = max_grad_norm
        self.accountant = accountant
        self.secure_mode = secure_mode
        self.engine: Any = None
        self.optimizer: Any = None
        self.n_train: int | None = None

    def __call__(self, model: Any, optimizer: Any, loader: Any) -> tuple[Any, Any, Any]:
        opacus = require("opacus", "privacy")
        from opacus.validators import ModuleValidator

        self.n_train = len(loader.dataset)
        if self.delta is None:
            self.delta = min(1e-5, 1.0 / (10 * self.n_train))
        if self.delta >= 1.0 / self.n_train:
            raise PrivacyError(f"delta={self.delta:g} is not below 1/n = 1/{self.n_train}; such a delta allows "
                               "releasing whole records", where="dp.delta",
                               fix=f"use delta < {1.0 / self.n_train:.2g} (e.g. 1e-5)")
        errors = ModuleValidator.validate(model, strict=False)
        if errors:
            raise PrivacyError(f"the model has layers Opacus cannot make private: {errors[0]}", where="dp",
                               fix="build the model through medkit.privacy.dp.make_dp_compatible(model) before "
                               "training (BatchNorm -> GroupNorm, nn.GRU/LSTM -> Opacus DPGRU/DPLSTM)")
        self.engine = opacus.PrivacyEngine(accountant=self.accountant, secure_mode=self.secure_mode)
        model, optimizer, loader = self.engine.make_private_with_epsilon(
            module=model, optimizer=optimizer, data_loader=loader, target_epsilon=self.epsilon,
            target_delta=self.delta, epochs=self.epochs, max_grad_norm=self.max_grad_norm)
        self.optimizer = optimizer
        return model, optimizer, loader

    @property
    def attached(self) -> bool:
        return self.engine is not None

    def spent_epsilon(self) -> float:
        """Epsilon spent so far at ``delta``, from the engine's accountant."""
        if self.engine is None:
            raise PrivacyError("no DP training has run with this hook", where="DPHook.spent_epsilon",
                               fix="pass the hook as Trainer(setup_hook=hook) and call fit first")
        return float(self.engine.get_epsilon(self.delta))

    def report(self) -> dict[str, Any]:
        """JSON-ready record for the run directory and model card."""
        out: dict[str, Any] = {"mechanism": "DP-SGD (Opacus, Poisson sampling, flat per-sample clipping)",
                               "target_epsilon": self.epsilon, "delta": self.delta, "epochs_planned": self.epochs,
                               "max_grad_norm": self.max_grad_norm, "accountant": self.accountant,
                               "n_train": self.n_train}
        if self.engine is not None:
            out["epsilon_spent"] = self.spent_epsilon()
            out["noise_multiplier"] = float(self.optimizer.noise_multiplier)
            hist = self.engine.accountant.history
            out["sample_rate"] = float(hist[-1][1]) if hist else None
            out["steps"] = int(sum(h[2] for h in hist)) if hist else 0
        return out


def make_dp_compatible(model: Any) -> Any:
    """Return ``model`` with layers Opacus cannot handle replaced (BatchNorm -> GroupNorm, GRU/LSTM -> DP versions).

    Call it *before* creating the Trainer (the optimizer must see the replaced parameters).
    """
    require("opacus", "privacy")
    from opacus.validators import ModuleValidator

    return ModuleValidator.fix(model)


def make_dp_setup_hook(epsilon: float, delta: float | None = 1e-5, *, epochs: int, max_grad_norm: float = 1.0,
                       accountant: str = "rdp", secure_mode: bool = False) -> DPHook:
    """Factory for a Trainer ``setup_hook`` giving (``epsilon``, ``delta``)-DP training over ``epochs`` epochs.

    Parameters
    ----------
    epsilon
        Target privacy budget, finite and > 0 (smaller is more private; 1-8 is the usual range).
    delta
        Target delta; ``None`` picks ``min(1e-5, 1 / (10 n))``. Must be below ``1 / n_train``.
    epochs
        Epochs the Trainer will run at most (``TrainConfig.max_epochs``): the noise is calibrated for them.
    max_grad_norm
        Per-sample gradient clipping bound.
    accountant
        ``"rdp"`` (default), ``"prv"`` or ``"gdp"``.
    """
    if not isinstance(epsilon, (int, float)) or not math.isfinite(epsilon) or epsilon <= 0:
        raise PrivacyError(f"epsilon must be a finite number > 0, got {epsilon!r}", where="--dp-epsilon",
                           fix="pass e.g. --dp-epsilon 3 (leave the option out to train without DP)")
    if delta is not None and not 0 < delta < 1:
        raise PrivacyError(f"delta must be in (0, 1), got {delta!r}", where="--dp-delta", fix="use e.g. 1e-5")
    if epochs < 1:
        raise PrivacyError(f"epochs must be >= 1, got {epochs}", where="dp.epochs", fix="pass TrainConfig.max_epochs")
    if max_grad_norm <= 0:
        raise PrivacyError(f"max_grad_norm must be > 0, got {max_grad_norm}", where="dp.max_grad_norm",
                           fix="use e.g. 1.0")
    if accountant not in {"rdp", "prv", "gdp"}:
        raise PrivacyError(f"unknown accountant '{accountant}'", where="dp.accountant", fix="use rdp, prv or gdp")
    return DPHook(float(epsilon), delta, int(epochs), float(max_grad_norm), accountant, secure_mode)
