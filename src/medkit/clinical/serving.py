"""``load_predictor(bundle_dir)`` for ``medkit serve``: predictions from a list of row dicts."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medkit.clinical.bundle import ClinicalBundle, load_clinical_bundle, predict_frame, rows_to_records
from medkit.core.bundle import BundleInfo
from medkit.core.errors import SchemaError


class ClinicalPredictor:
    """A :class:`medkit.core.bundle.Predictor` for clinical bundles.

    ``inputs`` is a list of row dicts: for ICU bundles one row per measurement
    (``record_id``, ``time`` as ``hh:mm`` or ``minutes``, ``parameter``, ``value``; descriptors
    Age/Gender/Height/ICUType/Weight at 00:00); for tabular and survival bundles one row per
    patient with the training columns (optional ``id``).
    """

    def __init__(self, bundle: ClinicalBundle) -> None:
        self.bundle = bundle
        self.info: BundleInfo = bundle.info
        self._fast = _numpy_twin(bundle)

    def predict(self, inputs: Any, *, explain: bool = False) -> dict[str, Any]:
        if not isinstance(inputs, list) or not inputs or not all(isinstance(r, dict) for r in inputs):
            raise SchemaError("inputs must be a non-empty list of row objects", where="inputs",
                              fix="send [{...}, {...}] (see the bundle's inputs description)")
        fast = None if explain or self._fast is None else self._fast_predictions(inputs)
        if fast is not None:
            return {"model": self.info.name, "kind": self.info.kind, "outputs": self.info.outputs,
                    "predictions": fast, "cleaning": []}
        if self.bundle.task == "icu":
            from medkit.clinical.cleaning import clean_records

            recs, report = clean_records(rows_to_records(inputs))
            frame = predict_frame(self.bundle, recs, explain=explain)
            cleaning = report.counts
        else:
            df = pd.DataFrame(inputs)
            if "id" in df.columns:
                df = df.set_index("id")
            frame = predict_frame(self.bundle, df, explain=explain)
            cleaning = []
        preds = []
        for row in frame.to_dict(orient="records"):
            item: dict[str, Any] = {"id": str(row.pop("id")), "risk": float(row.pop("risk"))}
            if "top_features" in row:
                item["top_features"] = json.loads(row.pop("top_features"))
            item.update({k: float(v) for k, v in row.items()})
            preds.append(item)
        return {"model": self.info.name, "kind": self.info.kind, "outputs": self.info.outputs,
                "predictions": preds, "cleaning": cleaning}

    def _fast_predictions(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """The slow path's predictions without a DataFrame, or None when the rows need the slow path.

        Taken only for plain numbers (``None``/NaN for missing values) in every training column and ids that are all
        present (str/int) or all absent; anything else (strings, booleans, infinities, a left-out column) goes
        through pandas and scikit-learn's checks, so errors and corrections are the slow path's own.
        """
        feats = self.bundle.features
        X = np.empty((len(rows), len(feats)), dtype=float)  # (n_rows, n_features), training column order
        with_id = "id" in rows[0]
        for i, row in enumerate(rows):
            if ("id" in row) != with_id or (with_id and type(row["id"]) not in (str, int)):
                return None
            for j, c in enumerate(feats):
                v = row.get(c, _ABSENT)
                if v is None:
                    X[i, j] = math.nan
                elif (type(v) is float and not math.isinf(v)) or (type(v) is int and abs(v) < _FLOAT_INT):
                    X[i, j] = v
                else:
                    return None
        risk = self._fast.predict_proba(X)[:, 1]
        ids = [str(r["id"]) for r in rows] if with_id else [str(i) for i in range(len(rows))]
        return [{"id": k, "risk": float(p)} for k, p in zip(ids, risk, strict=True)]


_ABSENT = object()
_FLOAT_INT = 2**1023  # integers beyond the float range overflow; the slow path reports that itself


def _numpy_twin(bundle: ClinicalBundle) -> Any:
    """A copy of a binary tabular bundle's fitted scikit-learn model that takes a float array in training column
    order (None for other bundles).

    Same fitted parameters, so the same numbers as the DataFrame path; only the recorded column names are dropped,
    which are what made scikit-learn expect (and check) a DataFrame. Built once per loaded bundle.
    """
    from sklearn.base import BaseEstimator
    from sklearn.pipeline import Pipeline

    from medkit.clinical.tabular import TabularRiskModel

    model = bundle.model
    if bundle.task != "binary" or not isinstance(model, TabularRiskModel) or model.kind not in ("logistic", "gbm"):
        return None
    if list(getattr(model, "feature_names_in_", [])) != list(bundle.features):
        return None
    twin = copy.deepcopy(model.model_)
    for est in [step for _, step in twin.steps] if isinstance(twin, Pipeline) else [twin]:
        if isinstance(est, BaseEstimator) and "feature_names_in_" in vars(est):
            del est.feature_names_in_
    return twin


def load_predictor(bundle_dir: str | Path) -> ClinicalPredictor:
    """Load a bundle written by ``medkit clinical train``."""
    return ClinicalPredictor(load_clinical_bundle(Path(bundle_dir)))
