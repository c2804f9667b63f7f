"""Length-bucketed token batches and a wall-clock training budget for the SMILES language models.

Why: MOSES SMILES are 10–57 tokens long. A random batch is padded to its longest member, so an LSTM spends
~30 % of its time on padding; sorting molecules by length and cutting batches from neighbours removes that
waste without packing. Each item of :class:`BucketBatches` is a whole ``(B, L)`` batch, so the shared
:class:`medkit.training.Trainer` runs it with ``batch_size=1`` and :func:`first_item` as ``collate_fn``; the
Trainer still shuffles the *order* of batches every epoch.

An "epoch" can be a fixed number of molecules (``epoch_molecules``) rather than the whole corpus: the Trainer
checkpoints and checks its time budget after every epoch, so short epochs mean a kill loses little and the
budget is checked often. Epoch ``e`` serves the next ``epoch_molecules`` worth of batches from one fixed,
seeded permutation, so consecutive epochs walk through the corpus without repeats until it wraps.

:class:`TimeBudget` enforces a wall-clock budget *inside* an epoch and gives a time-based cosine learning
rate (the number of steps that fit in the budget is not known in advance). Its counters live in the model as
buffers, so they travel with checkpoints and survive a resume.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from medkit.core.errors import ConfigError

_clock = time.perf_counter  # module-level so tests can drive the budget with a fake clock

__all__ = ["BucketBatches", "TimeBudget", "bf16_supported", "bucket_batches", "counter", "first_item", "zero_loss"]


def bucket_batches(lengths: Sequence[int] | np.ndarray, batch_size: int, seed: int = 0) -> list[np.ndarray]:
    """Split indices into batches of similar length.

    Molecules are shuffled, then stably sorted by length, then cut into consecutive batches of
    ``batch_size`` (the last one may be smaller). Every index appears in exactly one batch.

    Returns
    -------
    list of int64 arrays of indices, in increasing length order.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be ≥ 1, got {batch_size}", where="bucket_batches", fix="use e.g. 128")
    lens = np.asarray(lengths)
    shuffled = np.random.default_rng(seed).permutation(len(lens))  # ties broken at random, not by file order
    order = shuffled[np.argsort(lens[shuffled], kind="stable")]
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


class BucketBatches(torch.utils.data.Dataset):
    """Pre-built ``(B, L)`` int64 batches of token ids, trimmed to each batch's longest row.

    Parameters
    ----------
    ids
        ``(n, max_len + 2)`` token ids, 0-padded (``prepare_corpus`` output).
    batch_size
        Molecules per batch.
    epoch_molecules
        Molecules per "epoch" (rounded to whole batches); ``None`` = the whole corpus.
    seed
        Seeds the tie-breaking and the fixed permutation of batches.
    """

    def __init__(self, ids: np.ndarray, batch_size: int, epoch_molecules: int | None = None, seed: int = 0) -> None:
        lengths = (ids != 0).sum(1)
        small = ids.astype(np.uint8) if int(ids.max(initial=0)) < 256 else ids  # 8x less memory for 1.6M rows
        self.batches = [small[idx, :max(int(lengths[idx].max()), 2)] for idx in bucket_batches(lengths, batch_size, seed)]
        self.n_molecules = int(ids.shape[0])
        self.perm = np.random.default_rng(seed + 1).permutation(len(self.batches))
        per = len(self.batches) if epoch_molecules is None else max(1, math.ceil(epoch_molecules / batch_size))
        self.per_epoch = min(per, len(self.batches))
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Serve the slice of the corpus that belongs to ``epoch`` (the Trainer calls back after each epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_epoch

    def __getitem__(self, i: int) -> torch.Tensor:
        j = self.perm[(self.epoch * self.per_epoch + i) % len(self.batches)]
        return torch.from_numpy(self.batches[j].astype(np.int64))


def first_item(rows: list[torch.Tensor]) -> torch.Tensor:
    """``collate_fn`` for datasets whose items are already batches (DataLoader ``batch_size=1``)."""
    return rows[0]


class TimeBudget:
    """Wall-clock budget with a time-based warm-up + cosine learning rate, checked before every batch.

    ``step(model, optimizer, batch_size)`` returns False once the budget is spent; the caller then returns a
    zero loss and the learning rate is 0, so the rest of the epoch leaves the weights unchanged and costs
    next to nothing; the Trainer's own ``max_seconds`` then ends training at the epoch boundary.
    Training seconds and molecules seen are buffers of ``model`` (``budget_seconds``, ``budget_molecules``)
    so they are saved in checkpoints and continue after a resume.
    """

    def __init__(self, seconds: float, lr: float, warmup_frac: float = 0.02, final_frac: float = 0.02) -> None:
        if seconds <= 0:
            raise ConfigError(f"max_seconds must be > 0, got {seconds}", where="max_seconds", fix="e.g. 3600")
        self.seconds = seconds
        self.lr = lr
        self.warmup_frac = warmup_frac
        self.final_frac = final_frac
        self._last: float | None = None

    @staticmethod
    def attach(model: nn.Module) -> None:
        """Register the two counter buffers on ``model`` (call before the optimiser/checkpoint sees it)."""
        model.register_buffer("budget_seconds", torch.zeros((), dtype=torch.float64))
        model.register_buffer("budget_molecules", torch.zeros((), dtype=torch.float64))

    def lr_at(self, frac: float) -> float:
        """Learning rate after ``frac`` of the budget: linear warm-up, then cosine down to ``final_frac · lr``."""
        if frac < self.warmup_frac:
            return self.lr * (frac + 1e-3) / self.warmup_frac
        p = min(1.0, (frac - self.warmup_frac) / (1 - self.warmup_frac))
        lo = self.final_frac * self.lr
        return lo + (self.lr - lo) * 0.5 * (1 + math.cos(math.pi * p))

    def step(self, model: nn.Module, optimizer: torch.optim.Optimizer, batch_size: int) -> bool:
        now = _clock()
        if self._last is not None:  # everything since the last batch counts: backward, step, validation, saving
            counter(model, "budget_seconds").add_(now - self._last)
        self._last = now
        frac = float(counter(model, "budget_seconds")) / self.seconds
        if frac >= 1.0:
            for g in optimizer.param_groups:
                g["lr"] = 0.0
            return False
        for g in optimizer.param_groups:
            g["lr"] = self.lr_at(frac)
        counter(model, "budget_molecules").add_(batch_size)
        return True

    def restart_clock(self) -> None:
        """Forget the last timestamp (after a resume, the time the process was dead is not training time)."""
        self._last = None


def bf16_supported() -> bool:
    """Whether this CPU has native bf16 matrix units (AVX512-BF16 / AMX) for ``precision="bf16"``; without
    them bf16 is emulated and slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # noqa: BLE001 - older torch builds lack the probe: assume no
        return False


def counter(model: nn.Module, name: str) -> torch.Tensor:
    """One of the budget buffers of ``model`` (``budget_seconds`` / ``budget_molecules``)."""
    buf = getattr(model, name)
    assert isinstance(buf, torch.Tensor)
    return buf


def zero_loss(model: nn.Module) -> torch.Tensor:
    """A loss of exactly 0 with a (zero) gradient path, for batches after the budget is spent."""
    p = next(model.parameters())
    return p.reshape(-1)[0] * 0.0
