"""Trust services on real ICU data: PhysioNet 2012, model developed on set A, evaluated on set B.

Rows: data-quality findings (raw vs after the clinical cleaning rules, A vs B shift); discrimination on B;
calibration before/after recalibration fitted on a held-out part of A (medkit Platt/isotonic/temperature vs
scikit-learn's CalibratedClassifierCV as anchor); split-conformal coverage on B (medkit vs MAPIE as anchor);
threshold chosen on A for sensitivity 0.8 and the sensitivity it actually gives on B; subgroup AUROC by sex,
age band and ICU type; TreeSHAP completeness and time.

``MEDKIT_BENCH_FAST=1`` reads 1,000 records per set instead of 4,000 (rows say so in their note).
Needs the shared data directory ($MEDKIT_DATA or ../shared/data).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, write_results  # noqa: E402


def _data_dir() -> Path:
    env = os.environ.get("MEDKIT_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def _table(name: str, data_dir: Path, limit: int | None):  # type: ignore[no-untyped-def]
    from medkit.clinical.cleaning import clean_records
    from medkit.data import load_dataset
    from medkit.data.physionet import summary_features

    ds = load_dataset(name, data_dir=data_dir, limit=limit)
    raw = ds.data
    clean, _ = clean_records(raw)
    out = {}
    for key, recs in (("raw", raw), ("clean", clean)):
        X = summary_features(recs.long, recs.static)
        out[key] = X
    y = raw.outcomes.loc[out["clean"].index, "In-hospital_death"].to_numpy().astype(int)
    return out, y, raw.outcomes.loc[out["clean"].index]


def main(argv: list[str] | None = None) -> None:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import train_test_split

    from medkit.evaluation import binary_report, calibration
    from medkit.evaluation.conformal import ConformalClassifier, coverage_check
    from medkit.evaluation.recalibration import recalibrate
    from medkit.evaluation.subgroups import age_bands, subgroup_report
    from medkit.evaluation.thresholds import operating_point, threshold_for_sensitivity
    from medkit.interpret import explain
    from medkit.quality import SCHEMAS, check_table

    fast = os.environ.get("MEDKIT_BENCH_FAST") == "1"
    limit = 1000 if fast else None
    base_note = "FAST: 1,000 records per set" if fast else ""

    def note(*parts: str) -> str:
        return "; ".join(p for p in (base_note, *parts) if p)

    data_dir = _data_dir()
    rows: list[Row] = []
    task, dsname = "icu-mortality", "physionet2012 A→B"

    t0 = time.perf_counter()
    A, yA, outA = _table("physionet2012-a", data_dir, limit)
    B, yB, _ = _table("physionet2012-b", data_dir, limit)
    load_s = time.perf_counter() - t0

    # -- data quality: raw vs cleaned, and A vs B shift --------------------------------------------------------
    schema = SCHEMAS.get("physionet2012")
    for key in ("raw", "clean"):
        df = A[key].join(outA)
        df.insert(0, "record_id", df.index.to_numpy())
        t = time.perf_counter()
        rep = check_table(df, schema=schema, source=f"A {key}")
        sec = time.perf_counter() - t
        n_schema = sum(f.check == "schema" for f in rep.errors)
        rows.append(Row("data-quality", "physionet2012-a", key, "medkit.quality", "schema rule violations (errors)",
                        float(n_schema), seconds=sec, note=note("raw values before clinical cleaning rules" if key == "raw"
                                                  else "after clean_records")))
        rows.append(Row("data-quality", "physionet2012-a", key, "medkit.quality", "post-outcome columns flagged",
                        float(sum(f.check == "post_outcome" for f in rep.errors)), note=note()))
    both = A["clean"].copy()
    both = both._append(B["clean"])  # noqa: SLF001 - pandas concat of two frames with the same columns
    split = ["A"] * len(A["clean"]) + ["B"] * len(B["clean"])
    rep = check_table(both, split=split, reference_split="A", task="none", source="A vs B")
    shift = rep.tables.get("shift A vs B", [])
    rows.append(Row("data-quality", dsname, "A vs B", "medkit.quality", "max PSI over variables",
                    float(max(r["PSI"] for r in shift)), note=note(f"variable {shift[0]['variable']}")))

    # -- model on A (train / validation), evaluated on B -------------------------------------------------------
    XA, XB = A["clean"], B["clean"]
    Xtr, Xval, ytr, yval = train_test_split(XA, yA, test_size=0.3, stratify=yA, random_state=0)
    t = time.perf_counter()
    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=15,
                                           l2_regularization=1.0, random_state=0).fit(Xtr, ytr)
    fit_s = time.perf_counter() - t
    pval, pB = model.predict_proba(Xval)[:, 1], model.predict_proba(XB)[:, 1]
    rep_b = binary_report(yB, pB, n_boot=500 if fast else 1000, seed=0)
    for m in ("auroc", "auprc", "brier"):
        r = rep_b[m]
        rows.append(Row(task, dsname, "B (external)", "HistGradientBoosting", m, r.value, r.ci_low, r.ci_high,
                        seconds=fit_s, note=note("fit seconds on the shared 2-core machine")))
    cal0 = calibration(yB, pB)
    rows.append(Row(task, dsname, "B (external)", "HistGradientBoosting (uncalibrated)", "calibration slope",
                    cal0.slope, note=note()))
    for method, sk in (("platt", "sigmoid"), ("isotonic", "isotonic"), ("temperature", None)):
        _, res, _ = recalibrate(yval, pval, yB, pB, method)  # type: ignore[arg-type]
        anchor_val = None
        if sk is not None:
            cc = CalibratedClassifierCV(FrozenEstimator(model), method=sk).fit(Xval, yval)
            anchor_val = float(np.mean((cc.predict_proba(XB)[:, 1] - yB) ** 2))
        rows.append(Row(task, dsname, "B (external)", f"medkit {method}", "Brier", res.after.brier,
                        anchor=f"sklearn CalibratedClassifierCV({sk})" if sk else None, anchor_value=anchor_val,
                        note=note(f"before {res.before.brier:.4f}", "calibrator fitted on 30% of A")))
        rows.append(Row(task, dsname, "B (external)", f"medkit {method}", "calibration slope", res.after.slope,
                        note=note(f"before {res.before.slope:.3f}")))

    # -- conformal sets on B, calibrated on A-val --------------------------------------------------------------
    from mapie.classification import SplitConformalClassifier

    for alpha in (0.1, 0.05):
        cc = ConformalClassifier(alpha).fit(pval, yval)
        cov = coverage_check(yB, cc.predict_sets(pB), alpha)
        mp = SplitConformalClassifier(FrozenEstimator(model), confidence_level=1 - alpha, conformity_score="lac",
                                      prefit=True).conformalize(Xval, yval)
        _, ms = mp.predict_set(XB)
        anchor_cov = float(np.mean(ms[np.arange(len(yB)), yB, 0]))
        rows.append(Row(task, dsname, "B (external)", "medkit split conformal (LAC)",
                        f"coverage at target {1 - alpha:.2f}", cov.coverage, cov.ci_low, cov.ci_high,
                        anchor="MAPIE SplitConformalClassifier", anchor_value=anchor_cov,
                        note=note(f"mean set size {cov.mean_size:.2f}",
                                  f"coverage in deaths {cov.per_class['1']:.3f}")))
        mond = ConformalClassifier(alpha, class_conditional=True).fit(pval, yval)
        cm = coverage_check(yB, mond.predict_sets(pB), alpha)
        rows.append(Row(task, dsname, "B (external)", "medkit class-conditional conformal",
                        f"coverage in deaths at target {1 - alpha:.2f}", cm.per_class["1"],
                        note=note(f"overall {cm.coverage:.3f}, mean set size {cm.mean_size:.2f}")))

    # -- threshold chosen on A, applied to B -------------------------------------------------------------------
    op_a = threshold_for_sensitivity(yval, pval, 0.8)
    op_b = operating_point(yB, pB, op_a.threshold, "chosen on A-val for sensitivity 0.8")
    rows.append(Row(task, dsname, "B (external)", "threshold for sensitivity >= 0.8 (chosen on A)", "sensitivity",
                    op_b.sensitivity, *op_b.sensitivity_ci,
                    note=note(f"threshold {op_a.threshold:.3f}", f"specificity {op_b.specificity:.3f}")))

    # -- subgroups on B ----------------------------------------------------------------------------------------
    attrs = {"sex": np.where(XB["static_Gender"] == 1, "male", np.where(XB["static_Gender"] == 0, "female", "missing")),
             "age band": age_bands(XB["static_Age"].to_numpy()),
             "ICU type": XB["static_ICUType"].map({1: "coronary", 2: "cardiac surgery", 3: "medical",
                                                   4: "surgical"}).fillna("missing").to_numpy()}
    sub = subgroup_report(yB, pB, attrs, metrics=("auroc",), n_boot=300 if fast else 1000, seed=0)
    for r in sub:
        rows.append(Row(task, dsname, f"B: {r.attribute} = {r.level}", "HistGradientBoosting", "auroc", r.value,
                        r.ci_low, r.ci_high, note=note(f"n={r.n}, deaths={r.n_events}, gap {r.gap:+.3f}",
                                                    "FLAGGED" if r.flagged else "", r.note)))

    # -- explanations ------------------------------------------------------------------------------------------
    t = time.perf_counter()
    exp = explain(model, XB.iloc[:500])
    shap_s = time.perf_counter() - t
    top = ", ".join(exp.global_importance()["feature"].head(5))
    rows.append(Row(task, dsname, "B (500 patients)", "TreeSHAP (shap.TreeExplainer)", "max abs(sum SHAP + base - logit)",
                    exp.completeness_gap(), seconds=shap_s, note=note(f"top features: {top}")))
    write_results("trust", rows, notes=f"PhysioNet 2012: HistGradientBoosting on set A summary features (cleaned), "
                  f"external evaluation on set B. Data load {load_s:.0f} s. {base_note}")


if __name__ == "__main__":
    main(sys.argv[1:])
