"""Trust services for clinical runs: data-quality gate before training, model card + TRIPOD+AI after.

The gate runs :func:`medkit.quality.check_xy` on the table the model will learn from (for PhysioNet
ICU records: the per-patient summary features), writes ``quality.html`` + ``quality.json`` into the
run directory and refuses to train on errors, and on warnings unless ``allow_quality_warnings``.

A few registered data sets carry a warning that has been reviewed and is expected; those are listed
in :data:`EXPECTED_WARNINGS` (by check name, with the reason) and do not block training. Everything
else, in a CSV especially, blocks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from medkit.clinical.inputs import ClinicalData
from medkit.core.logging import get_logger
from medkit.core.runs import RunDir

log = get_logger("medkit.clinical")

#: Reviewed warnings of registered data sets: {dataset: {check name: why it is expected}}.
EXPECTED_WARNINGS: dict[str, dict[str, str]] = {
    "veteran": {"duplicates": "the VA lung-cancer trial has 2 patients whose covariates are near-identical after "
                              "standardising; they are different patients (different survival times), not copies"},
    **{f"physionet2012-{s}": {"missingness": "labs such as ALP, bilirubin or lactate are ordered for some ICU patients "
                                              "only (50-95% missing); the absence is informative and every ICU model "
                                              "handles it (NaN-native GBM, imputation + indicator, GRU-D masks)"}
       for s in ("a", "b", "c")},
    "whas500": {"duplicates": "once the post-outcome 'los' column is removed, 2 of the 500 WHAS patients share all 13 "
                              "admission covariates; they are distinct patients (different ids and follow-up)"},
}


def quality_frame(data: ClinicalData) -> pd.DataFrame:
    """The table the quality checks look at: ``X`` itself, or the basic per-patient features of ICU records."""
    if isinstance(data.X, pd.DataFrame):
        return data.X
    from medkit.clinical.features import physionet_features

    return physionet_features(data.X, "basic")


def quality_gate(run: RunDir, data: ClinicalData, *, allow_warnings: bool = False) -> Any:
    """Check the training data, write ``quality.html``/``quality.json`` into ``run``, refuse bad data.

    Survival data is screened with the event indicator as label (a column that copies the event, or is
    known only after it, is leakage for a survival model too).

    Raises
    ------
    ValidationError
        On any error finding, and on unexpected warnings unless ``allow_warnings``; names the column/row.
    """
    from medkit.quality import check_xy, gate

    y = data.y if data.y is not None else data.event
    X = quality_frame(data)
    rep = check_xy(X.reset_index(drop=True), y, data.ids, source=data.name or "training data")
    rep.write_html(run.path / "quality.html")
    run.write_json("quality.json", rep.to_dict())
    expected = EXPECTED_WARNINGS.get(data.name, {})
    warn = [f for f in rep.findings if f.severity == "warning"]
    reviewed = bool(warn) and all(f.check in expected for f in warn)
    if reviewed:
        log.info("quality warnings of %s are reviewed and expected: %s", data.name,
                 "; ".join(expected[f.check] for f in warn))
    gate(rep, allow_warnings=allow_warnings or reviewed)
    return rep


def add_trust(run: RunDir, data: ClinicalData, model: Any, quality: Any, *, n_boot: int, seed: int) -> dict[str, str]:
    """Model card + TRIPOD+AI checklist into ``run``; returns {file: title} links for the report."""
    from medkit.reporting.model_card import add_trust_to_run, write_model_card

    if data.task == "survival":
        write_model_card(run.path)
    else:
        X = quality_frame(data)
        from medkit.interpret import applicable_methods

        # ICU models take raw records, not a feature table, and the torch MLP has no tabular explainer:
        # the card then says SHAP was not computed instead of failing the run
        explain_model = getattr(model, "model_", None) if isinstance(data.X, pd.DataFrame) else None
        if explain_model is not None and not applicable_methods(explain_model, X.iloc[:5]):
            explain_model = None
        add_trust_to_run(run, X.reset_index(drop=True), np.asarray(data.y), groups=data.ids,
                         model=explain_model, quality=quality, n_explain=100, n_boot=min(n_boot, 200), seed=seed)
    return {"quality.html": "Data-quality report", "model_card.html": "Model card and TRIPOD+AI checklist"}


def explain_predictions(b: Any, X: Any, *, top_k: int = 5) -> dict[str, Any]:
    """Per-patient attributions from :func:`medkit.interpret.explain` for a loaded clinical bundle.

    Tabular binary bundles are explained on the fitted inner model (exact tree/linear SHAP where it
    applies), so each patient's ``attributions`` sum to ``prediction - base_value`` on the scale named by
    ``output``. Returns ``{"method", "output", "completeness_gap", "patients": [...]}``, or
    ``{"unavailable": reason}`` when no explainer applies (ICU bundles read raw records, survival
    bundles give a relative hazard; their occlusion ``top_features`` remain in the output).
    """
    from medkit.core.errors import MedkitError
    from medkit.interpret import explain

    if b.task != "binary":
        return {"unavailable": f"no SHAP/IG explainer applies to {b.task} bundles; see top_features (occlusion)"}
    Xa = X[b.features].astype(float)
    inner = getattr(b.model, "model_", b.model)
    try:
        ex = explain(inner, Xa)
    except MedkitError as exc:
        return {"unavailable": exc.what if hasattr(exc, "what") else str(exc)}
    pf = ex.per_feature()
    patients = [{"id": str(i), **ex.to_dict(r, k=top_k),
                 "attributions": {f: float(v) for f, v in zip(ex.feature_names, pf[r], strict=True)}}
                for r, i in enumerate(X.index)]
    return {"method": ex.method, "output": ex.output, "additive": ex.additive,
            "completeness_gap": ex.completeness_gap(), "patients": patients}
