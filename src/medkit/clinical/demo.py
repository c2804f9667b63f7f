"""``medkit demo`` for the clinical pillar: a fast tour on real data, one ``report.html``.

* Diagnosis — WDBC (569 patients): logistic regression and gradient boosting, 5-fold CV.
* Survival — veteran, whas500, GBSG2: Cox PH, random survival forest, DeepSurv, 5-fold CV
  (Harrell's C per fold), plus Uno's C / time-dependent AUC / IBS and Kaplan–Meier curves by
  predicted-risk tertile on the first fold.
* ICU mortality — if the PhysioNet 2012 data is present: the first records of set A
  (train) and set B (external test), cleaned by the named rules, logistic + gradient boosting.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from medkit.clinical.evaluate import binary_plots, evaluate_binary, evaluate_survival, km_by_risk_group, metrics_table
from medkit.core.demo import DemoResult
from medkit.core.errors import DataError
from medkit.core.runs import RunDir
from medkit.core.seed import seed_everything
from medkit.reporting import Report

N_ICU_TRAIN, N_ICU_TEST = 1200, 600


def _wdbc(rep: Report, plots: Path, seed: int) -> dict[str, Any]:
    from sklearn.base import clone

    from medkit.clinical.estimators import make_gbm, make_logistic
    from medkit.data import load_dataset
    from medkit.data.splits import kfold

    ds = load_dataset("wdbc")
    X, y = ds.X, np.asarray(ds.y)
    models = {"logistic": make_logistic(C=1.0, seed=seed), "gbm": make_gbm(seed=seed, max_iter=200)}
    oof = {k: np.zeros(len(y)) for k in models}
    for split in kfold(len(y), 5, seed=seed, y=y):
        for k, m in models.items():
            oof[k][split.test] = clone(m).fit(X.iloc[split.train], y[split.train]).predict_proba(
                X.iloc[split.test])[:, 1]
    evals = {k: evaluate_binary(y, p, n_boot=300, seed=seed) for k, p in oof.items()}
    figs = binary_plots({k: (y, p) for k, p in oof.items()}, evals, plots, "wdbc")
    s = rep.section("Diagnosis: breast cancer (WDBC), 5-fold cross-validation")
    s.text(f"{len(y)} fine-needle aspirates, {int(y.sum())} malignant. Pooled out-of-fold predictions.")
    s.table(metrics_table(evals))
    s.figure(figs["roc"], "ROC")
    s.figure(figs["calibration"], "Calibration")
    s.figure(figs["decision"], "Decision curve")
    return {k: e.as_dict() for k, e in evals.items()}


def _survival(rep: Report, plots: Path, seed: int) -> dict[str, Any]:
    from medkit.clinical.survival import RSF, CoxPH, DeepSurv, make_surv_y
    from medkit.clinical.survival_metrics import eval_times, harrell_c
    from medkit.data import load_dataset
    from medkit.evaluation.plots import save

    out: dict[str, Any] = {}
    s = rep.section("Survival: lung cancer (veteran), heart attack (whas500), breast cancer (GBSG2)")
    s.text("5-fold cross-validation (KFold, shuffled, seed fixed). Harrell's C is the mean over folds; Uno's C, "
           "mean time-dependent AUC and the integrated Brier score are on fold 1 with censoring weights from its "
           "training part.")
    rows = []
    for name in ("veteran", "whas500", "gbsg2"):
        from sklearn.model_selection import KFold

        ds = load_dataset(name)
        X, t, e = ds.X.reset_index(drop=True), ds.extra["time"], ds.extra["event"]
        y = make_surv_y(t, e)
        makers = {"coxph": lambda: CoxPH(), "rsf": lambda: RSF(n_estimators=100, seed=seed),
                  "deepsurv": lambda: DeepSurv(max_epochs=120, patience=20, seed=seed)}
        cs: dict[str, list[float]] = {k: [] for k in makers}
        first: dict[str, Any] = {}
        for fold, (tr, te) in enumerate(KFold(5, shuffle=True, random_state=seed).split(X)):
            for k, mk in makers.items():
                m = mk().fit(X.iloc[tr], y[tr])
                r = m.predict(X.iloc[te])
                cs[k].append(harrell_c(t[te], e[te], r))
                if fold == 0:
                    times = eval_times(t[tr], t[te])
                    first[k] = evaluate_survival(t[tr], e[tr], t[te], e[te], r, m.predict_survival(X.iloc[te], times),
                                                 times, n_boot=0)
                    if k == "coxph":
                        km = save(km_by_risk_group(t[te], e[te], r, f"{name}: Cox PH risk tertiles (fold 1)"),
                                  plots / f"km-{name}.png")
        for k in makers:
            f = first[k]
            rows.append({"dataset": name, "model": k, "Harrell C (5-fold mean)": f"{np.mean(cs[k]):.3f}",
                         "Uno C (fold 1)": f"{f.uno_c:.3f}", "mean td-AUC (fold 1)": f"{f.mean_td_auc:.3f}",
                         "IBS (fold 1)": f"{f.ibs:.3f}"})
            out[f"{name}/{k}"] = {"harrell_c_folds": cs[k], **f.as_dict()}
        s.figure(km, f"{name}: observed survival by tertile of predicted risk (Cox PH, fold 1 test patients)")
    s.table(rows, caption="Survival models, same folds for every model")
    return out


def _icu(rep: Report, plots: Path, seed: int, data_dir: Path | None) -> dict[str, Any]:
    from medkit.clinical.icu import ICUMortalityModel
    from medkit.clinical.inputs import load_registered
    from medkit.clinical.report import cleaning_section

    a = load_registered("physionet2012-a", data_dir=data_dir, limit=N_ICU_TRAIN)
    b = load_registered("physionet2012-b", data_dir=data_dir, limit=N_ICU_TEST)
    assert a.y is not None and b.y is not None
    preds, evals, secs = {}, {}, {}
    for kind in ("logistic", "gbm"):
        t0 = time.perf_counter()
        m = ICUMortalityModel(kind, "basic", seed, gbm_iter=150).fit(a.X)  # type: ignore[arg-type]
        preds[kind] = m.predict_proba(b.X)[:, 1]
        secs[kind] = time.perf_counter() - t0
        evals[kind] = evaluate_binary(b.y, preds[kind], n_boot=300, seed=seed)
    figs = binary_plots({k: (b.y, p) for k, p in preds.items()}, evals, plots, "physionet")
    s = rep.section("ICU in-hospital mortality: PhysioNet 2012 (small subset)")
    s.text(f"Trained on the first {len(a.ids)} stays of set A, tested on the first {len(b.ids)} stays of set B "
           f"({int(b.y.sum())} deaths), summary features of the first 48 h. A fast configuration: the benchmark "
           "trains on all 4,000 stays of A and adds the MLP, GRU-D and the ensemble.")
    s.table(metrics_table(evals))
    s.figure(figs["roc"], "ROC on set B subset")
    s.figure(figs["calibration"], "Calibration on set B subset")
    s.figure(figs["decision"], "Decision curve on set B subset")
    cleaning_section(rep, [a, b])
    return {k: {**e.as_dict(), "seconds": secs[k]} for k, e in evals.items()}


def _serving_bundle(run: RunDir, seed: int) -> Path:
    from medkit.clinical.workflow import ClinicalConfig, train

    cfg = ClinicalConfig(dataset="wdbc", model="logistic", seed=seed, n_boot=200, runs_dir=run.path / "runs",
                         name="clinical-wdbc-demo")
    return train(cfg, run.path / "bundle").bundle


def run_demo(out_dir: Path, *, seed: int = 0, data_dir: Path | None = None) -> DemoResult:
    """Run the fast clinical tour; returns where the report is and the headline numbers."""
    seed_everything(seed)
    run = RunDir.create("clinical-demo", out_dir)
    run.save_config({"seed": seed, "icu_train": N_ICU_TRAIN, "icu_test": N_ICU_TEST}, seed=seed)
    plots = run.sub("plots")
    rep = Report("Clinical workflows: diagnosis, survival, ICU mortality", subtitle="medkit demo (fast settings)",
                 meta={"run": run.path.name, "seed": str(seed)})
    metrics: dict[str, Any] = {"wdbc": _wdbc(rep, plots, seed), "survival": _survival(rep, plots, seed)}
    note = ""
    try:
        metrics["physionet"] = _icu(rep, plots, seed, data_dir)
    except DataError as exc:
        note = f"PhysioNet part skipped: {exc.what}"
        rep.section("ICU in-hospital mortality: PhysioNet 2012").text(note + f". {exc.fix or ''}")
    # the "apply" step: a bundle `medkit serve --models-from` registers, so the demo's web UI has a risk model
    bundle = _serving_bundle(run, seed)
    rep.section("Apply: a model bundle for `medkit serve`").text(
        f"WDBC logistic regression trained through `medkit clinical train` (quality gate, hold-out report, model "
        f"card) and written to {bundle.relative_to(run.path)}; `medkit serve --dev --models-from <demo dir>` "
        "serves it with the other pillars' demo models.")
    run.save_metrics(metrics)
    rep.write(run.path / "report.html")
    w = metrics["wdbc"]["logistic"]["auroc"]
    summary = f"WDBC logistic AUROC {w['value']:.3f} (95% CI {w['ci_low']:.3f}-{w['ci_high']:.3f}); "
    summary += "; ".join(f"{k.split('/')[0]} Cox C {np.mean(v['harrell_c_folds']):.3f}"
                         for k, v in metrics["survival"].items() if k.endswith("/coxph"))
    if "physionet" in metrics:
        g = metrics["physionet"]["gbm"]["auroc"]
        summary += f"; PhysioNet subset GBM AUROC {g['value']:.3f} on set B"
    else:
        summary += f". {note}"
    return DemoResult(title="Clinical: diagnosis (WDBC), survival (3 sets), ICU mortality (PhysioNet 2012)",
                      report=run.path / "report.html", summary=summary, run_dir=run.path, extra={"note": note})
