"""Trust services for the treatment pillar: data-quality gate before training, model card, attributions.

* :func:`actg_quality_gate` checks exactly the table the effect models train on (baseline covariates, arm,
  outcome, patient id) with the follow-up columns of ACTG 175 declared post-outcome, writes ``quality.html`` +
  ``quality.json`` into the run directory and refuses to train on errors (and on warnings unless allowed).
* :func:`write_treatment_card` writes ``model_card.html`` + the TRIPOD+AI checklist via
  :func:`medkit.reporting.model_card.write_model_card`.
* :func:`explain_recommendation` adds SHAP attributions (:func:`medkit.interpret.explain`) of the recommended
  arm's outcome model to a ``recommend`` answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from medkit.core.errors import ValidationError
from medkit.core.runs import RunDir

# Measured after randomisation (CD4/CD8 at 20/96 weeks, off-treatment, follow-up time, event): never features.
ACTG_POST_OUTCOME = ("cd420", "cd496", "r", "cd820", "offtrt", "days", "cens")


def actg_quality_gate(df: pd.DataFrame, covariates: Sequence[str], outcome: str, run: RunDir, *,
                      allow_warnings: bool = False, arm: str = "arms", id_column: str = "pidnum") -> Any:
    """Check the ACTG 175 training table, write ``quality.html``/``quality.json`` into ``run``, then gate.

    Parameters
    ----------
    df
        The full trial table (one row per patient).
    covariates
        Feature columns the models will use; any declared post-outcome column among them is an error.
    outcome
        Outcome column (e.g. ``cd420``); the label-leakage screen flags covariates that copy it.

    Returns
    -------
    QualityReport
        The report (after the gate passed).

    Raises
    ------
    ValidationError
        On any error finding (naming the column), or on warnings unless ``allow_warnings``.
    """
    from medkit.quality import ColumnSpec, TableSchema, check_table, gate

    post = [c for c in covariates if c in ACTG_POST_OUTCOME and c != outcome] + (
        [outcome] if outcome in covariates else [])
    if post:
        rep_path = run.path / "quality.json"
        run.write_json("quality.json", {"refused": True, "post_outcome_features": post})
        raise ValidationError(f"covariate(s) {post} are measured after randomisation (post-outcome) and cannot be "
                              "features of a treatment-effect model", where=f"actg.covariates ({rep_path})",
                              fix="use baseline covariates only (default: medkit.treatment.features.ACTG_COVARIATES)")
    cols = [c for c in dict.fromkeys([id_column, arm, *covariates, outcome]) if c in df.columns]
    missing = [c for c in [*covariates, outcome, arm] if c not in df.columns]
    if missing:
        raise ValidationError(f"column(s) {missing} are not in the ACTG 175 table", where="actg.covariates",
                              fix=f"use columns of the table, e.g. {list(df.columns)[:8]}")
    schema = TableSchema("actg175-effects", (ColumnSpec(id_column, "int", role="id"),
                                              ColumnSpec(arm, "int", categories=(0, 1, 2, 3), role="attribute"),
                                              ColumnSpec(outcome, "float", role="label")))
    rep = check_table(df[cols], label=outcome, id_column=id_column, task="regression", schema=schema,
                      source=f"actg175 ({len(covariates)} baseline covariates, outcome {outcome})")
    rep.write_html(run.path / "quality.html")
    run.write_json("quality.json", rep.to_dict())
    gate(rep, allow_warnings=allow_warnings)
    return rep


def gdsc_quality_gate(X: np.ndarray, y: np.ndarray, run: RunDir, *, allow_warnings: bool = False) -> Any:
    """Quality checks of the GDSC2 (cell line, drug, ln IC50) triples before CF training; writes
    ``quality_gdsc2.html``/``quality_gdsc2.json`` and gates like :func:`actg_quality_gate`. The integer ids are
    not screened as features (outliers/leakage are meaningless for them)."""
    from medkit.quality import Finding, check_table, gate

    df = pd.DataFrame({"cell_line": X[:, 0], "drug": X[:, 1], "ln_ic50": y})
    rep = check_table(df, label="ln_ic50", task="regression", ignore=("cell_line", "drug"),
                      source="gdsc2 (cell line, drug, ln IC50)")
    # A repeated (cell line, drug) pair can land in train and test folds at once and inflate CF scores.
    dup = df.duplicated(["cell_line", "drug"], keep="first")
    if dup.any():
        first = df[dup].iloc[0]
        rep.add(Finding("duplicates", "error", f"{int(dup.sum())} (cell line, drug) pair(s) occur more than once",
                        where=f"gdsc2: e.g. cell line {int(first.cell_line)}, drug {int(first.drug)}",
                        fix="aggregate repeated measurements (e.g. median ln IC50) before training",
                        value=float(dup.sum())))
    rep.write_html(run.path / "quality_gdsc2.html")
    run.write_json("quality_gdsc2.json", rep.to_dict())
    gate(rep, allow_warnings=allow_warnings)
    return rep


def quality_text(rep: Any) -> str:
    s = rep.summary()
    return (f"Data quality (checked before training): {s['n_errors']} errors, {s['n_warnings']} warnings, "
            f"{s['n_info']} notes.")


def write_treatment_card(run: RunDir, metrics: dict[str, Any]) -> Any:
    """Model card + TRIPOD+AI checklist for a treatment run (metrics = policy values with CIs)."""
    from medkit.reporting.model_card import ModelCardInfo, write_model_card

    a = metrics.get("actg175", {})
    vals = a.get("policy_values", {})
    lines = [f"{k}: DR {v['dr']:.1f} (95% CI {v['dr_ci'][0]:.1f}-{v['dr_ci'][1]:.1f}) cells/mm³"
             for k, v in vals.items() if isinstance(v, dict) and "dr" in v]
    info = ModelCardInfo(
        intended_use="Decision support for choosing an antiretroviral arm (ACTG 175 regimens) for a patient, "
                     "next to clinical judgement; the conservative policy keeps the best single arm unless another "
                     "arm's benefit is confidently positive. Held-out policy values: "
                     + ("; ".join(lines) if lines else "not estimated in this run (run `medkit treatment evaluate`)."),
        intended_users="Clinical data-science teams and clinicians evaluating treatment-rule methods.",
        out_of_scope="Current HIV treatment decisions (ACTG 175 regimens are obsolete); patients outside the trial's "
                     "eligibility; any use as an autonomous prescriber.",
        setting="ACTG 175 randomised trial (1990s, USA), adults with HIV and CD4 200-500 cells/mm³; "
                "outcome CD4 at 20±5 weeks.",
        limitations=["Trial population only: effects may not transport to other settings or eras.",
                     "No confident personalisation benefit: the policy's value does not beat the best single arm "
                     "with a CI excluding zero (see policy values).",
                     "Intervals are model (bootstrap) uncertainty of the mean, not individual prediction intervals.",
                     "Drivers and SHAP attributions describe the model, not causal mechanisms."])
    return write_model_card(run.path, info)


def explain_recommendation(policy: Any, X: pd.DataFrame, arms: Sequence[int]) -> list[dict[str, Any] | None]:
    """SHAP attributions of the recommended arm's outcome model (first bootstrap replicate) per patient.

    Returns one ``Explanation.to_dict(i)`` per patient, or ``None`` where the base model has no tree/linear
    explainer (the one-at-a-time ``drivers`` remain in either case).
    """
    from medkit.core.errors import ModelError
    from medkit.interpret import explain

    Xa = np.asarray(X[policy.features_], dtype=float)
    background = np.asarray(policy.medians_, dtype=float)[None, :]
    out: list[dict[str, Any] | None] = []
    for i, arm in enumerate(arms):
        j = int(np.flatnonzero(policy.arms_ == arm)[0])
        model = policy.models_[0][j]
        try:
            e = explain(model, Xa[[i]], background=background)
        except ModelError:
            out.append(None)
            continue
        if e.method not in ("shap-linear", "shap-tree"):
            out.append(None)
            continue
        d = e.to_dict(0, k=len(policy.features_))  # every covariate, largest |contribution| first
        names = list(policy.features_)
        for f in d.get("top_features", []):  # the model was fitted on arrays: name features by covariate
            k = "".join(ch for ch in str(f.get("feature", "")) if ch.isdigit())
            if k and int(k) < len(names):
                f["feature"], f["value"] = names[int(k)], float(Xa[i, int(k)])  # raw value, not the scaled one
        d["explains"] = f"expected outcome under arm {int(arm)} (outcome model, bootstrap replicate 0)"
        out.append(d)
    return out
