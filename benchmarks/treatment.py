"""Treatment benchmark: medkit CF vs scikit-surprise on GDSC2 (same folds), hybrid cold start, ACTG 175 policies.

Rows (STYLE.md shape): datasets ``gdsc2`` (held-out entries, surprise.model_selection.KFold(5, random_state=0,
shuffle=True)), ``gdsc2-cold`` (held-out cell lines, 5-fold GroupKFold) and ``actg175`` (5-fold stratified CV,
DR/IPW policy values of CD4 at 20 weeks with 95% bootstrap CIs). Anchors run in the same process on the same
folds: ``surprise-knn-basic`` (user-based; ``-item`` for item-based), ``surprise-knn-means``, ``surprise-svd``,
``drug-mean``, ``econml-causal-forest``. ``gbsg2``: the conservative rule on a second real table through
the generic table path (hormone therapy → recurrence-free at 3 years, observational, cross-fitted propensity).

``MEDKIT_BENCH_FAST=1``: the first 2 of the 5 GDSC2 folds, hybrid 5 epochs, 300 bootstrap resamples, 30-epoch
TARNet (noted in every affected row). Everything runs single-threaded (threadpoolctl) so speed ratios compare
like with like.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, write_results  # noqa: E402

FAST = os.environ.get("MEDKIT_BENCH_FAST") == "1"
DATA = Path(os.environ.get("MEDKIT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _surprise_folds(X: np.ndarray, y: np.ndarray) -> tuple[Any, list[tuple[Any, Any, np.ndarray, np.ndarray]]]:
    import pandas as pd
    from surprise import Dataset, Reader
    from surprise.model_selection import KFold

    df = pd.DataFrame({"u": X[:, 0], "i": X[:, 1], "r": y})
    reader = Reader(rating_scale=(float(y.min()), float(y.max())))
    data = Dataset.load_from_df(df, reader)
    folds = []
    for tr, te in KFold(5, random_state=0, shuffle=True).split(data):
        Xtr = np.array([(tr.to_raw_uid(u), tr.to_raw_iid(i)) for u, i, _ in tr.all_ratings()], dtype=np.int64)
        ytr = np.array([r for *_, r in tr.all_ratings()])
        Xte = np.array([(u, i) for u, i, _ in te], dtype=np.int64)
        folds.append((tr, te, Xtr, ytr, Xte))
    return reader, folds


def _scores(Xte: np.ndarray, yte: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from medkit.treatment.cf_eval import ranking_metrics

    err = pred - yte
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "ndcg@10": ranking_metrics(Xte[:, 0], yte, pred, k=10, higher_is_better=False)["ndcg@10"]}


def _agg(vals: list[dict[str, float]]) -> dict[str, tuple[float, float, float]]:
    out = {}
    for k in vals[0]:
        a = np.array([v[k] for v in vals])
        se = a.std(ddof=1) / np.sqrt(len(a)) if len(a) > 1 else float("nan")
        out[k] = (float(a.mean()), float(a.mean() - 1.96 * se), float(a.mean() + 1.96 * se))
    return out


def bench_gdsc(rows: list[Row]) -> None:
    import surprise

    from medkit.data import load_dataset
    from medkit.treatment.cf_eval import treatment_mean
    from medkit.treatment.features import cell_line_features, gdsc2_long, morgan_fingerprints
    from medkit.treatment.hybrid import HybridNCF
    from medkit.treatment.knn import KNNRegressor
    from medkit.treatment.mf import ALSMF, BiasedMF

    ds = load_dataset("gdsc2", data_dir=DATA)
    X, y = gdsc2_long(ds.data["response"])
    Fe = cell_line_features(ds.data["mutations"], ds.data["cell_lines"])
    Ft = morgan_fingerprints(list(ds.data["smiles"]))
    reader, folds = _surprise_folds(X, y)
    folds = folds[:2] if FAST else folds
    scale = reader.rating_scale
    n_f = len(folds)
    split = f"surprise KFold(5, seed 0), {n_f} of 5 folds" if FAST else "surprise KFold(5, seed 0), 5 folds"
    epochs = 5 if FAST else 10
    pairs: list[tuple[str, Any, str, Any]] = [
        ("user-knn", KNNRegressor(k=40, min_k=1, rating_scale=scale), "surprise-knn-basic",
         lambda: surprise.KNNBasic(k=40, min_k=1, sim_options={"name": "pearson", "user_based": True}, verbose=False)),
        ("item-knn", KNNRegressor(k=40, min_k=1, user_based=False, rating_scale=scale), "surprise-knn-basic-item",
         lambda: surprise.KNNBasic(k=40, min_k=1, sim_options={"name": "pearson", "user_based": False}, verbose=False)),
        ("knn-means", KNNRegressor(k=40, min_k=1, centering="mean", rating_scale=scale), "surprise-knn-means",
         lambda: surprise.KNNWithMeans(k=40, min_k=1, sim_options={"name": "pearson", "user_based": True},
                                       verbose=False)),
        ("mf", ALSMF(rating_scale=scale), "surprise-svd", lambda: surprise.SVD(random_state=0)),
        ("mf-sgd", BiasedMF(rating_scale=scale), "surprise-svd", None),
        ("hybrid", HybridNCF(max_epochs=epochs, rating_scale=scale), "surprise-svd", None),
        ("drug-mean", treatment_mean, "", None),
    ]
    res: dict[str, list[dict[str, float]]] = {}
    for f, (tr, te, Xtr, ytr, Xte) in enumerate(folds):
        yte = np.array([r for *_, r in te])
        for name, est, anchor, make_anchor in pairs:
            t0 = time.perf_counter()
            if name == "drug-mean":
                pred = est(Xtr, ytr, Xte)
            elif name == "hybrid":
                pred = est.fit(Xtr, ytr, Fe, Ft).predict(Xte)
            else:
                pred = est.fit(Xtr, ytr).predict(Xte)
            res.setdefault(name, []).append({**_scores(Xte, yte, pred), "fit_predict_s": time.perf_counter() - t0})
            if make_anchor is not None:
                t0 = time.perf_counter()
                est_s = np.array([p.est for p in make_anchor().fit(tr).test(te)])
                res.setdefault(anchor, []).append({**_scores(Xte, yte, est_s),
                                                   "fit_predict_s": time.perf_counter() - t0})
            print(f"gdsc2 fold {f}: {name} done", flush=True)
    summ = {k: _agg(v) for k, v in res.items()}
    anchor_of = {name: anchor for name, _, anchor, _ in pairs}
    for name, s in summ.items():
        for metric, (v, lo, hi) in s.items():
            anchor = anchor_of.get(name) or None
            av = summ[anchor][metric][0] if anchor and anchor in summ else None
            note = "FAST: reduced folds" if FAST else ""
            if metric == "fit_predict_s":
                note += f" mean seconds per fold, single thread{'' if av is None else f'; speed-up {av / v:.1f}x'}"
            if name == "hybrid":
                note += (f"; equal-weight mean of the network ({epochs} epochs, ALS-initialised, mutation+lineage and "
                         "Morgan FP towers) with ALS, per-drug-scaled ALS (3 seeds each) and soft-impute")
            if name == "mf":
                note += "; ALSMF 50 factors, 12 sweeps, warm-started batched CG (3 steps per side)"
            if name == "surprise-knn-basic-item":
                note += " item_based=True"
            rows.append(Row("cf", "gdsc2", split, name, metric, v, lo, hi, None if metric != "fit_predict_s" else v,
                            anchor if name in anchor_of else None, av, note.strip("; ")))
    bench_cold(rows, X, y, Fe, Ft, epochs)


def bench_cold(rows: list[Row], X: np.ndarray, y: np.ndarray, Fe: np.ndarray, Ft: np.ndarray, epochs: int) -> None:
    from medkit.treatment.cf_eval import cf_folds, treatment_mean
    from medkit.treatment.hybrid import HybridNCF
    from medkit.treatment.knn import KNNRegressor

    folds = cf_folds(X, "entities", 5, 1, 0)
    folds = folds[:2] if FAST else folds
    res: dict[str, list[dict[str, float]]] = {}
    for f, (tr, te) in enumerate(folds):
        for name in ("hybrid", "user-knn", "drug-mean"):
            t0 = time.perf_counter()
            if name == "hybrid":
                pred = HybridNCF(max_epochs=epochs).fit(X[tr], y[tr], Fe, Ft).predict(X[te])
            elif name == "user-knn":
                pred = KNNRegressor(k=40).fit(X[tr], y[tr], entity_features=Fe).predict(X[te])
            else:
                pred = treatment_mean(X[tr], y[tr], X[te])
            res.setdefault(name, []).append({**_scores(X[te], y[te], pred), "fit_predict_s": time.perf_counter() - t0})
            print(f"gdsc2-cold fold {f}: {name} done", flush=True)
    split = f"GroupKFold over cell lines, {len(folds)} of 5 folds"
    summ = {k: _agg(v) for k, v in res.items()}
    for name, s in summ.items():
        for metric, (v, lo, hi) in s.items():
            note = "FAST: reduced folds; " if FAST else ""
            note += {"hybrid": "covariate towers only (no ID embedding for held-out lines)",
                     "user-knn": "cold-start fallback: cosine of mutation+lineage profiles, k=20 lines",
                     "drug-mean": "anchor: each drug's mean training ln(IC50)"}[name]
            rows.append(Row("cf-cold-start", "gdsc2-cold", split, name, metric, v, lo, hi,
                            v if metric == "fit_predict_s" else None,
                            None if name == "drug-mean" else "drug-mean", None if name == "drug-mean" else
                            summ["drug-mean"][metric][0], note))


def bench_actg(rows: list[Row]) -> None:
    from medkit.data import load_dataset
    from medkit.treatment.effects_eval import evaluate_policies
    from medkit.treatment.features import ACTG_COVARIATES
    from medkit.treatment.learners import CausalForestLearner, DRLearner, SLearner, TLearner, XLearner
    from medkit.treatment.neural import TARNetLearner
    from medkit.treatment.policy import ConservativePolicy

    df = load_dataset("actg175").data
    X, a, y = df[ACTG_COVARIATES], df["arms"].to_numpy(), df["cd420"].to_numpy(float)
    ep = 30 if FAST else 100
    learners = {"s-learner": SLearner(), "t-learner": TLearner(), "x-learner": XLearner(), "dr-learner": DRLearner(),
                "tarnet": TARNetLearner(max_epochs=ep), "dragonnet": TARNetLearner(max_epochs=ep, propensity_weight=1.0),
                "econml-causal-forest": CausalForestLearner(n_estimators=200)}
    n_boot = 300 if FAST else 2000
    ev = evaluate_policies(X, a, y, learners, policy=ConservativePolicy(), n_splits=5, seed=0, n_boot=n_boot)
    best = {v.name: v for v in ev.values}["best-single-arm"]
    split = "5-fold stratified CV, pooled held-out patients"
    for v in ev.values:
        d = ev.vs_best.get(v.name)
        for metric, val, ci in (("policy_value_dr", v.dr, v.dr_ci), ("policy_value_ipw", v.ipw, v.ipw_ci)):
            note = f"{n_boot} bootstrap resamples" + ("; FAST" if FAST else "")
            if d is not None:
                dv, dci = (d.dr, d.dr_ci) if metric.endswith("dr") else (d.ipw, d.ipw_ci)
                note += f"; vs best single arm {dv:+.1f} (95% CI {dci[0]:+.1f} to {dci[1]:+.1f})"
            if v.name == "conservative-policy":
                note += f"; switched {ev.switched:.1%} of patients off the best arm"
            if v.name in ("tarnet", "dragonnet"):
                note += f"; {ep} max epochs"
            rows.append(Row("treatment-effect", "actg175", split, v.name, metric, val, ci[0], ci[1],
                            ev.seconds.get(v.name), "best-single-arm" if v.name != "best-single-arm" else None,
                            (best.dr if metric.endswith("dr") else best.ipw) if v.name != "best-single-arm" else None,
                            note))
        if v.name in ev.seconds and v.name != "best-single-arm":
            rows.append(Row("treatment-effect", "actg175", split, v.name, "fit_predict_s", ev.seconds[v.name],
                            seconds=ev.seconds[v.name], note="total over 5 folds, single thread"))


def bench_gbsg2(rows: list[Row]) -> None:
    """The conservative rule on a second real table (GBSG2 hormone therapy, observational) via the table path."""
    from medkit.data import load_dataset
    from medkit.treatment.features import gbsg2_treatment_table
    from medkit.treatment.table import TreatmentTable
    from medkit.treatment.table_eval import evaluate_table

    table, dropped = gbsg2_treatment_table(load_dataset("gbsg2").data)
    spec = TreatmentTable(treatment="horTh", outcome="rfs", arm_labels=["no", "yes"], design="observational")
    n_boot = 300 if FAST else 2000
    t0 = time.perf_counter()
    ev = evaluate_table(table, spec, n_splits=5, n_boot=n_boot, seed=0)
    secs = time.perf_counter() - t0
    best = {v.name: v for v in ev.values}["best-single-arm"]
    split = f"5-fold stratified CV, pooled held-out patients ({ev.n} of 686; {dropped} censored before 3 y dropped)"
    for v in ev.values:
        d = ev.vs_best.get(v.name)
        for metric, val, ci in (("policy_value_dr", v.dr, v.dr_ci), ("policy_value_ipw", v.ipw, v.ipw_ci)):
            note = (f"outcome: recurrence-free at 3 years (share); observational, cross-fitted logistic propensity "
                    f"{ev.propensity_range[0]:.2f}-{ev.propensity_range[1]:.2f}, {ev.n_clipped} clipped; "
                    f"{n_boot} bootstrap resamples" + ("; FAST" if FAST else ""))
            if d is not None:
                dv, dci = (d.dr, d.dr_ci) if metric.endswith("dr") else (d.ipw, d.ipw_ci)
                note += f"; vs best single arm {dv:+.3f} (95% CI {dci[0]:+.3f} to {dci[1]:+.3f})"
            if v.name == "conservative-policy":
                note += f"; switched {ev.switched:.1%} of patients off the best arm"
            rows.append(Row("treatment-effect", "gbsg2", split, v.name, metric, val, ci[0], ci[1],
                            secs if v.name == "conservative-policy" else None,
                            "best-single-arm" if v.name != "best-single-arm" else None,
                            (best.dr if metric.endswith("dr") else best.ipw) if v.name != "best-single-arm" else None,
                            note))


def main(argv: list[str] | None = None) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    rows: list[Row] = []
    with threadpool_limits(1):
        bench_actg(rows)
        bench_gbsg2(rows)
        bench_gdsc(rows)
    notes = ("Shared 2-core machine under heavy load from other jobs: seconds are noisy, ratios were measured "
             "in the same process on the same folds." + (" FAST mode (reduced folds/epochs)." if FAST else ""))
    write_results("treatment", rows, notes)


if __name__ == "__main__":
    main(sys.argv[1:])
