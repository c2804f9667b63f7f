"""Clinical benchmark: PhysioNet 2012 (train A, test B), survival (5-fold CV) and WDBC, side by side.

``python benchmarks/run.py clinical``. Reduced settings with ``MEDKIT_BENCH_FAST=1`` (fewer
boosting iterations and epochs, noted in every affected row). Parts: ``MEDKIT_BENCH_PARTS`` =
comma list of ``wdbc,survival,physionet`` (default all).

Anchors: scikit-survival's RandomSurvivalForest / CoxPHSurvivalAnalysis run in the same folds
(``sksurv-rsf``, ``sksurv-coxph``); for PhysioNet the SAPS-I score shipped in the outcomes
files and the issue's reference numbers (GBM on summaries 0.859, logistic 0.852).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from _common import Row, write_results

FAST = os.environ.get("MEDKIT_BENCH_FAST") == "1"
SEED = 0
N_BOOT = 200 if FAST else 1000


def _binary_rows(task: str, dataset: str, split: str, model: str, y: np.ndarray, p: np.ndarray, seconds: float,
                 anchor: str | None = None, anchor_value: float | None = None, note: str = "") -> list[Row]:
    from medkit.clinical.evaluate import evaluate_binary

    ev = evaluate_binary(y, p, n_boot=N_BOOT, seed=SEED)
    rows = []
    for metric in ("auroc", "auprc", "brier"):
        m = ev.metrics[metric]
        rows.append(Row(task, dataset, split, model, metric, m.value, m.ci_low, m.ci_high, seconds,
                        anchor if metric == "auroc" else None, anchor_value if metric == "auroc" else None, note))
    rows.append(Row(task, dataset, split, model, "calibration_slope", ev.calibration.slope, None, None, seconds,
                    None, None, note))
    return rows


def wdbc_rows() -> list[Row]:
    from sklearn.base import clone

    from medkit.clinical.estimators import MLPClassifier, make_gbm, make_logistic
    from medkit.data import load_dataset
    from medkit.data.splits import kfold

    ds = load_dataset("wdbc")
    X, y = ds.X, np.asarray(ds.y)
    models: dict[str, Any] = {"logistic": make_logistic(C=1.0), "gbm": make_gbm(max_iter=200),
                              "mlp": MLPClassifier(max_epochs=40 if FAST else 100)}
    rows = []
    split = "5-fold stratified CV, seed 0, pooled out-of-fold"
    for name, m in models.items():
        oof = np.zeros(len(y))
        t0 = time.perf_counter()
        for s in kfold(len(y), 5, seed=SEED, y=y):
            oof[s.test] = clone(m).fit(X.iloc[s.train], y[s.train]).predict_proba(X.iloc[s.test])[:, 1]
        rows += _binary_rows("diagnosis", "wdbc", split, name, y, oof, time.perf_counter() - t0,
                             note="fit+predict seconds over 5 folds; target AUROC >= 0.99")
    return rows


def survival_rows() -> list[Row]:
    from scipy.stats import rankdata
    from sklearn.model_selection import KFold
    from sksurv.ensemble import RandomSurvivalForest
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    from medkit.clinical.survival import RSF, CoxPH, DeepSurv, _Encoder, make_surv_y
    from medkit.clinical.survival_metrics import eval_times, harrell_c, integrated_brier_score
    from medkit.data import load_dataset

    rows = []
    n_trees = 100 if FAST else 300
    for name in ("veteran", "whas500", "gbsg2"):
        ds = load_dataset(name)
        X, t, e = ds.X.reset_index(drop=True), ds.extra["time"], ds.extra["event"]
        y = make_surv_y(t, e)
        c: dict[str, list[float]] = {}
        ibs: dict[str, list[float]] = {}
        secs: dict[str, float] = {}
        for tr, te in KFold(5, shuffle=True, random_state=SEED).split(X):
            times = eval_times(t[tr], t[te])
            enc = _Encoder().fit(X.iloc[tr])
            Ztr, Zte = enc.transform(X.iloc[tr]), enc.transform(X.iloc[te])
            risks = {}
            models: dict[str, Any] = {
                "sksurv-coxph": CoxPHSurvivalAnalysis(),
                "sksurv-rsf": RandomSurvivalForest(n_estimators=n_trees, min_samples_leaf=10, max_features="sqrt",
                                                   random_state=SEED),
                "coxph": CoxPH(),
                "rsf": RSF(n_estimators=n_trees, seed=SEED),
                "deepsurv": DeepSurv(max_epochs=150 if FAST else 300, seed=SEED),
            }
            for k, m in models.items():
                t0 = time.perf_counter()
                if k.startswith("sksurv"):  # the anchor sees the same one-hot/standardised matrix as medkit
                    m.fit(Ztr, y[tr])
                    r = m.predict(Zte)
                    S = np.vstack([f(np.clip(times, f.x[0], f.x[-1])) for f in m.predict_survival_function(Zte)])
                else:
                    m.fit(X.iloc[tr], y[tr])
                    r = m.predict(X.iloc[te])
                    S = m.predict_survival(X.iloc[te], times)
                secs[k] = secs.get(k, 0.0) + time.perf_counter() - t0
                risks[k] = r
                c.setdefault(k, []).append(harrell_c(t[te], e[te], r))
                ibs.setdefault(k, []).append(integrated_brier_score(t[tr], e[tr], t[te], e[te], S, times))
            # rank-average ensemble of medkit's three models (fixed equal weights: nothing tuned on test folds)
            ens = sum(rankdata(risks[k]) / len(te) for k in ("coxph", "rsf", "deepsurv"))
            c.setdefault("ensemble", []).append(harrell_c(t[te], e[te], ens))
        best_anchor = max(np.mean(c["sksurv-rsf"]), np.mean(c["sksurv-coxph"]))
        split = "KFold(5, shuffle, seed 0); mean over folds (CI = min-max over folds)"
        for k, vals in c.items():
            anchor = None if k.startswith("sksurv") else "max(sksurv-rsf, sksurv-coxph)"
            note = "rank average of coxph+rsf+deepsurv, equal weights" if k == "ensemble" else ""
            if FAST and k in {"rsf", "sksurv-rsf", "deepsurv"}:
                note = (note + "; " if note else "") + "MEDKIT_BENCH_FAST: fewer trees/epochs"
            rows.append(Row("survival", name, split, k, "c_index", float(np.mean(vals)), float(np.min(vals)),
                            float(np.max(vals)), secs.get(k), anchor, float(best_anchor) if anchor else None, note))
            if k in ibs:
                rows.append(Row("survival", name, split, k, "ibs", float(np.mean(ibs[k])), float(np.min(ibs[k])),
                                float(np.max(ibs[k])), secs.get(k), None, None, note))
    return rows


def physionet_rows(flush: Any = None) -> list[Row]:
    from medkit.clinical.icu import ICUMortalityModel
    from medkit.clinical.inputs import load_registered

    limit = int(os.environ.get("MEDKIT_BENCH_PN_LIMIT", "0")) or None
    a = load_registered("physionet2012-a", limit=limit)
    b = load_registered("physionet2012-b", limit=limit)
    assert a.y is not None and b.y is not None
    split = "train set A (4,000), test set B (4,000)" if limit is None else f"first {limit} of A -> first {limit} of B"
    fast = "MEDKIT_BENCH_FAST: " if FAST else ""
    rows = []
    saps = b.X.outcomes["SAPS-I"].to_numpy(dtype=float)  # type: ignore[union-attr]
    ok = saps >= 0  # -1 = not recorded
    from sklearn.metrics import roc_auc_score

    rows.append(Row("icu-mortality", "physionet2012", split + f" ({int(ok.sum())} with SAPS-I)", "saps-i", "auroc",
                    float(roc_auc_score(b.y[ok], saps[ok])), None, None, 0.0, "issue reference", 0.660,
                    "score from Outcomes-b.txt, no fitting"))
    configs: list[tuple[str, dict[str, Any], float | None, str]] = [
        ("logistic", {"kind": "logistic", "features": "basic"}, 0.852, "basic summaries"),
        ("gbm-basic", {"kind": "gbm", "features": "basic", "gbm_iter": 200 if FAST else 400}, 0.859,
         "min/max/mean/first/last/count + descriptors"),
        ("gbm", {"kind": "gbm", "features": "extended", "gbm_iter": 200 if FAST else 400}, 0.859,
         "extended features (std, first/last 12 h means, slope, recency, BMI)"),
        ("mlp", {"kind": "mlp", "features": "basic", "max_epochs": 25 if FAST else 60}, None, "basic summaries"),
        ("ensemble", {"kind": "ensemble", "features": "extended", "gbm_iter": 200 if FAST else 400,
                      "max_epochs": int(os.environ.get("MEDKIT_BENCH_GRUD_EPOCHS", "8" if FAST else "40"))},
         0.859, "logistic+gbm+GRU-D on 80% of A; logit weights and recalibration chosen on the other 20% of A"),
        ("ensemble-3seeds", {"kind": "ensemble", "features": "extended", "gbm_iter": 200 if FAST else 400,
                             "max_epochs": int(os.environ.get("MEDKIT_BENCH_GRUD_EPOCHS", "8" if FAST else "40")),
                             "n_bags": 3},
         0.859, "mean probability of 3 ensembles (seeds 0,1,2; each its own 80/20 split of A)"),
    ]
    only = os.environ.get("MEDKIT_BENCH_PN_MODELS")
    for name, kw, ref, note in configs:
        if only and name not in only.split(","):
            continue
        t0 = time.perf_counter()
        m = ICUMortalityModel(seed=SEED, **kw).fit(a.X)  # type: ignore[arg-type]
        fit_s = time.perf_counter() - t0
        p = m.predict_proba(b.X)[:, 1]  # type: ignore[arg-type]
        sec = time.perf_counter() - t0
        n = f"{fast}{note}; fit {fit_s:.0f} s"
        rows += _binary_rows("icu-mortality", "physionet2012", split, name, b.y, p, sec,
                             "issue reference" if ref else None, ref, n)
        if name == "ensemble":
            g = m.members_["grud"]
            pg = g.predict_proba(m._input(b.X, "grud"))[:, 1]  # type: ignore[arg-type]
            rows += _binary_rows("icu-mortality", "physionet2012", split, "grud", b.y, pg, sec, "GRU-D (Che 2018)",
                                 0.85, f"{fast}ensemble member trained on 80% of A, best epoch "
                                       f"{g.train_result_.best_epoch} of {len(g.train_result_.history)}; "
                                       "published GRU-D approx. 0.84-0.86")
            rows.append(Row("icu-mortality", "physionet2012", split, "ensemble", "weights", None, note=str(
                {k: round(v, 2) for k, v in m.weights_.items()}) + f", val AUROC on 20% of A {m.val_auroc_:.3f}"))
        if flush is not None:  # keep finished rows if a long run is cut off
            flush(rows)
    return rows


def main(argv: list[str] | None = None) -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("MEDKIT_BENCH_THREADS", "2")))
    parts = os.environ.get("MEDKIT_BENCH_PARTS", "wdbc,survival,physionet").split(",")
    rows: list[Row] = []
    notes = []
    if FAST:
        notes.append("Run with MEDKIT_BENCH_FAST=1 (reduced iterations/epochs); see each row's note.")

    merge = os.environ.get("MEDKIT_BENCH_MERGE") == "1"  # keep rows of models not re-run this time

    def flush(extra: list[Row] | None = None) -> None:
        new = rows + (extra or [])
        if merge:
            import json

            from _common import RESULTS

            done = {(r.dataset, r.model) for r in new}
            old = json.loads((RESULTS / "clinical.json").read_text())["rows"] if (RESULTS / "clinical.json").exists() \
                else []
            new = [Row(**r) for r in old if (r["dataset"], r["model"]) not in done] + new
        write_results("clinical", new, " ".join(notes))

    if "wdbc" in parts:
        rows += wdbc_rows()
        flush()
    if "survival" in parts:
        rows += survival_rows()
        flush()
    if "physionet" in parts:
        from medkit.core.errors import DataError

        try:
            rows += physionet_rows(flush)
        except DataError as exc:
            notes.append(f"PhysioNet part skipped: {exc}")
    flush()


if __name__ == "__main__":
    main()
