"""2-D CNN image classifier as a scikit-learn estimator, trained with medkit's Trainer.

Inputs are arrays of raw pixel values already resized to ``image_size`` (see
:func:`medkit.imaging.prep.load_resized`): ``(N, H, W)`` for grayscale or ``(N, C, H, W)``.
Intensity normalisation (mean/std of the training pixels) is learnt in ``fit`` and lives in the
:class:`~medkit.imaging.nets.Preprocess` module, which the ONNX export carries along.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from torch.utils.data import TensorDataset

from medkit.core.errors import DataError, NotFittedError
from medkit.imaging.augment import RandomAugment
from medkit.imaging.nets import Preprocess, WithPreprocess, make_classifier_net
from medkit.training import TrainConfig, Trainer

__all__ = ["ImageClassifier"]


def _as_nchw(X: np.ndarray, where: str = "X") -> torch.Tensor:
    X = np.asarray(X)
    if X.ndim == 3:
        X = X[:, None]
    if X.ndim != 4:
        raise DataError(f"expected images shaped (N, H, W) or (N, C, H, W), got {X.shape}", where=where,
                        fix="stack images of one size (medkit.imaging.prep.load_resized)")
    if not np.isfinite(X).all():
        raise DataError("images contain NaN or infinite values", where=where, fix="check the image files")
    return torch.as_tensor(X, dtype=torch.float32)


class ImageClassifier(ClassifierMixin, BaseEstimator):
    """CNN classifier (MONAI ResNet/DenseNet) with augmentation and model selection on validation loss.

    Parameters
    ----------
    arch
        ``"resnet"`` or ``"densenet"`` (see :func:`medkit.imaging.nets.make_classifier_net`).
    width
        Base number of feature maps.
    epochs, batch_size, lr, weight_decay, patience
        Training settings passed to :class:`medkit.training.TrainConfig`.
    augment
        Random flips, small rotations/zoom and intensity jitter during training.
    monitor
        Validation metric that picks the epoch whose weights are kept (and drives ``patience``):
        ``"val_loss"`` (cross-entropy, default) or ``"val_auroc"``. On easy sets validation AUROC reaches 1.0
        early and then cannot rank later, better-calibrated epochs (Br35H: epoch 10 of 30), so loss is the default.
    tta
        Average predictions over the image and its horizontal flip (test-time augmentation).
    scale
        Value of a white pixel in the input (255 for 8-bit pictures).
    max_seconds
        Wall-clock training budget (seconds); training stops after the epoch that crosses it and keeps the
        best validation epoch so far. Plan ``epochs`` to fit, because the cosine schedule spans ``epochs``.
    seed, num_threads, progress
        Reproducibility and CPU settings.

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
    model_ : torch.nn.Module
        ``WithPreprocess(Preprocess, net)``: raw pixels in, class probabilities out.
    history_ : list of dict
        Per-epoch training log from the Trainer.
    train_seconds_, train_cpu_seconds_ : float
        Wall-clock and process CPU time of ``fit`` (they differ when other jobs share the machine).
    """

    def __init__(self, arch: str = "resnet", width: int = 16, epochs: int = 20, batch_size: int = 32,
                 lr: float = 2e-3, weight_decay: float = 1e-4, patience: int | None = 6, augment: bool = True,
                 tta: bool = False, scale: float = 255.0, seed: int = 0, num_threads: int | None = None,
                 progress: bool = False, max_seconds: float | None = None, monitor: str = "val_loss") -> None:
        self.arch = arch
        self.width = width
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.augment = augment
        self.tta = tta
        self.scale = scale
        self.seed = seed
        self.num_threads = num_threads
        self.progress = progress
        self.max_seconds = max_seconds
        self.monitor = monitor

    # ------------------------------------------------------------------ fitting
    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None) -> ImageClassifier:
        """Train on ``X`` (N, [C,] H, W) raw pixels and labels ``y`` (N,); validation data enable early stopping."""
        import time

        from medkit.core.seed import seed_everything

        cpu0 = time.process_time()
        x = _as_nchw(X)
        y_arr = np.asarray(y)
        if len(y_arr) != len(x):
            raise DataError(f"{len(x)} images but {len(y_arr)} labels", where="y", fix="pass one label per image")
        self.classes_ = np.unique(y_arr)
        if len(self.classes_) < 2:
            raise DataError("training labels hold a single class", where="y", fix="include both classes")
        yi = torch.as_tensor(np.searchsorted(self.classes_, y_arr), dtype=torch.long)
        seed_everything(self.seed)
        flat = x.transpose(0, 1).reshape(x.shape[1], -1) / self.scale  # (C, N*H*W)
        pre = Preprocess(self.scale, flat.mean(1).tolist(), flat.std(1).clamp_min(1e-6).tolist())
        net = make_classifier_net(self.arch, in_channels=x.shape[1], n_classes=len(self.classes_), width=self.width)
        model = WithPreprocess(pre, net)
        aug = RandomAugment(flip=0.5, max_angle_deg=10, max_zoom=1.1, gain=0.1, bias=0.1) if self.augment else None
        ce = torch.nn.CrossEntropyLoss()

        def loss_fn(m: torch.nn.Module, batch: Any) -> torch.Tensor:
            xb, yb = batch
            m = cast(WithPreprocess, m)
            z = m.pre(xb)  # (B, C, H, W) normalised
            if aug is not None:
                z, _ = aug(z)
            return ce(m.net(z), yb)  # (B, K) logits

        val = None
        monitor, mode = "train_loss", "min"
        if X_val is not None and y_val is not None:
            yv = np.searchsorted(self.classes_, np.asarray(y_val))
            val = TensorDataset(_as_nchw(X_val, "X_val"), torch.as_tensor(yv, dtype=torch.long))
            if self.monitor not in {"val_loss", "val_auroc"}:
                from medkit.core.errors import ConfigError

                raise ConfigError(f"unknown monitor '{self.monitor}'", where="monitor",
                                  fix="use 'val_loss' or 'val_auroc'")
            monitor, mode = self.monitor, ("min" if self.monitor == "val_loss" else "max")
        cfg = TrainConfig(max_epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                          weight_decay=self.weight_decay, patience=self.patience if val is not None else None,
                          monitor=monitor, mode=mode, seed=self.seed, num_threads=self.num_threads,
                          progress=self.progress, scheduler="cosine", warmup_epochs=min(1, self.epochs - 1),
                          max_seconds=self.max_seconds)
        trainer = Trainer(model, loss_fn, cfg, val_fn=self._val_fn if val is not None else None,
                          description=f"imaging classifier ({self.arch})")
        result = trainer.fit(TensorDataset(x, yi), val)
        self.model_: WithPreprocess = model.eval()
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.train_seconds_ = result.seconds
        self.train_cpu_seconds_ = time.process_time() - cpu0
        self.stopped_by_time_ = result.out_of_time
        self.n_features_in_ = int(np.prod(x.shape[1:]))
        self.input_shape_ = tuple(int(s) for s in x.shape[1:])
        return self

    def _val_fn(self, model: torch.nn.Module, loader: Any) -> dict[str, float]:
        from sklearn.metrics import roc_auc_score

        ps, ys, loss, n = [], [], 0.0, 0
        model = cast(WithPreprocess, model)
        for xb, yb in loader:
            logits = model.net(model.pre(xb))
            loss += float(torch.nn.functional.cross_entropy(logits, yb, reduction="sum"))
            n += len(yb)
            ps.append(torch.softmax(logits, 1)[:, -1])
            ys.append(yb)
        p, yy = torch.cat(ps).numpy(), torch.cat(ys).numpy()
        auc = float(roc_auc_score(yy, p)) if len(np.unique(yy)) == 2 else float("nan")
        return {"val_auroc": auc, "val_loss": loss / max(n, 1), "val_accuracy": float(np.mean((p >= 0.5) == yy))}

    # --------------------------------------------------------------- prediction
    def _check(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("ImageClassifier is not fitted", where="ImageClassifier",
                                 fix="call fit(X, y) or load a bundle")

    @torch.no_grad()
    def predict_proba(self, X: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """Class probabilities ``(N, n_classes)``."""
        self._check()
        x = _as_nchw(X)
        if tuple(x.shape[1:]) != self.input_shape_:
            raise DataError(f"images are {tuple(x.shape[1:])}, the model expects {self.input_shape_}", where="X",
                            fix="resize with medkit.imaging.prep.load_resized(size=...) as in training")
        self.model_.eval()
        out = []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            p = self.model_(xb)
            if self.tta:
                p = 0.5 * (p + self.model_(torch.flip(xb, dims=[-1])))
            out.append(p)
        return torch.cat(out).numpy() if out else np.empty((0, len(self.classes_)))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most probable class label per image ``(N,)``."""
        self._check()
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
