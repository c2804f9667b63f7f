"""3-D UNet segmenter as an estimator: cubic patch training with Dice+CE, sliding-window inference on volumes.

Inputs are preprocessed volumes ``(C, D, H, W)`` float32 (e.g. :func:`medkit.imaging.transforms.normalise`
of a RAS-oriented NIfTI, channel axis added) and binary masks ``(D, H, W)``. Training draws a bank of
cubic patches once per ``fit`` (a share centred on foreground voxels) and varies them with random axis
flips and intensity jitter (deterministic twin :func:`medkit.imaging.augment.flip3d_fixed`); inference tiles
the whole volume with overlapping cubes blended by a Gaussian (MONAI ``sliding_window_inference``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from medkit.core.errors import DataError, NotFittedError
from medkit.imaging.augment import RandomFlip3D
from medkit.imaging.metrics import pooled_dice
from medkit.imaging.nets import make_segmenter_net
from medkit.imaging.segfit import fit_segmentation_net

__all__ = ["VolumeSegmenter", "load_volume_segmenter", "sample_patches_3d"]


def _check_pair(k: int, vol: np.ndarray, mask: np.ndarray | None) -> None:
    if vol.ndim != 4:
        raise DataError(f"volume {k} has shape {vol.shape}, expected (C, D, H, W)", where=f"volumes[{k}]",
                        fix="add a channel axis: volume[None]")
    if not np.isfinite(vol).all():
        raise DataError(f"volume {k} contains NaN or infinite values", where=f"volumes[{k}]",
                        fix="check the file and the normalisation")
    if mask is not None and mask.shape != vol.shape[1:]:
        raise DataError(f"mask {k} is {mask.shape} but its volume is {vol.shape[1:]}", where=f"masks[{k}]",
                        fix="labels must be on the image's voxel grid (same shape after RAS reorientation)")


def _pad_to(a: np.ndarray, size: int, value: float) -> np.ndarray:
    """Pad the last three axes up to ``size`` (at the end), so a patch fits in a small volume."""
    pads = [(0, 0)] * (a.ndim - 3) + [(0, max(0, size - s)) for s in a.shape[-3:]]
    return np.pad(a, pads, constant_values=value) if any(p[1] for p in pads) else a


def sample_patches_3d(volumes: Sequence[np.ndarray], masks: Sequence[np.ndarray], patch: int, per_volume: int,
                      seed: int, fg_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Random ``patch``³ crops: ``(N, C, P, P, P)`` float32 images and ``(N, P, P, P)`` int64 labels.

    A share ``fg_fraction`` of crops is centred on a random foreground voxel, the rest on any voxel.
    Volumes smaller than the patch along an axis are padded at the end with their minimum (labels with 0).
    """
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k, (vol, m) in enumerate(zip(volumes, masks, strict=True)):
        _check_pair(k, vol, m)
        vol, m = _pad_to(vol, patch, float(vol.min())), _pad_to(m.astype(np.int64), patch, 0)
        shape = np.array(m.shape)
        fg = np.argwhere(m > 0)
        for j in range(per_volume):
            if j < per_volume * fg_fraction and len(fg):
                c = fg[rng.integers(len(fg))]
            else:
                c = np.array([rng.integers(s) for s in shape])
            lo = np.clip(c - patch // 2, 0, shape - patch)
            sl = tuple(slice(int(a), int(a) + patch) for a in lo)
            xs.append(vol[(slice(None), *sl)])
            ys.append(m[sl])
    return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.int64)


