"""2-D UNet segmenter as an estimator: patch-based training with Dice+CE, sliding-window inference.

Inputs are preprocessed images ``(C, H, W)`` float32 (e.g. :func:`medkit.imaging.prep.fundus_input`), masks
``(H, W)`` bool and optional field-of-view masks. Training draws a fixed bank of patches (half of them centred
on foreground pixels, so thin vessels are not drowned by background) and relies on random flips/rotations and
intensity jitter (with deterministic twins) for variety; inference tiles the whole image with overlapping
windows (Gaussian-weighted blending, MONAI ``sliding_window_inference``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from medkit.core.errors import DataError, NotFittedError
from medkit.imaging.augment import RandomAugment
from medkit.imaging.metrics import pooled_dice
from medkit.imaging.nets import make_segmenter_net
from medkit.imaging.segfit import fit_segmentation_net

__all__ = ["UNetSegmenter", "sample_patches"]


def sample_patches(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], fovs: Sequence[np.ndarray] | None,
                   patch: int, per_image: int, seed: int, fg_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Random ``patch``×``patch`` crops: ``(N, C, P, P)`` images and ``(N, P, P)`` int64 labels.

    A share ``fg_fraction`` of crops is centred on a random foreground pixel, the rest on a random FOV pixel.
    """
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k, (img, m) in enumerate(zip(images, masks, strict=True)):
        _, h, w = img.shape
        if h < patch or w < patch:
            raise DataError(f"image {k} is {h}×{w}, smaller than the patch size {patch}", where=f"images[{k}]",
                            fix="lower patch_size")
        fg = np.argwhere(m)
        inside = np.argwhere(fovs[k]) if fovs is not None else np.argwhere(np.ones_like(m))
        for j in range(per_image):
            pool = fg if (j < per_image * fg_fraction and len(fg)) else inside
            cy, cx = pool[rng.integers(len(pool))]
            y0 = int(np.clip(cy - patch // 2, 0, h - patch))
            x0 = int(np.clip(cx - patch // 2, 0, w - patch))
            xs.append(img[:, y0:y0 + patch, x0:x0 + patch])
            ys.append(m[y0:y0 + patch, x0:x0 + patch])
    return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.int64)


class UNetSegmenter(BaseEstimator):
    """Binary segmentation with a MONAI UNet.

    Parameters
    ----------
    arch, channels, num_res_units
        Network (see :func:`medkit.imaging.nets.make_segmenter_net`).
    patch_size, patches_per_image, fg_fraction
        Patch bank drawn once per ``fit``.
    roi_size, overlap
        Sliding-window inference window (pixels) and overlap fraction; an image no larger than the window
        is predicted in one padded pass (DRIVE's 584×565 with the default 608).
    loss
        ``"dicece"`` (Dice + cross-entropy, MONAI ``DiceCELoss``), ``"dice"`` or ``"ce"``.
    epochs, batch_size, lr, patience, augment, seed, num_threads, progress, max_seconds
        Training settings; ``max_seconds`` stops training after the epoch that crosses the time budget.
    threshold
        Probability above which a pixel is foreground in :meth:`predict`.

    Attributes
    ----------
    model_ : torch.nn.Module
    history_ : list of dict
    """

    def __init__(self, arch: str = "unet", channels: tuple[int, ...] = (16, 32, 64, 128), num_res_units: int = 1,
                 patch_size: int = 64, patches_per_image: int = 64, fg_fraction: float = 0.5, roi_size: int = 608,
                 overlap: float = 0.1, loss: str = "dicece", epochs: int = 30, batch_size: int = 16,
                 lr: float = 3e-3, patience: int | None = None, augment: bool = True, threshold: float = 0.5,
                 seed: int = 0, num_threads: int | None = None, progress: bool = False,
                 max_seconds: float | None = None) -> None:
        self.arch = arch
        self.channels = channels
        self.num_res_units = num_res_units
        self.patch_size = patch_size
        self.patches_per_image = patches_per_image
        self.fg_fraction = fg_fraction
        self.roi_size = roi_size
        self.overlap = overlap
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

    def _loss(self) -> Any:
        from monai.losses import DiceCELoss, DiceLoss

        if self.loss == "dicece":
            return DiceCELoss(to_onehot_y=True, softmax=True)
        if self.loss == "dice":
            return DiceLoss(to_onehot_y=True, softmax=True)
        ce = torch.nn.CrossEntropyLoss()
        return lambda logits, y: ce(logits, y[:, 0])

    def fit(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray], fovs: Sequence[np.ndarray] | None = None,
            val: tuple[Sequence[np.ndarray], Sequence[np.ndarray], Sequence[np.ndarray] | None] | None = None
            ) -> UNetSegmenter:
        """Train on preprocessed images ``(C, H, W)`` and masks ``(H, W)``; ``val`` = (images, masks, fovs)."""
        from medkit.core.seed import seed_everything

        if len(images) != len(masks) or not len(images):
            raise DataError(f"{len(images)} images but {len(masks)} masks", where="masks",
                            fix="pass one mask per image (and at least one)")
        seed_everything(self.seed)
        x, y = sample_patches(images, masks, fovs, self.patch_size, self.patches_per_image, self.seed,
                              self.fg_fraction)
        self.in_channels_ = int(x.shape[1])
        net = make_segmenter_net(self.arch, in_channels=self.in_channels_, n_classes=2,
                                 channels=tuple(self.channels), num_res_units=self.num_res_units)
        crit = self._loss()
        aug = RandomAugment(flip=0.5, rot90=True, max_angle_deg=15, max_zoom=1.15, gain=0.15, bias=0.15,
                            gamma=1.3) if self.augment else None

        val_dice = None
        if val is not None:

            def val_dice() -> float:
                probs = self.predict_proba(val[0])
                fovs_v = val[2] if val[2] is not None else [np.ones_like(t, bool) for t in val[1]]
                return pooled_dice(((p >= self.threshold) & f, t.astype(bool) & f)
                               for p, t, f in zip(probs, val[1], fovs_v, strict=True))

        fit_segmentation_net(self, net, x, y, crit, aug, val_dice, patience=self.patience,
                             description=f"imaging segmenter ({self.arch})")
        return self

    def _check(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("UNetSegmenter is not fitted", where="UNetSegmenter", fix="call fit first")

    @torch.no_grad()
    def predict_proba(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Foreground probability maps ``(H, W)`` float32, one per image, by sliding-window inference."""
        from monai.inferers import sliding_window_inference

        self._check()
        self.model_.eval()
        out = []
        for k, img in enumerate(images):
            if img.ndim != 3 or img.shape[0] != self.in_channels_:
                raise DataError(f"image {k} has shape {img.shape}, expected ({self.in_channels_}, H, W)",
                                where=f"images[{k}]", fix="preprocess as in training (medkit.imaging.prep)")
            x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None]  # (1, C, H, W)
            h, w = x.shape[2:]
            if h <= self.roi_size and w <= self.roi_size:
                # The whole image fits one window: a single padded pass (no tiling overhead). Reflect
                # padding to a multiple of the network's total stride keeps the borders like training patches.
                m = 2 ** (len(self.channels) - 1)
                xp = torch.nn.functional.pad(x, (0, (-w) % m, 0, (-h) % m), mode="reflect")
                logits = self.model_(xp)[..., :h, :w]  # (1, 2, H, W)
            else:
                logits = sliding_window_inference(x, (self.roi_size, self.roi_size), sw_batch_size=4,
                                                  predictor=self.model_, overlap=self.overlap, mode="gaussian")
            out.append(torch.softmax(torch.as_tensor(logits), 1)[0, 1].numpy())  # (H, W)
        return out

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Binary masks ``(H, W)`` (probability ≥ ``threshold``)."""
        return [p >= self.threshold for p in self.predict_proba(images)]

