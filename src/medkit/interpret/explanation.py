"""The typed result of :func:`medkit.interpret.explain`.

Every method returns additive attributions on a stated output scale:

    values[i].sum() + base_values[i] ≈ predictions[i]

exactly for SHAP (tree, linear, permutation), up to the integral's discretisation error for integrated
gradients (reported as ``completeness_gap``), and not at all for Grad-CAM (a saliency map, ``additive=False``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Explanation:
    """Attributions for ``n`` inputs.

    Attributes
    ----------
    method
        ``shap-tree``, ``shap-linear``, ``shap-permutation``, ``integrated-gradients``, ``grad-cam`` or
        ``model`` (the model's own ``explain``).
    values
        Attributions: (n, F) tabular; (n, T, V) sequences (time step × variable); (n, H, W) images.
    base_values
        (n,) reference output: SHAP expected value, or the model output at the IG baseline.
    predictions
        (n,) the explained model output, on scale ``output``.
    feature_names
        F (tabular) or V (sequence variables) names.
    output
        Scale of ``predictions``/``base_values``: ``probability``, ``log-odds`` or ``logit``.
    additive
        Whether values sum to ``predictions - base_values``.
    data
        The explained inputs (same shape as ``values``) when available, for plots.
    extra
        Method-specific details (e.g. IG convergence deltas, Grad-CAM layer, per-atom weights).
    """

    method: str
    values: np.ndarray
    base_values: np.ndarray
    predictions: np.ndarray
    feature_names: list[str]
    output: str = "probability"
    additive: bool = True
    data: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    def completeness_gap(self) -> float:
        """max_i |sum(values_i) + base_i - prediction_i| (0 for exact methods; NaN if not additive)."""
        if not self.additive:
            return float("nan")
        total = self.values.reshape(self.n, -1).sum(axis=1) + self.base_values
        return float(np.max(np.abs(total - self.predictions)))

    def per_feature(self) -> np.ndarray:
        """(n, F) attributions per feature/variable (sequences summed over time)."""
        v = self.values
        return v.sum(axis=1) if v.ndim == 3 and len(self.feature_names) == v.shape[2] else v.reshape(self.n, -1)

    def global_importance(self) -> pd.DataFrame:
        """Mean |attribution| per feature, largest first (columns ``feature``, ``mean_abs``, ``mean``)."""
        pf = self.per_feature()
        names = self.feature_names if len(self.feature_names) == pf.shape[1] else [str(i) for i in range(pf.shape[1])]
        df = pd.DataFrame({"feature": names, "mean_abs": np.abs(pf).mean(axis=0), "mean": pf.mean(axis=0)})
        return df.sort_values("mean_abs", ascending=False, ignore_index=True)

    def top_features(self, i: int, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` largest contributions for input ``i`` (JSON-ready, for ``predict --explain``)."""
        pf = self.per_feature()[i]
        order = np.argsort(-np.abs(pf))[:k]
        out = []
        for j in order:
            row: dict[str, Any] = {"feature": self.feature_names[j] if j < len(self.feature_names) else str(j),
                                   "contribution": float(pf[j])}
            if self.data is not None and self.data.ndim == 2:
                row["value"] = float(self.data[i, j]) if np.isscalar(self.data[i, j]) else self.data[i, j]
            out.append(row)
        return out

    def to_dict(self, i: int, k: int = 5) -> dict[str, Any]:
        """One input's explanation as JSON-ready dict."""
        return {"method": self.method, "output": self.output, "prediction": float(self.predictions[i]),
                "base_value": float(self.base_values[i]), "top_features": self.top_features(i, k)}
