"""Neighbourhood collaborative filtering (user- and item-based kNN), vectorised.

Definitions follow scikit-surprise (``prediction_algorithms/knns.py``), so that predictions match it:

* ``centering="none"`` (KNNBasic): r̂ = Σ sim·r / Σ sim over the k most similar neighbours that observed the
  target, keeping only positive similarities; fewer than ``min_k`` such neighbours → the global mean.
* ``centering="mean"`` (KNNWithMeans): r̂ = μ_x + Σ sim·(r − μ_x') / Σ sim; too few neighbours → μ_x.
* ``centering="baseline"`` (KNNBaseline): r̂ = b_xy + Σ sim·(r − b_x'y) / Σ sim with ALS baselines
  (reg_i=10, reg_u=15, 10 epochs, as Surprise).

Predictions are clipped to ``rating_scale`` (default: the training range), as Surprise's ``predict`` does.

Cold start (an entity with no observed response in training): with ``entity_features`` the prediction is the
cosine-weighted mean response, on that treatment, of the ``k`` training entities with the most similar
covariates (e.g. mutation profiles); without features it is Surprise's fallback (global mean, or the
baseline μ + b_item). ``n_cold_`` counts how often this happened in the last ``predict``.

Everything is matrix algebra on a dense (entities × treatments) array — the (n × n) similarity matrix is
dense anyway — with predictions computed in chunks of pairs using ``argpartition`` for the top-k.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from medkit.core.errors import ConfigError
from medkit.core.logging import get_logger
from medkit.treatment._checks import check_fitted, check_pairs
from medkit.treatment.similarity import SIMILARITIES, covariate_cosine, similarity_matrix

log = get_logger("medkit.treatment.knn")

_CHUNK = 4096


def dense_matrix(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(R, M): responses with 0 where unobserved and the 0/1 observed mask, both (n_rows, n_cols) float64.

    Duplicate (row, col) pairs are averaged (documented correction; a duplicate is counted in the log).
    """
    R = np.zeros(shape)
    M = np.zeros(shape)
    np.add.at(R, (rows, cols), vals)
    np.add.at(M, (rows, cols), 1.0)
    dup = M > 1
    if dup.any():
        log.warning("%d (entity, treatment) pairs were observed more than once; their responses were averaged",
                    int(dup.sum()))
        R[dup] /= M[dup]
        M[dup] = 1.0
    return R, M


