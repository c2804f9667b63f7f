"""Scikit-learn-style binary classifiers: tabular baselines, an MLP and GRU-D.

Every deep model trains through :class:`medkit.training.Trainer` (early stopping on the
validation AUROC of an internal stratified split of the training data, never the test set).
``setup_hook`` is passed straight to the Trainer (that is how differential privacy attaches).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from medkit.clinical.timeseries import SequenceData, SeriesScaler
from medkit.core.errors import DataError, NotFittedError


def make_logistic(C: float = 0.05, seed: int = 0) -> Any:
    """Median imputation with missing-indicators → standardise → L2 logistic regression."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                         StandardScaler(), LogisticRegression(C=C, max_iter=5000, random_state=seed))


def make_gbm(seed: int = 0, max_iter: int = 400, learning_rate: float = 0.04) -> Any:
    """Histogram gradient boosting (handles NaN natively); shallow trees, strong leaf regularisation."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(learning_rate=learning_rate, max_iter=max_iter, max_leaf_nodes=15,
                                          min_samples_leaf=40, l2_regularization=1.0, random_state=seed)


def _check_y(y: Any, n: int) -> np.ndarray:
    yy = np.asarray(y)
    if len(yy) != n:
        raise DataError(f"{len(yy)} labels for {n} rows", where="fit(X, y)", fix="pass one label per row")
    if not np.isin(yy, [0, 1]).all():
        raise DataError(f"labels must be 0/1, found {np.unique(yy)[:5]}", where="fit(X, y)", fix="encode as 0/1")
    if len(np.unique(yy)) < 2:
        raise DataError("only one class in the training labels", where="fit(X, y)", fix="use data with both outcomes")
    return yy.astype(np.float32)


def _inner_split(y: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    tr, va = train_test_split(idx, test_size=frac, stratify=y, random_state=seed)
    return np.sort(tr), np.sort(va)


def _auroc_val(forward: Any) -> Any:
    import torch
    from sklearn.metrics import roc_auc_score

    def val_fn(model: Any, loader: Any) -> dict[str, float]:
        ps, ys = [], []
        for batch in loader:
            ps.append(forward(model, batch).float())
            ys.append(batch[-1])
        logits, yt = torch.cat(ps), torch.cat(ys)
        y = yt.numpy()
        return {"val_auroc": float(roc_auc_score(y, logits.numpy())) if len(np.unique(y)) > 1 else 0.5,
                "val_loss": float(torch.nn.functional.binary_cross_entropy_with_logits(logits, yt))}

    return val_fn


class _TorchBinary(BaseEstimator, ClassifierMixin):  # type: ignore[misc]
    """Shared fit loop: inner split → Trainer → restore best epoch."""

    setup_hook: Any
    seed: int
    monitor: str
    val_fraction: float
    max_epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    patience: int

    def _train(self, module: Any, tensors: list[Any], y: np.ndarray, forward: Any) -> None:
        import torch
        from torch.utils.data import TensorDataset

        from medkit.training import TrainConfig, Trainer

        tr, va = _inner_split(y, self.val_fraction, self.seed)
        yt = torch.as_tensor(y)
        ds_tr = TensorDataset(*[t[tr] for t in tensors], yt[tr])
        ds_va = TensorDataset(*[t[va] for t in tensors], yt[va])
        def loss_fn(model: Any, batch: Any) -> Any:
            logit = forward(model, batch)
            return torch.nn.functional.binary_cross_entropy_with_logits(logit, batch[-1])

        cfg = TrainConfig(max_epochs=self.max_epochs, batch_size=self.batch_size, lr=self.lr,
                          weight_decay=self.weight_decay, patience=self.patience, monitor=self.monitor,
                          mode="max" if self.monitor == "val_auroc" else "min", seed=self.seed, progress=False,
                          drop_last=True,
                          # Opacus clips per sample; the Trainer's global clipping would distort DP-SGD
                          grad_clip=None if self.setup_hook is not None else 1.0)
        trainer = Trainer(module, loss_fn, cfg, val_fn=_auroc_val(forward), setup_hook=self.setup_hook,
                          description=type(self).__name__)
        self.train_result_ = trainer.fit(ds_tr, ds_va)
        # Opacus wraps the module (GradSampleModule); keep the plain module for prediction and pickling
        self.module_ = getattr(trainer.model, "_module", trainer.model)
        self.setup_hook = None
        self.classes_ = np.array([0, 1])

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise NotFittedError(f"{type(self).__name__} used before fit", where="predict_proba", fix="call fit first")


class MLPClassifier(_TorchBinary):
    """MLP on tabular features; median imputation + missing indicators + standardisation inside.

    Parameters
    ----------
    hidden, depth, dropout
        Architecture of :class:`medkit.clinical.nets.MLP`.
    max_epochs, batch_size, lr, weight_decay, patience, val_fraction, seed
        Training (see :class:`medkit.training.TrainConfig`); ``val_fraction`` of the
        training rows is held out for early stopping.
    setup_hook
        Optional Trainer setup hook (e.g. differential privacy).
    monitor
        ``val_loss`` (default: early stopping on the validation log-loss keeps the risks
        calibrated) or ``val_auroc``.
    """

    def __init__(self, hidden: int = 64, depth: int = 2, dropout: float = 0.3, max_epochs: int = 60,
                 batch_size: int = 128, lr: float = 1e-3, weight_decay: float = 1e-2, patience: int = 8,
                 val_fraction: float = 0.15, seed: int = 0, setup_hook: Any = None,
                 monitor: str = "val_loss") -> None:
        self.hidden, self.depth, self.dropout = hidden, depth, dropout
        self.monitor = monitor
        self.max_epochs, self.batch_size, self.lr, self.weight_decay = max_epochs, batch_size, lr, weight_decay
        self.patience, self.val_fraction, self.seed, self.setup_hook = patience, val_fraction, seed, setup_hook

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        import torch
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from medkit.clinical.nets import MLP
        from medkit.core.seed import seed_everything

        yy = _check_y(y, len(X))
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.prep_ = make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                                   StandardScaler())
        Z = np.clip(self.prep_.fit_transform(np.asarray(X, dtype=np.float64)), -10, 10).astype(np.float32)
        seed_everything(self.seed)
        module = MLP(Z.shape[1], self.hidden, self.depth, self.dropout)
        self._train(module, [torch.as_tensor(Z)], yy, lambda model, b: model(b[0]))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        import torch

        self._check_fitted()
        Z = np.clip(self.prep_.transform(np.asarray(X, dtype=np.float64)), -10, 10).astype(np.float32)
        self.module_.eval()
        with torch.no_grad():
            p = torch.sigmoid(self.module_(torch.as_tensor(Z))).numpy()
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class GRUDClassifier(_TorchBinary):
    """GRU-D on the hourly grid (:class:`~medkit.clinical.timeseries.SequenceData`, raw units).

    The :class:`~medkit.clinical.timeseries.SeriesScaler` is fitted inside ``fit`` on the
    training records only.
    """

    def __init__(self, hidden: int = 64, dropout: float = 0.3, max_epochs: int = 40, batch_size: int = 64,
                 lr: float = 2e-3, weight_decay: float = 1e-3, patience: int = 6, val_fraction: float = 0.15,
                 seed: int = 0, setup_hook: Any = None, monitor: str = "val_auroc") -> None:
        self.hidden, self.dropout = hidden, dropout
        self.monitor = monitor
        self.max_epochs, self.batch_size, self.lr, self.weight_decay = max_epochs, batch_size, lr, weight_decay
        self.patience, self.val_fraction, self.seed, self.setup_hook = patience, val_fraction, seed, setup_hook

    @staticmethod
    def _tensors(d: SequenceData) -> list[Any]:
        import torch

        return [torch.as_tensor(a) for a in (d.values, d.mask, d.delta, d.last, d.static)]

    @staticmethod
    def _forward(model: Any, b: Any) -> Any:
        return model(b[0], b[1], b[2], b[3], b[4])

    def fit(self, X: SequenceData, y: Any) -> GRUDClassifier:
        from medkit.clinical.nets import GRUD
        from medkit.core.seed import seed_everything

        if not isinstance(X, SequenceData):
            raise DataError(f"GRUDClassifier needs SequenceData, got {type(X).__name__}", where="fit(X)",
                            fix="build X with medkit.clinical.timeseries.to_grid")
        yy = _check_y(y, len(X))
        self.scaler_ = SeriesScaler().fit(X)
        Z = self.scaler_.transform(X)
        seed_everything(self.seed)
        module = GRUD(len(Z.variables), Z.static.shape[1], self.hidden, self.dropout)
        self._train(module, self._tensors(Z), yy, self._forward)
        return self

    def decision_function(self, X: SequenceData) -> np.ndarray:
        import torch

        self._check_fitted()
        Z = self.scaler_.transform(X)
        self.module_.eval()
        out = []
        with torch.no_grad():
            ts = self._tensors(Z)
            for i in range(0, len(Z), 512):
                out.append(self._forward(self.module_, [t[i:i + 512] for t in ts]).numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def predict_proba(self, X: SequenceData) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X: SequenceData) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
