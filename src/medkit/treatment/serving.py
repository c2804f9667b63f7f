"""Treatment bundles: save a fitted :class:`ConservativePolicy` and serve recommendations from it.

``load_predictor(bundle_dir).predict([{"age": 40, ...}, ...])`` returns, per patient, the expected outcome
under every arm with its interval, the recommended arm, its expected benefit over the reference arm, and
the covariates driving that benefit. Missing covariates raise :class:`medkit.errors.SchemaError` naming the
patient and the column — a recommendation is never made from imputed values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medkit.core.bundle import BundleInfo, load_bundle_info, save_bundle_info
from medkit.core.errors import ModelError, SchemaError
from medkit.treatment._checks import check_covariates
from medkit.treatment.policy import ConservativePolicy

MODEL_FILE = "model.joblib"


def save_bundle(path: str | Path, policy: ConservativePolicy, *, name: str, arm_names: dict[int, str],
                reference: int, outcome: str, unit: str, metrics: dict[str, Any] | None = None,
                run_dir: str | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write ``bundle.json`` + ``model.joblib`` for a fitted policy; returns the bundle directory."""
    import joblib

    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    joblib.dump(policy, p / MODEL_FILE)
    info = BundleInfo(
        pillar="treatment", kind="conservative-policy", name=name,
        inputs={"features": policy.features_, "format": "list of patient dicts (one key per covariate)"},
        outputs={"outcome": outcome, "unit": unit, "per_arm": "expected outcome with interval",
                 "recommended": "arm", "benefit": "vs reference arm"},
        metrics=metrics or {}, label_map={str(k): v for k, v in arm_names.items()},
        preprocessing={"reference_arm": reference, "default_arm": policy.default_arm_, "alpha": policy.alpha,
                       "interval": policy.interval, "higher_is_better": policy.sign_ > 0},
        run_dir=run_dir, extra=extra or {},
    )
    save_bundle_info(p, info)
    return p


class TreatmentPredictor:
    """Predictor (see :mod:`medkit.core.bundle`) over a saved conservative policy."""

    def __init__(self, info: BundleInfo, policy: ConservativePolicy) -> None:
        self.info = info
        self.policy = policy
        self.arm_names = {int(k): v for k, v in info.label_map.items()}
        self.reference = int(info.preprocessing.get("reference_arm", policy.default_arm_))

    def _frame(self, inputs: Any) -> pd.DataFrame:
        if isinstance(inputs, pd.DataFrame):
            df = inputs
        elif isinstance(inputs, dict):
            df = pd.DataFrame([inputs])
        elif isinstance(inputs, list) and all(isinstance(r, dict) for r in inputs):
            df = pd.DataFrame(inputs)
        else:
            raise SchemaError("inputs must be a list of patient dicts (or one dict)", where="inputs",
                              fix='pass e.g. [{"age": 40, "cd40": 350, ...}]')
        if df.empty:
            raise SchemaError("no patients given", where="inputs", fix="pass at least one patient")
        return check_covariates(df, self.policy.features_, where="patient")

    def predict(self, inputs: Any, *, explain: bool = True, attributions: bool = False) -> dict[str, Any]:
        """Per-arm expected outcomes and the recommendation; ``explain`` adds one-at-a-time ``drivers`` of the
        benefit, ``attributions`` adds SHAP attributions (``medkit.interpret``) of the recommended arm's model."""
        X = self._frame(inputs)
        rec = self.policy.recommend(X)
        attr = None
        if attributions:
            from medkit.treatment.trust import explain_recommendation

            attr = explain_recommendation(self.policy, X, [int(r) for r in rec.recommended])
        arms = [int(a) for a in rec.arms]
        if self.reference not in arms:
            raise ModelError(f"reference arm {self.reference} is not an arm of this model ({arms})",
                             where="bundle.json", fix="re-create the bundle")
        jr = arms.index(self.reference)
        drivers = None
        if explain:
            drivers = [self.policy.drivers(X.iloc[[i]], int(rec.recommended[i]), self.reference)[0]
                       if rec.recommended[i] != self.reference else [] for i in range(len(X))]
        patients = []
        for i in range(len(X)):
            j = arms.index(int(rec.recommended[i]))
            diff = self.policy.sign_ * (rec.outcome[i, j] - rec.outcome[i, jr])  # improvement, any direction
            per_arm = [{"arm": a, "name": self.arm_names.get(a, str(a)), "expected": float(rec.outcome[i, k]),
                        "interval": [float(rec.outcome_lo[i, k]), float(rec.outcome_hi[i, k])],
                        "benefit_vs_default": float(rec.benefit[i, k]),
                        "benefit_vs_default_lower": float(rec.benefit_lo[i, k])} for k, a in enumerate(arms)]
            out = {"per_arm": per_arm, "recommended_arm": int(rec.recommended[i]),
                   "recommended_name": self.arm_names.get(int(rec.recommended[i]), str(rec.recommended[i])),
                   "default_arm": rec.default_arm, "switched_from_default": bool(rec.switched[i]),
                   "reference_arm": self.reference, "benefit_over_reference": float(diff)}
            if drivers is not None:
                out["drivers"] = [{"feature": f, "effect_on_benefit": v} for f, v in drivers[i]]
            if attr is not None:
                out["attributions"] = attr[i]
            assert np.isfinite(diff), "recommendations are never NaN"
            patients.append(out)
        return {"outcome": self.info.outputs.get("outcome"), "unit": self.info.outputs.get("unit"),
                "higher_is_better": self.policy.sign_ > 0, "patients": patients, "model": self.info.name}


def load_predictor(bundle_dir: str | Path) -> TreatmentPredictor:
    """Load a treatment bundle written by :func:`save_bundle` (``medkit treatment train``)."""
    import joblib

    info = load_bundle_info(bundle_dir)
    if info.pillar != "treatment":
        raise ModelError(f"bundle is for pillar '{info.pillar}', not 'treatment'", where=str(bundle_dir),
                         fix="pass a bundle written by `medkit treatment train`")
    path = Path(bundle_dir) / MODEL_FILE
    if not path.is_file():
        raise ModelError("bundle has no model.joblib", where=str(path), fix="re-create it with medkit treatment train")
    policy = joblib.load(path)
    if not isinstance(policy, ConservativePolicy):
        raise ModelError("model.joblib does not hold a ConservativePolicy", where=str(path), fix="re-create the bundle")
    return TreatmentPredictor(info, policy)
