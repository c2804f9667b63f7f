"""``load_predictor(bundle_dir)`` for ``medkit serve``: predictions from a list of row dicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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

    def predict(self, inputs: Any, *, explain: bool = False) -> dict[str, Any]:
        if not isinstance(inputs, list) or not inputs or not all(isinstance(r, dict) for r in inputs):
            raise SchemaError("inputs must be a non-empty list of row objects", where="inputs",
                              fix="send [{...}, {...}] (see the bundle's inputs description)")
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


def load_predictor(bundle_dir: str | Path) -> ClinicalPredictor:
    """Load a bundle written by ``medkit clinical train``."""
    return ClinicalPredictor(load_clinical_bundle(Path(bundle_dir)))
