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
        {task: value}, "sd": {task: sd}, "explanation"?, "attribution"?}], "n_invalid"}``. With ``explain``: ``explanation`` is
        ``medkit.interpret.explain(model, smiles).to_dict()`` (first task) and ``attribution`` every atom's weight.
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
        expl = self._explanations(res.smiles, reasons) if explain else {}
        out = []
        for i, s in enumerate(smiles):
            row: dict[str, Any] = {"index": i, "smiles": s, "valid": i not in reasons, "reason": reasons.get(i, "")}
            if row["valid"]:
                row["standardised"] = res.smiles[i]
                row["values"] = {t: float(res.mean[i, j]) for j, t in enumerate(res.tasks)}
                row["sd"] = {t: (None if np.isnan(res.variance[i, j]) else float(np.sqrt(res.variance[i, j])))
                             for j, t in enumerate(res.tasks)}
                if i in expl:
                    row["explanation"], row["attribution"] = expl[i]
            out.append(row)
        return {"tasks": list(res.tasks), "task_type": self.model.task_type, "predictions": out,
                "n_invalid": len(reasons)}

    def _explanations(self, std: list[str], reasons: dict[int, str]) -> dict[int, tuple[dict[str, Any], Any]]:
        return _explanations_of(self.model, std, [i for i in range(len(std)) if i not in reasons])


def _explanations_of(model: Any, std: list[str], valid: list[int]) -> dict[int, tuple[dict[str, Any], dict[str, Any]]]:
    """``medkit.interpret.explain(model, smiles).to_dict(k)`` per valid molecule (top features named
    ``atom <index> <symbol>``; zero-padding past the last atom dropped) plus the full per-atom attribution."""
    from medkit.interpret import explain as _explain

    if not valid:
        return {}
    ex = _explain(model, [std[i] for i in valid])
    out = {}
    for k, i in enumerate(valid):
        atoms = ex.extra["atoms"][k]
        d = ex.to_dict(k)
        d["top_features"] = [{**f, "feature": f"atom {f['feature']} {atoms[int(f['feature'])]}"}
                             for f in d["top_features"] if int(f["feature"]) < len(atoms)]
        raw = ex.extra["raw"][k]
        d["task"] = raw.task
        att = {"atoms": list(atoms), "weights": [float(w) for w in raw.weights], "method": raw.method, "task": raw.task}
        out[i] = (d, att)
    return out


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