class VolumeSegmenter(BaseEstimator):
    """Binary 3-D segmentation with a MONAI UNet (``spatial_dims=3``).

    Parameters
    ----------
    channels, num_res_units
        UNet widths per level (each level halves the resolution) and residual units per block.
    patch_size, patches_per_volume, fg_fraction
        Cubic training patches (voxels per side), drawn once per ``fit``; ``patch_size`` must be divisible
        by ``2 ** (len(channels) - 1)``.
    overlap, sw_batch_size
        Sliding-window inference: overlap fraction of neighbouring cubes and cubes per forward pass.
    loss
        ``"dicece"`` (MONAI ``DiceCELoss``) or ``"dice"``.
    epochs, batch_size, lr, patience, augment, seed, num_threads, progress, max_seconds
        Training settings (:class:`medkit.training.TrainConfig`); ``max_seconds`` is a wall-clock budget.
    threshold
        Foreground probability cut-off of :meth:`predict`.

    Attributes
    ----------
    model_ : torch.nn.Module
        The UNet (logits ``(B, 2, D, H, W)``).
    in_channels_ : int
    history_ : list of dict
    """

    def __init__(self, channels: tuple[int, ...] = (8, 16, 32, 64), num_res_units: int = 1, patch_size: int = 32,
                 patches_per_volume: int = 32, fg_fraction: float = 0.5, overlap: float = 0.25,
                 sw_batch_size: int = 4, loss: str = "dicece", epochs: int = 30, batch_size: int = 4,
                 lr: float = 3e-3, patience: int | None = None, augment: bool = True, threshold: float = 0.5,
                 seed: int = 0, num_threads: int | None = None, progress: bool = False,
                 max_seconds: float | None = None) -> None:
        self.channels = channels
        self.num_res_units = num_res_units
        self.patch_size = patch_size
        self.patches_per_volume = patches_per_volume
        self.fg_fraction = fg_fraction
        self.overlap = overlap
        self.sw_batch_size = sw_batch_size
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.augment = augment
        self.threshold = threshold
        self.seed = seed
        self.num_threads = num_threads
        self.progress = progress
        self.max_seconds = max_seconds

    def fit(self, volumes: Sequence[np.ndarray], masks: Sequence[np.ndarray],
            val: tuple[Sequence[np.ndarray], Sequence[np.ndarray]] | None = None) -> VolumeSegmenter:
        """Train on volumes ``(C, D, H, W)`` and masks ``(D, H, W)``; ``val`` = (volumes, masks) monitors Dice."""
        from monai.losses import DiceCELoss, DiceLoss

        from medkit.core.errors import ConfigError
        from medkit.core.seed import seed_everything

        if len(volumes) != len(masks) or not len(volumes):
            raise DataError(f"{len(volumes)} volumes but {len(masks)} masks", where="masks",
                            fix="pass one mask per volume (and at least one)")
        stride = 2 ** (len(self.channels) - 1)
        if self.patch_size % stride:
            raise ConfigError(f"patch_size {self.patch_size} is not divisible by {stride} (the UNet's total stride)",
                              where="patch_size", fix=f"use a multiple of {stride}")
        seed_everything(self.seed)
        x, y = sample_patches_3d(volumes, masks, self.patch_size, self.patches_per_volume, self.seed,
                                 self.fg_fraction)  # (N, C, P, P, P), (N, P, P, P)
        self.in_channels_ = int(x.shape[1])
        net = make_segmenter_net("unet", in_channels=self.in_channels_, n_classes=2, channels=tuple(self.channels),
                                 num_res_units=self.num_res_units, spatial_dims=3)
        crit = (DiceCELoss if self.loss == "dicece" else DiceLoss)(to_onehot_y=True, softmax=True)
        aug = RandomFlip3D() if self.augment else None

        val_dice = None
        if val is not None:

            def val_dice() -> float:
                return pooled_dice((p, t > 0) for p, t in zip(self.predict(val[0]), val[1], strict=True))

        fit_segmentation_net(self, net, x, y, crit, aug, val_dice, patience=self.patience if val is not None else None,
                             description="imaging 3-D segmenter (unet)")
        return self

    def _check(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("VolumeSegmenter is not fitted", where="VolumeSegmenter", fix="call fit first")

    @torch.no_grad()
    def predict_proba(self, volumes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Foreground probability ``(D, H, W)`` float32 per volume, by Gaussian-blended sliding windows."""
        from monai.inferers import sliding_window_inference

        self._check()
        self.model_.eval()
        out = []
        roi = (self.patch_size,) * 3
        for k, vol in enumerate(volumes):
            _check_pair(k, vol, None)
            if vol.shape[0] != self.in_channels_:
                raise DataError(f"volume {k} has {vol.shape[0]} channels, the model expects {self.in_channels_}",
                                where=f"volumes[{k}]", fix="preprocess as in training")
            x = torch.from_numpy(np.ascontiguousarray(vol, dtype=np.float32))[None]  # (1, C, D, H, W)
            # sliding_window_inference pads volumes smaller than the window and crops the output back.
            logits = sliding_window_inference(x, roi, sw_batch_size=self.sw_batch_size, predictor=self.model_,
                                              overlap=self.overlap, mode="gaussian")
            out.append(torch.softmax(torch.as_tensor(logits), 1)[0, 1].numpy())  # (D, H, W)
        return out

    def predict(self, volumes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Binary masks ``(D, H, W)`` (probability ≥ ``threshold``)."""
        return [p >= self.threshold for p in self.predict_proba(volumes)]


def load_volume_segmenter(weights: str | Any, params: dict[str, Any], in_channels: int = 1) -> VolumeSegmenter:
    """Rebuild a fitted :class:`VolumeSegmenter` from ``model.pt`` and its ``get_params()`` (``metrics.json``)."""
    from pathlib import Path

    p = Path(weights)
    if not p.is_file():
        raise DataError(f"weights file not found: {p}", where=str(p), fix="pass the run's model.pt")
    params = dict(params)
    params["channels"] = tuple(params["channels"])
    seg = VolumeSegmenter(**params)
    net = make_segmenter_net("unet", in_channels=in_channels, n_classes=2, channels=seg.channels,
                             num_res_units=seg.num_res_units, spatial_dims=3)
    net.load_state_dict(torch.load(p, map_location="cpu", weights_only=True))
    seg.model_, seg.in_channels_ = net.eval(), in_channels
    return seg
