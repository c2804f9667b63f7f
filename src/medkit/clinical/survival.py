"""Survival estimators: Cox PH and random survival forest (scikit-survival underneath) and DeepSurv.

All take ``X`` (DataFrame; categorical columns are one-hot encoded inside, with the
training categories) and ``y`` = scikit-survival structured array ``(event, time)``
(see :func:`make_surv_y`), and expose ``predict(X) -> risk`` (higher = earlier event)
and ``predict_survival(X, times) -> (N, len(times))`` probabilities ``P(T > t)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from medkit.clinical.survival_metrics import check_survival, harrell_c
from medkit.core.errors import DataError, NotFittedError


def make_surv_y(time: Any, event: Any, where: str = "survival outcome") -> np.ndarray:
    """Validated structured array ``[("event", bool), ("time", float)]``."""
    t, e = check_survival(time, event, where)
    y = np.empty(len(t), dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = e, t
    return y


def _split_y(y: Any) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(y, np.ndarray) and y.dtype.names and len(y.dtype.names) == 2):
        raise DataError("y must be a structured array (event, time)", where="fit(X, y)",
                        fix="build it with medkit.clinical.survival.make_surv_y(time, event)")
    e, t = np.ascontiguousarray(y[y.dtype.names[0]]), np.ascontiguousarray(y[y.dtype.names[1]])
    t, e = check_survival(t, e)
    return t, e


class _Encoder:
    """One-hot encoding of categorical columns with the training categories; NaN not allowed."""

    def fit(self, X: pd.DataFrame) -> _Encoder:
        X = pd.DataFrame(X)
        self.cat_ = {c: sorted(map(str, X[c].dropna().unique())) for c in X.columns
                     if not pd.api.types.is_numeric_dtype(X[c])}
        self.columns_ = list(X.columns)
        self.mean_ = self._raw(X).mean(0)
        std = self._raw(X).std(0)
        self.std_ = np.where(std > 0, std, 1.0)
        return self

    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        X = pd.DataFrame(X)
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise DataError(f"columns {missing} are missing", where="survival model input", fix="pass the training columns")
        parts = []
        for c in self.columns_:
            if c in self.cat_:
                vals = X[c].astype(str)
                unknown = set(vals) - set(self.cat_[c])
                if unknown:
                    raise DataError(f"column '{c}' has unseen categories {sorted(unknown)[:3]}",
                                    where=f"column '{c}'", fix=f"use one of {self.cat_[c]}")
                parts += [(vals == k).astype(float).to_numpy() for k in self.cat_[c][1:]]
            else:
                parts.append(pd.to_numeric(X[c], errors="coerce").to_numpy(dtype=float))
        Z = np.column_stack(parts)
        if np.isnan(Z).any():
            r, col = np.argwhere(np.isnan(Z))[0]
            raise DataError("missing or non-numeric covariate value", where=f"row {r}", fix="impute or drop it first")
        return Z

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return (self._raw(X) - self.mean_) / self.std_


class _SurvBase(BaseEstimator):  # type: ignore[misc]
    def _check(self) -> None:
        if not hasattr(self, "enc_"):
            raise NotFittedError(f"{type(self).__name__} used before fit", where="predict", fix="call fit first")

    def score(self, X: Any, y: Any) -> float:
        t, e = _split_y(y)
        return harrell_c(t, e, self.predict(X))


class _SksurvModel(_SurvBase):
    """A scikit-survival estimator behind medkit's encoder; subclasses say which one in ``_make``."""

    def _make(self) -> Any:
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> Any:
        _split_y(y)
        self.enc_ = _Encoder().fit(X)
        self.model_ = self._make().fit(self.enc_.transform(X), y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        self._check()
        return np.asarray(self.model_.predict(self.enc_.transform(X)))

    def predict_survival(self, X: Any, times: np.ndarray) -> np.ndarray:
        self._check()
        fns = self.model_.predict_survival_function(self.enc_.transform(X))
        return np.vstack([f(np.clip(times, f.x[0], f.x[-1])) for f in fns])


class CoxPH(_SksurvModel):
    """Cox proportional hazards (``sksurv.linear_model.CoxPHSurvivalAnalysis``, Breslow ties, ridge ``alpha``)."""

    def __init__(self, alpha: float = 1e-4) -> None:
        self.alpha = alpha

    def _make(self) -> Any:
        from sksurv.linear_model import CoxPHSurvivalAnalysis

        return CoxPHSurvivalAnalysis(alpha=self.alpha)


class RSF(_SksurvModel):
    """Random survival forest (``sksurv.ensemble.RandomSurvivalForest``)."""

    def __init__(self, n_estimators: int = 300, min_samples_leaf: int = 10, max_features: str | float = "sqrt",
                 seed: int = 0, n_jobs: int = 1) -> None:
        self.n_estimators, self.min_samples_leaf, self.max_features = n_estimators, min_samples_leaf, max_features
        self.seed, self.n_jobs = seed, n_jobs

    def _make(self) -> Any:
        from sksurv.ensemble import RandomSurvivalForest

        return RandomSurvivalForest(n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                                    max_features=self.max_features, random_state=self.seed, n_jobs=self.n_jobs)


def cox_partial_likelihood(log_risk: Any, time: Any, event: Any) -> Any:
    """Negative Cox partial log-likelihood (Breslow ties), averaged over events. Tensors ``(B,)``.

    ``-1/n_events * sum_{i: event} [ eta_i - log sum_{j: t_j >= t_i} exp(eta_j) ]``
    """
    import torch

    order = torch.argsort(time, descending=True)
    eta, t, e = log_risk[order], time[order], event[order].float()
    log_cum = torch.logcumsumexp(eta, dim=0)  # log sum over j with t_j >= t_i (sorted descending) ...
    # ... but tied times must all share the risk set of the earliest-sorted member: take the
    # value at the last position of each tie block (largest cumulative sum).
    _, inverse, counts = torch.unique_consecutive(t, return_inverse=True, return_counts=True)
    last_of_block = torch.cumsum(counts, 0) - 1
    log_risk_set = log_cum[last_of_block][inverse]
    n_events = e.sum().clamp(min=1.0)
    return -((eta - log_risk_set) * e).sum() / n_events


class DeepSurv(_SurvBase):
    """DeepSurv (Katzman et al., BMC Med Res Methodol 2018): an MLP log-risk trained on the Cox
    partial likelihood with :class:`medkit.training.Trainer`; survival curves via the Breslow baseline.

    Training uses full-data batches (the partial likelihood couples all patients in the risk
    set) and early stopping on Harrell's C of an internal validation split.
    """

    def __init__(self, hidden: int = 32, depth: int = 1, dropout: float = 0.2, max_epochs: int = 300,
                 lr: float = 5e-3, weight_decay: float = 1e-3, patience: int = 30, val_fraction: float = 0.2,
                 seed: int = 0, setup_hook: Any = None) -> None:
        self.hidden, self.depth, self.dropout = hidden, depth, dropout
        self.max_epochs, self.lr, self.weight_decay, self.patience = max_epochs, lr, weight_decay, patience
        self.val_fraction, self.seed, self.setup_hook = val_fraction, seed, setup_hook

    def fit(self, X: Any, y: Any) -> DeepSurv:
        import torch
        from torch.utils.data import TensorDataset

        from medkit.clinical.nets import MLP
        from medkit.core.seed import seed_everything
        from medkit.training import TrainConfig, Trainer

        t, e = _split_y(y)
        self.enc_ = _Encoder().fit(X)
        Z = torch.as_tensor(self.enc_.transform(X), dtype=torch.float32)
        rng = np.random.default_rng(self.seed)
        idx = rng.permutation(len(t))
        n_val = int(round(self.val_fraction * len(t)))
        va, tr = np.sort(idx[:n_val]), np.sort(idx[n_val:])
        tt, ee = torch.as_tensor(t, dtype=torch.float32), torch.as_tensor(e)
        seed_everything(self.seed)
        module = MLP(Z.shape[1], self.hidden, self.depth, self.dropout)

        def loss_fn(model: Any, b: Any) -> Any:
            return cox_partial_likelihood(model(b[0]), b[1], b[2])

        def val_fn(model: Any, loader: Any) -> dict[str, float]:
            xs, ts, es = zip(*[(b[0], b[1], b[2]) for b in loader], strict=True)
            r = model(torch.cat(xs)).numpy()
            return {"val_c": harrell_c(torch.cat(ts).numpy(), torch.cat(es).numpy(), r)}

        cfg = TrainConfig(max_epochs=self.max_epochs, batch_size=len(tr), lr=self.lr, weight_decay=self.weight_decay,
                          patience=self.patience, monitor="val_c" if n_val else "train_loss",
                          mode="max" if n_val else "min", seed=self.seed, progress=False, scheduler="none")
        trainer = Trainer(module, loss_fn, cfg, val_fn=val_fn if n_val else None, setup_hook=self.setup_hook,
                          description="DeepSurv")
        self.train_result_ = trainer.fit(TensorDataset(Z[tr], tt[tr], ee[tr]),
                                         TensorDataset(Z[va], tt[va], ee[va]) if n_val else None)
        self.module_ = trainer.model
        # Breslow baseline cumulative hazard on all training data
        eta = self._eta(Z)
        u = np.unique(t[e])
        exp_eta = np.exp(eta - eta.max())
        h = [e[t == s].sum() / exp_eta[t >= s].sum() for s in u]
        self.base_times_ = u
        self.base_cumhaz_ = np.cumsum(h) * np.exp(-eta.max())
        return self

    def _eta(self, Z: Any) -> np.ndarray:
        import torch

        self.module_.eval()
        with torch.no_grad():
            return np.asarray(self.module_(Z).numpy(), dtype=float)

    def predict(self, X: Any) -> np.ndarray:
        import torch

        self._check()
        return self._eta(torch.as_tensor(self.enc_.transform(X), dtype=torch.float32))

    def predict_survival(self, X: Any, times: np.ndarray) -> np.ndarray:
        eta = self.predict(X)
        idx = np.searchsorted(self.base_times_, np.asarray(times, dtype=float), side="right") - 1
        H0 = np.where(idx >= 0, self.base_cumhaz_[np.clip(idx, 0, None)], 0.0)
        return np.exp(-np.exp(eta)[:, None] * H0[None, :])