def als_baselines(R: np.ndarray, M: np.ndarray, mu: float, *, reg_u: float = 15.0, reg_i: float = 10.0,
                  n_epochs: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Surprise's ALS baseline estimates (b_u per row, b_i per column) for r ≈ μ + b_u + b_i."""
    bu = np.zeros(R.shape[0])
    bi = np.zeros(R.shape[1])
    n_i = M.sum(0)
    n_u = M.sum(1)
    for _ in range(n_epochs):
        bi = ((R - mu * M - bu[:, None] * M).sum(0)) / (reg_i + n_i)
        bu = ((R - mu * M - bi[None, :] * M).sum(1)) / (reg_u + n_u)
    return bu, bi


class KNNRegressor(BaseEstimator, RegressorMixin):
    """User- or item-based kNN collaborative filtering over an (entity × treatment) response matrix.

    Parameters
    ----------
    k, min_k
        Maximum and minimum number of neighbours (Surprise's meaning).
    sim
        ``pearson`` (default), ``cosine``, ``msd`` or ``pearson_baseline``.
    user_based
        True: neighbours are entities (patients / cell lines); False: neighbours are treatments.
    centering
        ``none`` (KNNBasic), ``mean`` (KNNWithMeans) or ``baseline`` (KNNBaseline).
    min_support, shrinkage
        See :func:`medkit.treatment.similarity.similarity_matrix`.
    rating_scale
        (low, high) for clipping; ``None`` uses the training range.
    n_entities, n_treatments
        Matrix shape; default max index + 1 seen in ``fit`` (pass them when predicting for new indices).
    cold_k
        Neighbours used by the covariate fallback for cold-start entities.

    Attributes
    ----------
    sim_ : (n_x, n_x) similarity matrix (x = entities if user_based else treatments).
    global_mean_ : float.   n_single_ : entities with a single observation (their Pearson is 0).
    n_cold_ : cold-start pairs in the last predict.
    """

    def __init__(self, k: int = 40, min_k: int = 1, sim: str = "pearson", user_based: bool = True,
                 centering: Literal["none", "mean", "baseline"] = "none", min_support: int = 1,
                 shrinkage: float = 0.0, rating_scale: tuple[float, float] | None = None,
                 n_entities: int | None = None, n_treatments: int | None = None, cold_k: int = 20) -> None:
        self.k = k
        self.min_k = min_k
        self.sim = sim
        self.user_based = user_based
        self.centering = centering
        self.min_support = min_support
        self.shrinkage = shrinkage
        self.rating_scale = rating_scale
        self.n_entities = n_entities
        self.n_treatments = n_treatments
        self.cold_k = cold_k

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any, entity_features: Any | None = None) -> KNNRegressor:
        """Fit on observed pairs.

        Parameters
        ----------
        X : (n, 2) int array of (entity, treatment) indices.
        y : (n,) responses.
        entity_features : optional (n_entities, p) covariates of *all* entities (also those without
            responses), used for cold start.
        """
        if self.sim not in SIMILARITIES:
            raise ConfigError(f"unknown similarity '{self.sim}'", where="sim", fix=f"use one of {SIMILARITIES}")
        if self.centering not in ("none", "mean", "baseline"):
            raise ConfigError(f"unknown centering '{self.centering}'", where="centering",
                              fix="use 'none', 'mean' or 'baseline'")
        if self.k < 1 or self.min_k < 0:
            raise ConfigError("k must be >= 1 and min_k >= 0", where="k/min_k", fix="e.g. k=40, min_k=1")
        rows, cols, vals = check_pairs(X, y)
        assert vals is not None
        n_e = max(self.n_entities or 0, int(rows.max()) + 1)
        n_t = max(self.n_treatments or 0, int(cols.max()) + 1)
        R, M = dense_matrix(rows, cols, vals, (n_e, n_t))
        self.global_mean_ = float(vals.mean())
        self.scale_ = self.rating_scale or (float(vals.min()), float(vals.max()))
        counts = M.sum(1)
        self.n_single_ = int((counts == 1).sum())
        if self.n_single_:
            log.info("%d entities have a single observation: their Pearson similarity is undefined (set to 0) and "
                     "their predictions fall back to means", self.n_single_)
        self.bu_, self.bi_ = als_baselines(R, M, self.global_mean_)
        self.known_entity_ = counts > 0
        self.known_treatment_ = M.sum(0) > 0
        # x = the side whose rows are compared; y = the other side.
        Rx, Mx = (R, M) if self.user_based else (R.T.copy(), M.T.copy())
        residuals = None
        if self.sim == "pearson_baseline":
            bx, by = (self.bu_, self.bi_) if self.user_based else (self.bi_, self.bu_)
            residuals = (Rx - (self.global_mean_ + bx[:, None] + by[None, :])) * Mx
        self.sim_, self.freq_ = similarity_matrix(Rx, Mx, self.sim, min_support=self.min_support,  # type: ignore[arg-type]
                                                  shrinkage=self.shrinkage, residuals=residuals)
        with np.errstate(invalid="ignore"):
            self.means_x_ = np.where(Mx.sum(1) > 0, Rx.sum(1) / np.maximum(Mx.sum(1), 1), self.global_mean_)
        self.R_, self.M_ = R, M
        pos = np.full((n_e, n_t), len(rows), dtype=np.int64)
        pos[rows[::-1], cols[::-1]] = np.arange(len(rows))[::-1]  # first occurrence of each pair in X
        self.pos_ = pos
        self.entity_features_ = None if entity_features is None else np.asarray(entity_features, dtype=float)
        return self

    # -------------------------------------------------------------- predict
    def predict(self, X: Any) -> np.ndarray:
        """(n,) predicted responses for (entity, treatment) pairs."""
        check_fitted(self, "sim_")
        rows, cols, _ = check_pairs(X)
        out = np.empty(len(rows))
        n_e, n_t = self.R_.shape
        in_e = rows < n_e
        in_t = cols < n_t
        known = in_e & in_t
        known[known] = self.known_entity_[rows[known]] & self.known_treatment_[cols[known]]
        idx = np.flatnonzero(known)
        for s in range(0, len(idx), _CHUNK):
            part = idx[s:s + _CHUNK]
            out[part] = self._predict_known(rows[part], cols[part])
        cold = np.flatnonzero(~known)
        self.n_cold_ = int(len(cold))
        if len(cold):
            out[cold] = self._predict_cold(rows[cold], cols[cold])
        return np.clip(out, self.scale_[0], self.scale_[1])

    def _predict_known(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        ub = self.user_based
        xs, ys = (rows, cols) if ub else (cols, rows)
        Rx, Mx = (self.R_, self.M_) if ub else (self.R_.T, self.M_.T)
        S = self.sim_[xs]  # (c, n_x) similarity of each target row to every candidate neighbour
        rated = Mx[:, ys].T > 0  # (c, n_x) neighbour observed the target column
        vals = Rx[:, ys].T  # (c, n_x)
        cand = np.where(rated, S, -np.inf)
        n_x = cand.shape[1]
        if self.k < n_x:
            top = np.argpartition(-cand, self.k - 1, axis=1)[:, : self.k]  # (c, k)
        else:
            top = np.broadcast_to(np.arange(n_x), cand.shape)
        s_top = np.take_along_axis(cand, top, axis=1)
        if self.k < n_x:
            top, s_top = self._break_ties(cand, top, s_top, (self.pos_ if ub else self.pos_.T)[:, ys].T)
        v_top = np.take_along_axis(vals, top, axis=1)
        pos = s_top > 0
        w = np.where(pos, s_top, 0.0)
        wsum = w.sum(1)
        actual_k = pos.sum(1)
        enough = (actual_k >= self.min_k) & (wsum > 0)
        if self.centering == "none":
            num = (w * np.where(pos, v_top, 0.0)).sum(1)
            return np.where(enough, num / np.where(wsum > 0, wsum, 1.0), self.global_mean_)
        if self.centering == "mean":
            base_x = self.means_x_[xs]
            ref = self.means_x_[top]  # (c, k) neighbour means
        else:
            bx, by = (self.bu_, self.bi_) if ub else (self.bi_, self.bu_)
            base_x = self.global_mean_ + bx[xs] + by[ys]
            ref = self.global_mean_ + bx[top] + by[ys][:, None]
        dev = (w * np.where(pos, v_top - ref, 0.0)).sum(1)
        return base_x + np.where(enough, dev / np.where(wsum > 0, wsum, 1.0), 0.0)

    def _break_ties(self, cand: np.ndarray, top: np.ndarray, s_top: np.ndarray, order: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Resolve ties at the k-th similarity like Surprise: the neighbour whose rating came first in training wins.

        ``argpartition`` picks arbitrarily among equal similarities (common when two rows share only 2 items and
        Pearson is exactly ±1); only rows where a tie straddles the cut-off are re-sorted, by (−sim, position).
        """
        thr = s_top.min(1, keepdims=True)
        tie = ((cand == thr).sum(1) > (s_top == thr).sum(1)) & (thr[:, 0] > 0)
        if tie.any():
            r = np.flatnonzero(tie)
            full = np.lexsort((order[r], -cand[r]), axis=1)[:, : self.k]
            top = top.copy()
            s_top = s_top.copy()
            top[r] = full
            s_top[r] = np.take_along_axis(cand[r], full, axis=1)
        return top, s_top

    def _predict_cold(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        n_e, n_t = self.R_.shape
        t_ok = cols < n_t
        t_known = np.zeros(len(cols), dtype=bool)
        t_known[t_ok] = self.known_treatment_[cols[t_ok]]
        item_mean = np.full(len(cols), self.global_mean_)
        bi = np.zeros(len(cols))
        if t_known.any():
            c = cols[t_known]
            item_mean[t_known] = self.R_[:, c].sum(0) / np.maximum(self.M_[:, c].sum(0), 1)
            bi[t_known] = self.bi_[c]
        if self.centering == "baseline":
            e_ok = rows < n_e
            bu = np.zeros(len(rows))
            bu[e_ok] = self.bu_[rows[e_ok]] * self.known_entity_[rows[e_ok]]
            fallback = self.global_mean_ + bu + bi
        else:
            fallback = np.full(len(rows), self.global_mean_)
        F = self.entity_features_
        usable = t_known & (F is not None) & (rows < (0 if F is None else len(F)))
        if F is None or not usable.any():
            return fallback
        warm = np.flatnonzero(self.known_entity_)
        out = fallback.copy()
        idx = np.flatnonzero(usable)
        cold_ents, inv = np.unique(rows[idx], return_inverse=True)
        S = covariate_cosine(F[cold_ents], F[warm])[inv]  # (c, n_warm) similarity of each pair's entity to warm ones
        rated = self.M_[warm][:, cols[idx]].T > 0
        vals = self.R_[warm][:, cols[idx]].T
        cand = np.where(rated, S, -np.inf)
        k = min(self.cold_k, cand.shape[1])
        top = np.argpartition(-cand, k - 1, axis=1)[:, :k]
        s_top = np.take_along_axis(cand, top, axis=1)
        w = np.where(s_top > 0, s_top, 0.0)
        v = np.take_along_axis(vals, top, axis=1)
        wsum = w.sum(1)
        # No covariate neighbour with positive similarity → the treatment's mean response.
        out[idx] = np.where(wsum > 0, (w * np.where(w > 0, v, 0.0)).sum(1) / np.where(wsum > 0, wsum, 1.0),
                            item_mean[idx])
        return out
