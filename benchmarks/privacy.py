"""Privacy benchmark: text de-identification (PhysioNet deid) and DP / federated utility (PhysioNet 2012).

Part 1, dataset ``deid``, evaluated once on the held-out patients: ``medkit`` (rules + CRF OR fine-tuned
MiniLM-L6 + context rules + propagation), ``medkit-crf`` (the previous pipeline, no MiniLM), ``medkit-minilm``
(no CRF) and Presidio's pattern recognisers (no spaCy model can run offline here); span-level recall /
precision / F1 and token-level scores with patient-bootstrap 95% CIs, per-type rows, a trade-off curve.
``MEDKIT_DEID_MINILM_CACHE=<file>`` reuses a MiniLM fine-tuned on the same training patients.

Part 2, dataset ``physionet2012``: the same MLP on summary features, trained on set A and tested on set B
(AUROC, bootstrap 95% CI): ``pooled`` (all of set A), ``local`` (one model per ICU type, each scoring its own
ICU type in set B), ``federated`` (Flower FedAvg across the 4 ICU types, one process each),
``federated-fedprox``, ``federated-secagg`` (FedAvg with pairwise-masked secure aggregation, same seeds), DP-SGD
at epsilon 1 / 3 / 8 (delta 1e-5) and ``federated-dp-z*`` (site-level DP on client updates; part ``feddp``
runs alone: ``benchmarks/run.py privacy feddp``).

``MEDKIT_BENCH_FAST=1`` (or ``--fast``) runs reduced settings; every row then says so in its note.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, write_results  # noqa: E402

PUBLISHED = {"recall": 0.967, "precision": 0.749}
# MiniLM fine-tune: an epoch budget (session 3's settings: 4 epochs, best epoch by validation word-piece AP), so
# the result does not depend on machine load; the wall-clock cap is a safety net only, reported when it is hit
MINILM_FULL = {"epochs": 4, "lr": 8e-5, "negative_fraction": 0.5, "max_seconds": 4 * 3600.0}
MINILM_FAST = {"epochs": 1, "negative_fraction": 0.2, "max_seconds": 300.0}
PUB_NOTE = "anchor_value: published deid software on the whole corpus (Neamatullah 2008, BMC MIDM 8:32)"


def _patient_bootstrap(per_patient: list[tuple[int, int, int, int]], n_boot: int = 1000, seed: int = 0
                       ) -> dict[str, tuple[float, float]]:
    """95% CIs of recall/precision/F1 resampling patients; rows are (found, n_gold, tp_pred, n_pred)."""
    a = np.array(per_patient, dtype=float)
    rng = np.random.default_rng(seed)
    rec, pre, f1 = [], [], []
    for _ in range(n_boot):
        s = a[rng.integers(0, len(a), len(a))].sum(axis=0)
        r, p = s[0] / max(s[1], 1), s[2] / max(s[3], 1)
        rec.append(r)
        pre.append(p)
        f1.append(2 * r * p / (r + p) if r + p else 0.0)
    return {k: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5)))
            for k, v in (("recall", rec), ("precision", pre), ("f1", f1))}


def _deid_rows(rows: list[Row], name: str, split_desc: str, texts: list[str], gold: list, pred: list,
               patients: object, secs: float | None, n: str) -> object:
    """Span/token recall, precision, F1 with patient-bootstrap CIs, per-type rows, for one model."""
    import pandas as pd

    from medkit.privacy.text_eval import score_detection

    scores = score_detection(texts, gold, pred)
    by_patient = [score_detection([texts[i] for i in idx], [gold[i] for i in idx], [pred[i] for i in idx])
                  for _, idx in pd.Series(range(len(texts))).groupby(patients)]
    ci = _patient_bootstrap([b.counts for b in by_patient])
    tok_ci = _patient_bootstrap([b.token_counts for b in by_patient])
    type_ci, type_tok_ci = {}, {}
    for typ in scores.per_type:
        per = [b.per_type.get(typ, {}) for b in by_patient]
        type_ci[typ] = _patient_bootstrap([(int(d.get("found", 0)), int(d.get("n_gold", 0)),
                                            int(d.get("tp_pred", 0)), int(d.get("n_pred", 0))) for d in per])
        type_tok_ci[typ] = _patient_bootstrap([(int(d.get("tok_found", 0)), int(d.get("tok_gold", 0)),
                                                int(d.get("tok_tp", 0)), int(d.get("tok_pred", 0))) for d in per])
    for metric in ("recall", "precision", "f1"):
        rows.append(Row("deid", "deid", split_desc, name, metric, getattr(scores, metric), *ci[metric], secs,
                        anchor="deid (Neamatullah 2008)", anchor_value=PUBLISHED.get(metric),
                        note="; ".join(x for x in (n, PUB_NOTE if metric in PUBLISHED else "") if x)))
    for metric, attr, what in (("recall_strict", "recall_strict", "gold PHI fully masked AND every masking span of "
                                "the same Safe Harbor category (name/date/address...)"),
                               ("recall_overlap", "recall_overlap", "gold PHI with at least one masked character")):
        cnt = [(round(getattr(b, attr) * b.n_gold), b.n_gold, 0, 0) for b in by_patient]
        rows.append(Row("deid", "deid", split_desc, name, metric, getattr(scores, attr),
                        *_patient_bootstrap(cnt)["recall"], note="; ".join(x for x in (what, n) if x)))
    rows.append(Row("deid", "deid", split_desc, name, "token_recall", scores.token_recall, *tok_ci["recall"], note=n))
    rows.append(Row("deid", "deid", split_desc, name, "token_precision", scores.token_precision,
                    *tok_ci["precision"], note=n))
    for typ, d in scores.per_type.items():
        if d["n_gold"] > 0:
            rows.append(Row("deid", "deid", split_desc, name, f"recall:{typ}", d["recall"], *type_ci[typ]["recall"],
                            note=f"n_gold={int(d['n_gold'])}" + (f"; {n}" if n else "")))
        if d["n_pred"] > 0:
            rows.append(Row("deid", "deid", split_desc, name, f"precision:{typ}", d["precision"],
                            *type_ci[typ]["precision"], note=f"n_pred={int(d['n_pred'])} (by predicted type)"
                            + (f"; {n}" if n else "")))
    for typ, d in scores.per_type.items():
        for metric, denom in (("token_recall", "tok_gold"), ("token_precision", "tok_pred")):
            if d[denom] > 0:
                rows.append(Row("deid", "deid", split_desc, name, f"{metric}:{typ}", d[metric],
                                *type_tok_ci[typ][metric.split("_")[1]],
                                note=f"{denom}={int(d[denom])}" + (f"; {n}" if n else "")))
    print(f"{name}: recall {scores.recall:.3f} {ci['recall']} precision {scores.precision:.3f} {ci['precision']} "
          f"f1 {scores.f1:.3f}")
    return scores


def bench_deid(fast: bool, rows: list[Row]) -> None:
    """medkit (CRF + MiniLM union), medkit-crf, medkit-minilm and Presidio on the held-out patients, once."""
    from medkit.data.registry import load_dataset
    from medkit.privacy.hybrid_workflow import OFF, hybrid_tuning
    from medkit.privacy.presidio_baseline import PresidioPatterns
    from medkit.privacy.text_deid import spans_by_note
    from medkit.privacy.text_eval import score_detection
    from medkit.privacy.text_workflow import corpus_split

    neural_params = MINILM_FAST if fast else MINILM_FULL
    cache = os.environ.get("MEDKIT_DEID_MINILM_CACHE")
    note = ("reduced: CRF 60 iterations, 2-fold CV, MiniLM 1 epoch on 20% of PHI-free windows" if fast else "")
    if cache and Path(cache).is_file():  # the fine-tune is the slow part; say when it was not timed here
        note = "; ".join(x for x in (note, "seconds = CRF CV + refit + prediction: the MiniLM fine-tune was "
                                     "loaded from MEDKIT_DEID_MINILM_CACHE (same split seed and settings)") if x)
    t0 = time.perf_counter()
    kw = {"max_iterations": 60 if fast else 150, "cv_folds": 2 if fast else 3, "min_precision": 0.80,
          "neural_params": neural_params, "neural_cache": cache}
    # the headline (CRF with word classes) and, side by side, the same pipeline without them (session 5's
    # system), tuned in two processes at once (one core each)
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        other = pool.submit(hybrid_tuning, None, seed=0, word_clusters=False, **kw)
        tun = hybrid_tuning(None, seed=0, word_clusters=True, **kw)
        base = other.result()
    fit_s = time.perf_counter() - t0
    model, info = tun.model, tun.info
    ds = load_dataset("deid-physionet")
    notes = ds.data
    gold = spans_by_note(notes, ds.extra["spans"])
    split = corpus_split(notes["patient"].to_numpy(), seed=0)
    test = notes.iloc[split.test].reset_index(drop=True)
    gtest = [gold[i] for i in split.test]
    texts = [str(t) for t in test["text"]]
    split_desc = f"held-out patients ({test['patient'].nunique()} patients, {len(test)} notes)"
    hist = info["neural"]
    neural_note = (f"MiniLM-L6 fine-tuned on the training patients ({hist['n_train_windows']} windows of 128 word "
                   f"pieces), {hist.get('epochs_run', '?')} of {hist['settings']['epochs']} epochs run "
                   f"({hist['seconds']:.0f} s, 1 thread), best epoch {hist['best_epoch']} by validation word-piece AP"
                   + (f"; WALL-CLOCK SAFETY CAP ({hist['settings']['max_seconds']:g} s) HIT: under-trained"
                      if hist.get("out_of_time") else ""))
    t1 = time.perf_counter()
    cands = [model._note_candidates(t, str(p)) for p, t in zip(test["patient"], texts, strict=True)]
    pred_s = time.perf_counter() - t1
    points = model.operating_points_
    s3 = tuple(info["session3_pair"])
    model.recall_rules = False
    pred = model._finalise(test, cands, *s3)
    model.recall_rules = True
    _deid_rows(rows, "medkit-s3", split_desc, texts, gtest, pred, test["patient"], fit_s + pred_s,
               f"session-3 system re-run side by side (same CRF and MiniLM): no recall rules, CRF P >= {s3[0]:g} OR "
               f"MiniLM P >= {s3[1]:g}, the most precise pair reaching validation recall 0.99 at precision >= 0.80")
    pooled = info.get("pooled") or {}
    vp = tuple(points["crf+minilm-valpair"])
    for name, (tc, tn), desc in (
            ("medkit", points["crf+minilm"], f"rules + CRF with word classes (k-means of pretrained MiniLM word "
             f"embeddings, fitted on dictionaries and MiniLM's vocabulary, no notes) (P >= {points['crf+minilm'][0]:g}) "
             f"OR MiniLM "
             f"(P >= {points['crf+minilm'][1]:g}) + context rules + recall rules (dictionary places, dates in "
             "date context, name continuation, split spans) + propagation; thresholds by session 5's rule, "
             "unchanged and declared before this run: the most recall at precision >= 0.85 (ties: precision) pooled over all "
             "122 tuning patients, each out of sample (25 validation patients: union, CRF out-of-fold; 97 training "
             "patients: out-of-fold CRF alone, MiniLM off as it trained on them): tuning "
             f"{pooled.get('recall', float('nan')):.3f} / {pooled.get('precision', float('nan')):.3f}; "
             f"{neural_note}"),
            ("medkit-valpair", vp, f"as medkit but thresholds by session 4's rule: the most validation recall at "
             f"validation precision >= 0.85 on the 25 validation patients only: CRF {vp[0]:g}, MiniLM {vp[1]:g} "
             "(side by side, not a selection)"),
            ("medkit-crf", points["crf"], f"rules + CRF (P >= {points['crf'][0]:g}, chosen by "
             "3-fold patient-wise CV on the tuning patients: largest reaching recall 0.99 at precision >= 0.80, else the "
             "most recall at precision >= 0.80) + context and recall rules + propagation, no MiniLM"),
            ("medkit-minilm", points["minilm"], f"rules + MiniLM (P >= {points['minilm'][1]:g}, chosen on the "
             f"validation patients as the union's) + context and recall rules + propagation, no CRF; {neural_note}")):
        pred = model._finalise(test, cands, tc, tn)
        sc = _deid_rows(rows, name, split_desc, texts, gtest, pred, test["patient"], fit_s + pred_s,
                        "; ".join(x for x in (desc, note) if x))
        if name == "medkit":  # what is left, by gold type (counts only: the notes hold real-looking PHI)
            from collections import Counter

            left = Counter(sp.type for _, sp in sc.missed)  # type: ignore[attr-defined]
            rows.append(Row("deid", "deid", split_desc, name, "n_missed", float(sum(left.values())),
                            note="gold PHI not fully masked, by type: " + ", ".join(
                                f"{k} {v}" for k, v in left.most_common())))
            print("missed by type:", dict(left.most_common()))
    # side by side: the same pipeline without word classes (session 5's system), its own pooled pair
    bm, bi = base.model, base.info
    bp = tuple(bm.operating_points_["crf+minilm"])
    bcands = [bm._note_candidates(t, str(p)) for p, t in zip(test["patient"], texts, strict=True)]
    bpool = bi.get("pooled") or {}
    for name, (tc, tn), desc in (
            ("medkit-nowc", bp, f"as medkit but the CRF without word classes (session 5's system, re-tuned in this "
             f"run by the same rule): CRF {bp[0]:g} OR MiniLM {bp[1]:g}, tuning {bpool.get('recall', float('nan')):.3f}"
             f" / {bpool.get('precision', float('nan')):.3f}"),
            ("medkit-crf-nowc", bm.operating_points_["crf"], "as medkit-crf but without word classes")):
        _deid_rows(rows, name, split_desc, texts, gtest, bm._finalise(test, bcands, tc, tn), test["patient"],
                   fit_s + pred_s, "; ".join(x for x in (desc, note) if x))
    if "crf" in points:  # descriptive trade-off curve of the union: MiniLM threshold at the chosen CRF threshold
        tc = points["crf+minilm"][0]
        for tn in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, OFF):
            c = score_detection(texts, gtest, model._finalise(test, cands, tc, tn))
            lab = "off" if tn == OFF else f"{tn:g}"
            for metric in ("recall", "precision"):
                rows.append(Row("deid", "deid", split_desc, "medkit", f"{metric}@minilm_thr={lab}",
                                getattr(c, metric), note="trade-off curve on the held-out patients (descriptive only; "
                                f"CRF threshold {tc:g}; the MiniLM threshold in use, {points['crf+minilm'][1]:g}, was "
                                "chosen on the tuning patients)"))
            print(f"  minilm thr {lab}: recall {c.recall:.3f} precision {c.precision:.3f}")
    for g in info["pooled_grid"]:  # the two lines through the chosen pair
        if (g["crf"], g["minilm"]) != tuple(points["crf+minilm"]) and g["crf"] != points["crf+minilm"][0] and \
                g["minilm"] != points["crf+minilm"][1]:
            continue
        tag = f"crf={g['crf']:g},minilm={g['minilm']:g}"
        for metric in ("recall", "precision"):
            rows.append(Row("deid", "deid", "all 122 tuning patients, out of sample (see medkit row)", "medkit",
                            f"tuning_{metric}@{tag}", g[metric],
                            note="pooled tuning grid (what the union's thresholds were chosen from)"))
    for g in info["val_grid"]:
        if g["crf"] == points["crf+minilm"][0] or g["crf"] == OFF:
            tag = f"crf={g['crf']:g},minilm={g['minilm']:g}".replace(f"={OFF:g}", "=off")
            for metric in ("recall", "precision"):
                rows.append(Row("deid", "deid", info["tuning"], "medkit", f"val_{metric}@{tag}", g[metric],
                                note="the 25 validation patients alone (session 4's rule chose from these; the "
                                "union's thresholds now come from the pooled tuning_* rows)"))
    presidio = PresidioPatterns()
    t1 = time.perf_counter()
    pred = [presidio.detect(t) for t in texts]
    _deid_rows(rows, "presidio", split_desc, texts, gtest, pred, test["patient"], time.perf_counter() - t1,
               "Presidio pattern recognisers only, called without an NLP engine (no spaCy model offline): "
               "no PERSON/LOCATION")
    print({k: info[k] for k in ("threshold", "neural_threshold", "crf_only_threshold", "minilm_only_threshold")})
    print("val union", info["val"], "val minilm", info["val_minilm_only"])


def bench_physionet(fast: bool, rows: list[Row]) -> None:
    import torch

    from medkit.evaluation import binary_report
    from medkit.privacy.dp import make_dp_setup_hook
    from medkit.privacy.federated import run_federated
    from medkit.privacy.physionet_sites import load_xy, make_sites
    from medkit.privacy.tabular_mlp import MLP, Standardizer, predict_proba, train_mlp
    from medkit.training import TrainConfig

    torch.set_num_threads(1)
    limit = 2000 if fast else None
    note = "reduced: first 2000 records of each set, 10 federated rounds" if fast else ""
    a, b = load_xy("a", None, limit), load_xy("b", None, limit)
    split = f"train set A ({len(a.y)}), test set B ({len(b.y)})"
    rng = np.random.default_rng(0)
    val = rng.random(len(a.y)) < 0.2  # early-stopping rows inside set A
    cfg = TrainConfig(max_epochs=40, batch_size=64, lr=1e-3, patience=6, monitor="val_auroc", mode="max",
                      progress=False, weight_decay=1e-3)

    def fit_predict(Xtr: np.ndarray, ytr: np.ndarray, Xva: np.ndarray, yva: np.ndarray, Xte: np.ndarray,
                    hook: object = None, c: TrainConfig = cfg) -> np.ndarray:
        st = Standardizer().fit(Xtr)
        torch.manual_seed(0)
        m = MLP(Xtr.shape[1])
        train_mlp(m, st.transform(Xtr), ytr, c, X_val=st.transform(Xva), y_val=yva, setup_hook=hook)  # type: ignore[arg-type]
        return predict_proba(m, st.transform(Xte))

    def add(model: str, p: np.ndarray, secs: float, extra: str = "") -> None:
        rep = binary_report(b.y, p, n_boot=1000, seed=0)["auroc"]
        rows.append(Row("mortality", "physionet2012", split, model, "auroc", rep.value, rep.ci_low, rep.ci_high, secs,
                        note="; ".join(x for x in (note, extra) if x)))
        print(f"{model}: AUROC {rep}")

    t = time.perf_counter()
    add("pooled", fit_predict(a.X[~val], a.y[~val], a.X[val], a.y[val], b.X), time.perf_counter() - t)

    t = time.perf_counter()
    p_local = np.zeros(len(b.y))
    for k in (1, 2, 3, 4):
        tr, te = a.icu == k, b.icu == k
        if te.any():
            p_local[te] = fit_predict(a.X[tr & ~val], a.y[tr & ~val], a.X[tr & val], a.y[tr & val], b.X[te])
    add("local", p_local, time.perf_counter() - t, "one model per ICU type, each scored on its own ICU type")

    sites = make_sites(a, 4)
    fed_p: dict[str, np.ndarray] = {}
    for strat, name, secure in (("fedavg", "federated", False), ("fedprox", "federated-fedprox", False),
                                ("fedavg", "federated-secagg", True)):
        t = time.perf_counter()
        res = run_federated([(a.X[i], a.y[i]) for i in sites], strategy=strat, rounds=10 if fast else 20,
                            local_epochs=2, mu=0.01, lr=1e-3, seed=0, timeout_s=1200, val_fraction=0.2,
                            secure_agg=secure)
        p = predict_proba(res.model(a.X.shape[1]), res.standardise(b.X))
        fed_p[name] = p
        extra = ""
        if secure:  # same seeds and sites as "federated": only the aggregation differs
            diff = float(np.max(np.abs(p - fed_p["federated"])))
            extra = (f"; pairwise-masked secure aggregation (server saw only masked updates), "
                     f"{sum(r.get('secure_agg') == 'ok' for r in res.rounds)}/{len(res.rounds)} rounds aggregated; "
                     f"max |p - p_federated| on set B = {diff:.1e}")
        add(name, p, time.perf_counter() - t, f"Flower {strat}, 4 sites = ICU types, one process each, "
            f"{len(res.rounds)} rounds x 2 local epochs; round {res.best_round} kept by the sites' validation AUROC "
            "(20% of each site's set-A rows, as pooled)" + extra)

    dp_cfg = cfg.model_copy(update={"max_epochs": 15, "patience": None, "grad_clip": None, "batch_size": 128,
                                    "lr": 3e-3, "scheduler": "none"})
    for eps in (1.0, 3.0, 8.0):
        t = time.perf_counter()
        hook = make_dp_setup_hook(eps, 1e-5, epochs=dp_cfg.max_epochs)
        p = fit_predict(a.X[~val], a.y[~val], a.X[val], a.y[val], b.X, hook, dp_cfg)
        r = hook.report()
        add(f"dp-eps{eps:g}", p, time.perf_counter() - t,
            f"DP-SGD (Opacus RDP) spent epsilon {r['epsilon_spent']:.2f} at delta 1e-5, noise "
            f"{r['noise_multiplier']:.2f}, clip 1.0; best epoch chosen on non-private validation rows of set A")


def bench_federated_dp(fast: bool, rows: list[Row]) -> None:
    """Site-level DP on client updates (DP-FedAvg: clip + Gaussian noise, secure aggregation) on PhysioNet 2012."""
    from medkit.evaluation import binary_report
    from medkit.privacy.federated import run_federated
    from medkit.privacy.physionet_sites import load_xy, make_sites
    from medkit.privacy.tabular_mlp import predict_proba

    limit = 2000 if fast else None
    note = "reduced: first 2000 records of each set, 10 federated rounds" if fast else ""
    a, b = load_xy("a", None, limit), load_xy("b", None, limit)
    split = f"train set A ({len(a.y)}), test set B ({len(b.y)})"
    sites = make_sites(a, 4)
    rounds = 10 if fast else 20
    for clip, z in ((1.0, 1.0), (1.0, 4.0)):
        t = time.perf_counter()
        res = run_federated([(a.X[i], a.y[i]) for i in sites], strategy="fedavg", rounds=rounds, local_epochs=2,
                            lr=1e-3, seed=0, timeout_s=1200, val_fraction=0.2, secure_agg=True, dp_clip=clip,
                            dp_noise=z)
        p = predict_proba(res.model(a.X.shape[1]), res.standardise(b.X))
        rep = binary_report(b.y, p, n_boot=1000, seed=0)["auroc"]
        extra = (f"site-level DP-FedAvg under secure aggregation: each site clips its update to L2 {clip:g}, "
                 f"Gaussian noise multiplier {z:g} on the sum (split across sites), unweighted mean; site-level "
                 f"epsilon {res.dp_epsilon:.1f} at delta 1e-5 over {len(res.rounds)} rounds (Opacus RDP, every site "
                 f"every round; protects whole hospitals, so 4 sites need large noise); round {res.best_round} kept "
                 "by the sites' (non-private) validation AUROC")
        rows.append(Row("mortality", "physionet2012", split, f"federated-dp-z{z:g}", "auroc", rep.value, rep.ci_low,
                        rep.ci_high, time.perf_counter() - t, note="; ".join(x for x in (note, extra) if x)))
        print(f"federated-dp z={z}: AUROC {rep} epsilon {res.dp_epsilon:.2f}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    fast = "--fast" in argv or os.environ.get("MEDKIT_BENCH_FAST") == "1"
    warnings.filterwarnings("ignore")
    rows: list[Row] = []
    only = [a for a in argv if not a.startswith("--")]
    if not only or "deid" in only:
        bench_deid(fast, rows)
    if not only or "physionet" in only:
        bench_physionet(fast, rows)
    if not only or "physionet" in only or "feddp" in only:
        bench_federated_dp(fast, rows)
    if only:  # keep the rows of the parts not re-run
        import json

        from _common import RESULTS

        prev = RESULTS / "privacy.json"
        keep = {"deid"} if "deid" not in only else set()
        keep |= {"physionet2012"} if "physionet" not in only else set()
        if prev.exists():
            old = [Row(**r) for r in json.loads(prev.read_text())["rows"] if r["dataset"] in keep
                   and not ("feddp" in only and r["model"].startswith("federated-dp"))]
            rows = old + rows
    notes = ("Reduced settings (MEDKIT_BENCH_FAST=1); see each row's note." if fast else "") + \
        " Presidio ran without a spaCy model (pattern recognisers only)."
    write_results("privacy", rows, notes.strip())


if __name__ == "__main__":
    main()
