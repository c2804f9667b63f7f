"""Similarities over co-rated items, computed with matrix products (no loops over pairs).

All measures follow scikit-surprise's definitions (``surprise/similarities.pyx``) so that kNN predictions
match it: for rows x, x' of a response matrix with observed mask M,

* ``pearson``: Pearson correlation over the items both rows observed, centred on the *co-rated* means
  (Surprise's ``n·Σrr' − Σr·Σr'`` form). Zero variance on the co-rated items (e.g. constant responses)
  or fewer than ``min_support`` co-rated items gives similarity 0 — Pearson is undefined there, and 0
  means "no information", which the kNN then ignores (it only uses positive similarities).
* ``cosine``: Σrr' / sqrt(Σr² Σr'²) over co-rated items (0 when the denominator is 0).
* ``msd``: 1 / (mean squared difference + 1).
* ``pearson_baseline``: correlation of baseline residuals r − (μ + b_x + b_y), shrunk by (n−1)/(n−1+λ).

Any measure can additionally be shrunk towards 0 by ``shrinkage`` λ: sim · (n−1)/(n−1+λ), n = #co-rated.
The diagonal is 1.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

SimName = Literal["pearson", "cosine", "msd", "pearson_baseline"]
SIMILARITIES = ("pearson", "cosine", "msd", "pearson_baseline")

# Relative tolerance under which a co-rated variance counts as zero: the n·Σr² − (Σr)² form loses precision
# through cancellation, so exact constants can come out as ±1e-13 instead of 0.
_ZERO_VAR_RTOL = 1e-10


def _dense(a: Any) -> np.ndarray:
    return a.toarray() if sp.issparse(a) else np.asarray(a)


def similarity_matrix(
    R: np.ndarray | sp.spmatrix,
    M: np.ndarray | sp.spmatrix,
    kind: SimName = "pearson",
    *,
    min_support: int = 1,
    shrinkage: float = 0.0,
    residuals: np.ndarray | sp.spmatrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Similarity between the rows of a partially observed matrix.

    Parameters
    ----------
    R
        (n_x, n_y) responses with 0 where not observed (dense or scipy.sparse).
    M
        (n_x, n_y) 0/1 observed mask, same shape.
    kind
        One of ``pearson``, ``cosine``, ``msd``, ``pearson_baseline``.
    min_support
        Pairs with fewer co-rated items get similarity 0 (``pearson_baseline`` uses at least 2, as Surprise).
    shrinkage
        λ ≥ 0; sim ← sim·(n−1)/(n−1+λ). ``pearson_baseline`` is always shrunk (Surprise default λ=100).
    residuals
        (n_x, n_y) baseline residuals r − b on observed cells (0 elsewhere); required for ``pearson_baseline``.

    Returns
    -------
    sim, freq
        (n_x, n_x) similarities and (n_x, n_x) number of co-rated items.
    """
    if kind not in SIMILARITIES:
        from medkit.core.errors import ConfigError

        raise ConfigError(f"unknown similarity '{kind}'", where="sim", fix=f"use one of {', '.join(SIMILARITIES)}")
    Mf = M.astype(np.float64) if sp.issparse(M) else np.asarray(M, dtype=np.float64)
    freq = _dense(Mf @ Mf.T)
    n = freq
    if kind == "pearson_baseline":
        if residuals is None:
            raise ValueError("pearson_baseline needs residuals")
        D: Any = residuals
        prods = _dense(D @ D.T)
        sq = _dense(D.multiply(D) @ Mf.T) if sp.issparse(D) else (np.asarray(D) ** 2) @ Mf.T
        den = np.sqrt(sq * sq.T)
        with np.errstate(invalid="ignore", divide="ignore"):
            sim = np.where(den > 0, prods / np.where(den > 0, den, 1.0), 0.0)
        min_support = max(2, min_support)
    else:
        prods = _dense(R @ R.T)
        Rs: Any = R
        R2 = Rs.multiply(Rs) if sp.issparse(Rs) else np.asarray(Rs) ** 2
        sqi = _dense(R2 @ Mf.T)  # sqi[x, x'] = Σ r_x² over items co-rated with x'
        sqj = sqi.T
        if kind == "cosine":
            den = np.sqrt(sqi * sqj)
            with np.errstate(invalid="ignore", divide="ignore"):
                sim = np.where(den > 0, prods / np.where(den > 0, den, 1.0), 0.0)
        elif kind == "msd":
            msd = (sqi + sqj - 2 * prods) / np.maximum(n, 1)
            sim = 1.0 / (np.maximum(msd, 0.0) + 1.0)
        else:
            si = _dense(R @ Mf.T)  # si[x, x'] = Σ r_x over items co-rated with x'
            sj = si.T
            var_i = n * sqi - si**2
            var_j = n * sqj - sj**2
            zero = (var_i <= _ZERO_VAR_RTOL * n * sqi) | (var_j <= _ZERO_VAR_RTOL * n * sqj)
            num = n * prods - si * sj
            den = np.sqrt(np.where(zero, 1.0, var_i * var_j))
            sim = np.where(zero, 0.0, num / den)
    if shrinkage > 0 or kind == "pearson_baseline":
        lam = shrinkage if shrinkage > 0 else 100.0
        sim = sim * np.maximum(n - 1, 0) / np.maximum(n - 1 + lam, 1e-12)
    sim = np.where(n < min_support, 0.0, sim)
    np.fill_diagonal(sim, 1.0)
    return sim, freq


def covariate_cosine(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """(n_a, n_b) cosine similarity between the rows of two covariate matrices (used for cold start).

    Rows of all zeros get similarity 0 to everything.
    """

    def unit(F: np.ndarray) -> np.ndarray:
        F = np.asarray(F, dtype=np.float64)
        norms = np.linalg.norm(F, axis=1)
        return F / np.where(norms > 0, norms, 1.0)[:, None]

    return unit(A) @ unit(B).T
