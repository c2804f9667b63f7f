"""Clinical model bundles: ``bundle.json`` (see :mod:`medkit.core.bundle`) + ``model.joblib``, and prediction.

``model.joblib`` holds the fitted estimator and what prediction needs (task, feature columns,
training patient ids for leakage checks, training outcomes for IPCW survival metrics).
It is a pickle: load bundles only from sources you trust.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medkit.clinical.inputs import ClinicalData
from medkit.core.bundle import BundleInfo, load_bundle_info, save_bundle_info
from medkit.core.errors import ModelError, SchemaError
from medkit.data.physionet import PARAMETERS, PhysioNetRecords


@dataclass
class ClinicalBundle:
    info: BundleInfo
    model: Any
    task: str
    features: list[str] = field(default_factory=list)
    train_ids: set[str] = field(default_factory=set)
    train_time: np.ndarray | None = None
    train_event: np.ndarray | None = None
    horizons: list[float] = field(default_factory=list)
    reference: dict[str, Any] = field(default_factory=dict)

    def train_like(self, data: ClinicalData) -> ClinicalData:
        """Training outcomes (for IPCW) in a :class:`ClinicalData` shell; ``X`` is unused."""
        return ClinicalData(self.task, None, np.array(sorted(self.train_ids)), time=self.train_time,
                            event=self.train_event, name="training data")


def save_clinical_bundle(path: Path, model: Any, data: ClinicalData, cfg: Any, metrics: dict[str, Any],
                         run_dir: Path, train_ids: np.ndarray) -> Path:
    import joblib

    from medkit.clinical.survival_metrics import eval_times

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    features = list(PARAMETERS) if data.task == "icu" else list(map(str, data.X.columns))
    tr_mask = np.isin(data.ids, train_ids)
    horizons: list[float] = []
    payload: dict[str, Any] = {"model": model, "task": data.task, "features": features,
                               "train_ids": [str(i) for i in train_ids]}
    if data.task == "survival":
        assert data.time is not None and data.event is not None
        payload["train_time"] = data.time[tr_mask]
        payload["train_event"] = data.event[tr_mask]
        horizons = [float(np.round(h, 1)) for h in eval_times(data.time[tr_mask], data.time[tr_mask], n=3)]
        payload["horizons"] = horizons
        Xtr = data.X.iloc[np.flatnonzero(tr_mask)]
        # reference patient for occlusion contributions: median of numeric columns, most common category otherwise
        payload["reference"] = {c: (float(Xtr[c].median()) if pd.api.types.is_numeric_dtype(Xtr[c])
                                    else Xtr[c].mode().iloc[0]) for c in Xtr.columns}
    joblib.dump(payload, path / "model.joblib")
    test = metrics.get("test", {})
    inputs = ({"format": "PhysioNet 2012 records: a folder of <RecordID>.txt, or rows "
                         "{record_id, time (hh:mm) or minutes, parameter, value}", "parameters": features}
              if data.task == "icu" else {"format": "one row per patient", "columns": features})
    outputs = ({"risk": "probability of the outcome (0-1)"} if data.task != "survival" else
               {"risk": "log relative hazard (higher = earlier event)",
                "survival": f"P(event-free) at times {horizons}"})
    label = {"icu": "in-hospital death", "binary": cfg.label or (data.name == "wdbc" and "malignant") or "label",
             "survival": "event"}[data.task]
    info = BundleInfo(pillar="clinical", kind=data.task, name=f"{cfg.model}-{data.name}", inputs=inputs,
                      outputs=outputs, metrics=test, label_map={"1": str(label)},
                      preprocessing={"cleaning": "medkit.clinical.cleaning.DEFAULT_RULES" if data.task == "icu"
                                     else "none", "features": getattr(cfg, "features", "")},
                      run_dir=str(run_dir), extra={"model": cfg.model, "dataset": data.name, "seed": cfg.seed})
    save_bundle_info(path, info)
    return path


def load_clinical_bundle(path: Path) -> ClinicalBundle:
    import joblib

    info = load_bundle_info(path)
    if info.pillar != "clinical":
        raise ModelError(f"bundle belongs to the '{info.pillar}' pillar, not clinical", where=str(path),
                         fix=f"use `medkit {info.pillar} predict`")
    f = Path(path) / "model.joblib"
    if not f.is_file():
        raise ModelError("bundle has no model.joblib", where=str(path), fix="re-create it with `medkit clinical train`")
    try:
        p = joblib.load(f)
    except Exception as exc:  # a truncated or foreign file
        raise ModelError(f"cannot load model.joblib: {exc}", where=str(f), fix="re-create the bundle") from None
    if not isinstance(p, dict) or not {"model", "task", "features", "train_ids"} <= set(p):
        raise ModelError("model.joblib was not written by `medkit clinical train` (keys model/task/features/train_ids "
                         "missing)", where=str(f), fix="re-create the bundle with `medkit clinical train`")
    return ClinicalBundle(info, p["model"], p["task"], p["features"], set(p["train_ids"]), p.get("train_time"),
                          p.get("train_event"), p.get("horizons", []), p.get("reference", {}))


def rows_to_records(rows: list[dict[str, Any]]) -> PhysioNetRecords:
    """Row dicts ``{record_id, time|minutes, parameter, value}`` → records (validated like a file)."""
    from medkit.data.physionet import HEADER, _assemble, _parse_record

    by_id: dict[str, list[str]] = {}
    for i, r in enumerate(rows):
        missing = [k for k in ("record_id", "parameter", "value") if k not in r]
        if missing or ("time" not in r and "minutes" not in r):
            raise SchemaError(f"row {i} lacks {missing or ['time']}", where=f"rows[{i}]",
                              fix="each row needs record_id, time (hh:mm) or minutes, parameter and value")
        t = r["time"] if "time" in r else f"{int(r['minutes']) // 60:02d}:{int(r['minutes']) % 60:02d}"
        by_id.setdefault(str(r["record_id"]), []).append(f"{t},{r['parameter']},{r['value']}")
    parsed = []
    for rid, lines in by_id.items():
        has_id = any(line.split(",")[1] == "RecordID" for line in lines)
        body = [HEADER] + ([] if has_id else [f"00:00,RecordID,{rid}"]) + lines
        parsed.append(_parse_record("\n".join(body), f"record {rid}", int(rid) if rid.isdigit() else None))
    return _assemble(parsed, [], None)


def predict_frame(b: ClinicalBundle, X: Any, *, top_k: int = 5, explain: bool = True) -> pd.DataFrame:
    """Per-patient risk (+ survival at the bundle's horizons) and top contributing features."""
    if b.task == "icu":
        assert isinstance(X, PhysioNetRecords)
        ids = X.record_ids
        risk = b.model.predict_proba(X)[:, 1]
    else:
        missing = [c for c in b.features if c not in X.columns]
        if missing:
            raise SchemaError(f"input lacks columns {missing[:5]}", where="input", fix=f"supply columns {b.features}")
        ids = X.index.to_numpy()
        X = X[b.features]
        risk = b.model.predict(X) if b.task == "survival" else b.model.predict_proba(X)[:, 1]
    out = pd.DataFrame({"id": ids, "risk": np.asarray(risk, dtype=float)})
    if b.task == "survival" and b.horizons:
        S = b.model.predict_survival(X, np.asarray(b.horizons))
        for j, h in enumerate(b.horizons):
            out[f"survival_t{h:g}"] = S[:, j]
    if explain and hasattr(b.model, "contributions"):
        contrib = b.model.contributions(X, top_k=top_k)
        out["top_features"] = [json.dumps(c) for c in contrib]
    elif explain and b.task == "survival" and b.reference:
        out["top_features"] = [json.dumps(c) for c in _survival_contributions(b, X, np.asarray(risk), top_k)]
    return out


def _survival_contributions(b: ClinicalBundle, X: pd.DataFrame, risk: np.ndarray, top_k: int) -> list[list[dict]]:
    """Occlusion on the log relative hazard: risk minus the risk with the covariate set to the training
    reference (median / most common category)."""
    deltas = np.zeros((len(X), len(b.features)))
    for j, c in enumerate(b.features):
        Xo = X.copy()
        Xo[c] = b.reference[c]
        deltas[:, j] = risk - np.asarray(b.model.predict(Xo), dtype=float)
    out = []
    for i in range(len(X)):
        order = np.argsort(-np.abs(deltas[i]))[:top_k]
        out.append([{"feature": b.features[j], "value": X.iloc[i][b.features[j]].item()
                     if hasattr(X.iloc[i][b.features[j]], "item") else X.iloc[i][b.features[j]],
                     "contribution": float(deltas[i, j])} for j in order])
    return out
