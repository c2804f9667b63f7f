"""``load_predictor(bundle_dir)``: the drug pillar's :class:`~medkit.core.bundle.Predictor` for ``medkit serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medkit.core.bundle import BundleInfo, load_bundle_info
from medkit.core.errors import DataError, ModelError

__all__ = ["DrugPredictor", "load_predictor"]

MAX_BATCH = 10_000


class DrugPredictor:
    """Predicts every task of a property bundle for a list of SMILES; invalid rows get a reason, not a crash."""

    def __init__(self, info: BundleInfo, model: Any) -> None:
        self.info = info
        self.model = model

    def predict(self, inputs: Any, *, explain: bool = False) -> dict[str, Any]:
        """``inputs``: a list of SMILES strings (or of ``{"smiles": ...}`` dicts, or one string).

        Returns ``{"tasks", "task_type", "predictions": [{"index", "smiles", "valid", "reason", "values":
        {task: value}, "sd": {task: sd}, "attribution"?}], "n_invalid"}``.
        """
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list):
            raise DataError(f"expected a list of SMILES, got {type(inputs).__name__}", where="inputs",
                            fix='send e.g. ["CCO", "c1ccccc1"]')
        if len(inputs) > MAX_BATCH:
            raise DataError(f"{len(inputs)} molecules in one request (limit {MAX_BATCH})", where="inputs",
                            fix="split the request into smaller batches")
        smiles = [x.get("smiles") if isinstance(x, dict) else x for x in inputs]
        res = self.model.predict_with_uncertainty(smiles)
        reasons = {r.index: r.reason for r in res.invalid}
        out = []
        for i, s in enumerate(smiles):
            row: dict[str, Any] = {"index": i, "smiles": s, "valid": i not in reasons, "reason": reasons.get(i, "")}
            if row["valid"]:
                row["standardised"] = res.smiles[i]
                row["values"] = {t: float(res.mean[i, j]) for j, t in enumerate(res.tasks)}
                row["sd"] = {t: (None if np.isnan(res.variance[i, j]) else float(np.sqrt(res.variance[i, j])))
                             for j, t in enumerate(res.tasks)}
                if explain and hasattr(self.model, "explain"):
                    a = self.model._explain_one(res.smiles[i])
                    row["attribution"] = {"atoms": a.atoms, "weights": [float(w) for w in a.weights],
                                          "method": a.method, "task": a.task}
            out.append(row)
        return {"tasks": list(res.tasks), "task_type": self.model.task_type, "predictions": out,
                "n_invalid": len(reasons)}


def load_predictor(bundle_dir: str | Path) -> DrugPredictor:
    """Load a bundle written by ``medkit drug train`` (``bundle.json`` + ``model.joblib``)."""
    import joblib

    info = load_bundle_info(bundle_dir)
    if info.pillar != "drug":
        raise ModelError(f"bundle belongs to pillar {info.pillar!r}, not drug", where=str(bundle_dir),
                         fix="load it with that pillar's load_predictor")
    f = Path(bundle_dir) / "model.joblib"
    if not f.is_file():
        raise ModelError("bundle has no model.joblib", where=str(f), fix="re-create it with `medkit drug train`")
    return DrugPredictor(info, joblib.load(f))
