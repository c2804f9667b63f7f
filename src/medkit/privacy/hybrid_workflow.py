"""Train the CRF + MiniLM de-identifier on the PhysioNet deid corpus and choose both thresholds.

Who sees which patients (the held-out test patients are never touched here):

* CRF: K-fold patient-wise cross-validation over the tuning patients (train + validation) gives out-of-fold
  candidates; its own threshold is chosen on them exactly as in :func:`~medkit.privacy.text_workflow.
  train_on_corpus` (the ``medkit-crf`` pipeline), then it is refit on all tuning patients.
* MiniLM: fine-tuned on the *training* patients only; the validation patients pick its best epoch.
* Union thresholds (CRF, MiniLM), ``pair_pool="tuning"`` (the default): chosen on *all* tuning
  patients pooled, every one scored out of sample: the validation patients with the union (CRF out-of-fold,
  MiniLM never trained on them) and the training patients with the out-of-fold CRF alone (MiniLM off there: it
  trained on them). 25 validation patients alone saturate (226 of 227 PHI found at many pairs), so they cannot
  tell the CRF thresholds apart; 122 patients can. ``pair_pool="validation"``: the validation patients only
  (the earlier rule, kept for comparison). The MiniLM-only threshold is always chosen on the validation patients.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medkit.privacy.text_deid import TextDeidentifier, choose_threshold

CRF_GRID = (0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.4)
NEURAL_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
OFF = 2.0  # a threshold no probability reaches: that tagger is switched off


def choose_pair(results: Mapping[tuple[float, float], Any], target_recall: float = 0.99,
                min_precision: float | None = 0.8, prefer: str = "precision") -> tuple[float, float]:
    """Pick (CRF, MiniLM) thresholds from ``{(t_crf, t_minilm): DetectionScores}`` on tuning patients.

    ``prefer="precision"``: among pairs reaching ``target_recall`` with precision >= ``min_precision``, the most
    precise. ``prefer="recall"``: the most recall with precision >= ``min_precision``, whatever the target
    (ties: more precision), which spends a precision margin on recall when the tuning recall is optimistic.
    Otherwise (or with no pair reaching the target) the most recall that keeps precision >= ``min_precision``
    (ties: more precision); without any such pair, the most recall.
    """
    floor = -1.0 if min_precision is None else min_precision
    ok = [k for k, r in results.items() if r.recall >= target_recall and r.precision >= floor]
    if ok and prefer == "precision":
        return max(ok, key=lambda k: (results[k].precision, k))
    keep = [k for k, r in results.items() if r.precision >= floor] or list(results)
    return max(keep, key=lambda k: (results[k].recall, results[k].precision, k))


@dataclass(frozen=True)
class PooledScores:
    """Span recall / precision of several scored groups of notes added up (what :func:`choose_pair` reads)."""

    found: int
    n_gold: int
    tp_pred: int
    n_pred: int

    @classmethod
    def of(cls, *scores: Any) -> PooledScores:
        """Sum of :class:`~medkit.privacy.text_eval.DetectionScores` (or PooledScores) counts."""
        c = np.sum([s.counts for s in scores], axis=0).astype(int)
        return cls(int(c[0]), int(c[1]), int(c[2]), int(c[3]))

    @property
    def counts(self) -> tuple[int, int, int, int]:
        return (self.found, self.n_gold, self.tp_pred, self.n_pred)

    @property
    def recall(self) -> float:
        return self.found / self.n_gold if self.n_gold else 1.0

    @property
    def precision(self) -> float:
        return self.tp_pred / self.n_pred if self.n_pred else 1.0

    def as_dict(self) -> dict[str, float]:
        return {"recall": self.recall, "precision": self.precision, "found": self.found, "n_gold": self.n_gold,
                "tp_pred": self.tp_pred, "n_pred": self.n_pred}


def pooled_grid(val: Mapping[tuple[float, float], Any], train_crf: Mapping[float, Any]
                ) -> dict[tuple[float, float], PooledScores]:
    """``{(t_crf, t_minilm): validation scores + training-patient scores of the CRF alone at t_crf}``.

    ``train_crf[t_crf]``: out-of-fold CRF scores (MiniLM off) of the patients MiniLM trained on; pairs whose CRF
    threshold is not in ``train_crf`` (e.g. the CRF switched off) are left out.
    """
    return {k: PooledScores.of(v, train_crf[k[0]]) for k, v in val.items() if k[0] in train_crf}


@dataclass
class HybridTuning:
    """The trained model, an info dict (JSON-safe) and the validation material the thresholds came from."""

    model: TextDeidentifier
    info: dict[str, Any]
    val_notes: list[pd.DataFrame]      # per CV fold: that fold's validation notes
    val_gold: list[list[Any]]
    val_cands: list[list[Any]]         # per fold, per note: (rules, OOF CRF scores, MiniLM scores)
    val_models: list[TextDeidentifier]  # per fold: the CRF model that never saw those patients

    def val_predictions(self, t_crf: float, t_neural: float) -> tuple[list[str], list[Any], list[Any]]:
        """Validation texts, gold and predictions at the given thresholds."""
        texts, gold, pred = [], [], []
        for m, fn, fg, c in zip(self.val_models, self.val_notes, self.val_gold, self.val_cands, strict=True):
            texts += [str(t) for t in fn["text"]]
            gold += fg
            pred += m._finalise(fn, c, t_crf, t_neural)
        return texts, gold, pred


def hybrid_tuning(data_dir: str | Path | None = None, *, seed: int = 0, max_iterations: int = 150,
                  cv_folds: int = 3, target_recall: float = 0.99, min_precision: float | None = 0.8,
                  neural_params: dict[str, Any] | None = None, neural_cache: str | Path | None = None,
                  pair_rule: str = "recall", pair_min_precision: float = 0.85, recall_rules: bool = True,
                  pair_pool: str = "tuning", word_clusters: bool = False) -> HybridTuning:
    """Fit CRF (cross-validated threshold) and MiniLM, choose the union's thresholds; see the module doc.

    The union's pair is chosen by :func:`choose_pair` with ``prefer=pair_rule`` and precision floor
    ``pair_min_precision`` (default: the most recall at precision >= 0.85, i.e. the 0.80 bar plus the 0.05
    tuning-to-held-out precision drop seen on this corpus) on ``pair_pool``: ``"tuning"`` (all tuning patients,
    see the module doc, via :func:`pooled_grid`) or ``"validation"``; MiniLM alone on the validation patients.
    ``recall_rules`` switches :mod:`medkit.privacy.recall_rules` on for every model (CV folds and final);
    ``word_clusters`` gives every CRF (CV folds and final) the word-class features of
    :mod:`medkit.privacy.word_clusters`.

    ``neural_cache``: a file where the fine-tuned MiniLM tagger is stored after training and loaded from when
    it exists (the fine-tune is the slow part; only use a cache made with the same split seed and settings).
    """
    from medkit.core.errors import ConfigError
    from medkit.privacy.text_eval import score_detection
    from medkit.privacy.text_workflow import _cv_folds, _oof_scores, load_corpus

    if pair_pool not in ("tuning", "validation"):
        raise ConfigError(f"unknown pair_pool '{pair_pool}'", where="hybrid_tuning(pair_pool=...)",
                          fix="use 'tuning' (all tuning patients, out of sample) or 'validation'")
    c = load_corpus(data_dir, seed, word_clusters=word_clusters)
    groups, split, lex, kn, part = c.groups, c.split, c.lexicon, c.known_names, c.part

    pool = np.concatenate([split.train, split.val])
    folds = _cv_folds(part, groups, pool, cv_folds, seed, lex, kn, max_iterations, recall_rules)
    crf_curve = _oof_scores(folds)
    crf_thr = choose_threshold(crf_curve, target_recall, min_precision)

    neural = fit_neural(c, neural_params, neural_cache)

    # validation patients: out-of-fold CRF candidates (each from the fold model that never saw them) + MiniLM
    val_set = set(split.val.tolist())
    v_notes, v_gold, v_cands, v_models = [], [], [], []
    for m, _, _, cands, rows in folds:
        keep = [j for j, i in enumerate(rows) if i in val_set]
        if not keep:
            continue
        fn, fg = part(rows[keep])
        v_notes.append(fn)
        v_gold.append(fg)
        v_cands.append([(cands[j][0], cands[j][1], _neural_scores(neural, str(t)))
                        for j, t in zip(keep, fn["text"], strict=True)])
        v_models.append(m)
    tuning = HybridTuning(TextDeidentifier(), {}, v_notes, v_gold, v_cands, v_models)

    results = {}
    for tc in (*CRF_GRID, OFF):
        for tn in (*NEURAL_GRID, OFF):
            if tc == OFF and tn == OFF:
                continue
            results[(tc, tn)] = score_detection(*tuning.val_predictions(tc, tn))
    # the earlier system (``session3_pair``) side by side: no recall rules, the most precise pair at validation recall 0.99
    for m in v_models:
        m.recall_rules = False
    s3 = {k: score_detection(*tuning.val_predictions(*k)) for k in results if OFF not in k}
    for m in v_models:
        m.recall_rules = recall_rules
    s3_pair = choose_pair(s3, target_recall, min_precision, "precision")
    # training patients: out-of-fold CRF alone (MiniLM trained on them, so it is off there)
    train_set = set(split.train.tolist())
    train_crf = {}
    for tc in CRF_GRID:
        texts, gold, pred = [], [], []
        for m, fn_all, fg_all, cands, rows in folds:
            keep = [j for j, i in enumerate(rows) if i in train_set]
            fn = fn_all.iloc[keep].reset_index(drop=True)
            texts += [str(t) for t in fn["text"]]
            gold += [fg_all[j] for j in keep]
            pred += m._finalise(fn, [cands[j] for j in keep], tc, OFF)
        train_crf[tc] = score_detection(texts, gold, pred)
    pooled = pooled_grid({k: v for k, v in results.items() if OFF not in k}, train_crf)
    val_pair = choose_pair({k: v for k, v in results.items() if OFF not in k}, target_recall, pair_min_precision,
                           pair_rule)
    pair = choose_pair(pooled, target_recall, pair_min_precision, pair_rule) if pair_pool == "tuning" else val_pair
    only = choose_pair({k: v for k, v in results.items() if k[0] == OFF}, target_recall, pair_min_precision,
                       pair_rule)

    model = TextDeidentifier(max_iterations=max_iterations, tagger="crf", recall_rules=recall_rules).fit(*part(pool), lexicon=lex,
                                                                             known_names=kn)
    model.neural_ = neural
    model.tagger = "crf+minilm"
    model.threshold, model.neural_threshold = pair
    # every operating point chosen above, so deid-text --tagger can switch without retraining
    model.operating_points_ = {"crf+minilm": pair, "crf": (crf_thr, OFF), "minilm": only,
                               "crf+minilm-valpair": val_pair}
    tuning.model = model
    r = neural.result_
    tuning.info = {
        "tagger": "crf+minilm", "threshold": pair[0], "neural_threshold": pair[1], "crf_only_threshold": crf_thr,
        "minilm_only_threshold": only[1], "seed": seed, "recall_rules": recall_rules,
        "word_clusters": (None if lex.clusters is None else
                          {"n_clusters": lex.clusters.n_clusters, "n_coarse": lex.clusters.n_coarse,
                           "n_fit_words": lex.clusters.n_fit_words_}),
        "pair_rule": f"prefer {pair_rule}, {pair_pool} precision >= {pair_min_precision:g}", "pair_pool": pair_pool,
        "tuning": (f"CRF: {cv_folds}-fold patient-wise CV on {len(set(groups[pool]))} tuning patients; MiniLM trained "
                   f"on {len(set(groups[split.train]))} training patients; union thresholds chosen on "
                   + (f"all {len(set(groups[pool]))} tuning patients pooled (validation patients: union, CRF "
                      f"out-of-fold; training patients: out-of-fold CRF alone, MiniLM off)" if pair_pool == "tuning"
                      else f"{len(set(groups[split.val]))} validation patients (CRF out-of-fold there)")
                   + f"; MiniLM alone on the {len(set(groups[split.val]))} validation patients"),
        "val_pair": val_pair, "pooled": pooled[pair].as_dict() if pair in pooled else None,
        "pooled_grid": [{"crf": k[0], "minilm": k[1], **v.as_dict()} for k, v in pooled.items()],
        "train_crf": {t: PooledScores.of(v).as_dict() for t, v in train_crf.items()},
        "session3_pair": s3_pair, "val_session3": s3[s3_pair].as_dict(),
        "val": results[pair].as_dict(), "val_minilm_only": results[only].as_dict(),
        "val_crf_only": results[(crf_thr, OFF)].as_dict() if (crf_thr, OFF) in results else None,
        "crf_curve": {t: {"recall": v.recall, "precision": v.precision} for t, v in crf_curve.items()},
        "val_grid": [{"crf": k[0], "minilm": k[1], "recall": v.recall, "precision": v.precision}
                     for k, v in results.items()],
        "neural": {"best_epoch": r.best_epoch, "best_val_ap": r.best_score, "seconds": r.seconds,
                   "history": r.history, "n_train_windows": neural.n_train_windows_,
                   "epochs_run": len(r.history), "out_of_time": bool(r.out_of_time),
                   "settings": neural_settings(neural)},
        "patients": {k: sorted(set(groups[getattr(split, k)].tolist())) for k in ("train", "val", "test")},
        "provenance": c.provenance,
    }
    return tuning


# the settings that define a fine-tuned MiniLM (a cache made with other ones must not be reused)
NEURAL_SETTINGS = ("max_len", "step", "epochs", "lr", "batch_size", "weight_decay", "negative_fraction", "patience",
                   "max_seconds", "seed")


def neural_settings(neural: Any) -> dict[str, Any]:
    """The defining settings of a (fitted) MiniLM tagger; settings added later read as their defaults."""
    from medkit.privacy.neural_tagger import TransformerPhiTagger

    default = TransformerPhiTagger()
    return {k: getattr(neural, k, getattr(default, k)) for k in NEURAL_SETTINGS}


def fit_neural(corpus: Any, neural_params: dict[str, Any] | None = None, cache: str | Path | None = None) -> Any:
    """Fine-tune MiniLM on the corpus's *training* patients (validation patients pick the best epoch).

    ``cache``: the fitted tagger is stored there, and loaded from there when the file exists, but only when it
    was trained with the same settings on the same training patients (else a :class:`ConfigError`: a stale
    cache would silently change the result).
    """
    from medkit.core.errors import ConfigError
    from medkit.privacy.neural_tagger import TransformerPhiTagger

    split, part = corpus.split, corpus.part
    want = neural_settings(TransformerPhiTagger(**(neural_params or {})))
    patients = sorted({str(p) for p in corpus.groups[split.train]})
    path = Path(cache) if cache else None
    if path is not None and path.is_file():
        with open(path, "rb") as f:
            cached = pickle.load(f)  # noqa: S301 - medkit's own cache file
        have = neural_settings(cached)
        diff = {k: (have[k], want[k]) for k in want if have[k] != want[k]}
        seen = getattr(cached, "train_patients_", None)
        if diff or seen != patients:
            why = f"settings (cached, wanted): {diff}" if diff else "it was trained on other (or unrecorded) patients"
            raise ConfigError(f"the cached MiniLM does not match this run: {why}", where=str(path),
                              fix="delete the cache file (or point MEDKIT_DEID_MINILM_CACHE elsewhere) to re-train")
        return cached
    tr_notes, tr_gold = part(split.train)
    va_notes, va_gold = part(split.val)
    neural: Any = TransformerPhiTagger(**(neural_params or {})).fit(
        [str(t) for t in tr_notes["text"]], tr_gold, [str(t) for t in va_notes["text"]], va_gold)
    neural.train_patients_ = patients  # what a cache is checked against
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "wb") as fw:
            pickle.dump(neural, fw)
        tmp.replace(path)
    return neural


def select_tagger(model: TextDeidentifier, tagger: str) -> TextDeidentifier:
    """Switch a trained model to one of its tuned operating points: ``crf``, ``minilm`` or ``crf+minilm``."""
    from medkit.core.errors import ConfigError

    points = dict(getattr(model, "operating_points_", {}))
    points.setdefault(model.tagger, (model.threshold, model.neural_threshold))
    if tagger not in points:
        raise ConfigError(f"this model has no tuned '{tagger}' tagger (it has: {sorted(points)})",
                          where="--tagger", fix="train one with: medkit privacy train-deid --tagger crf+minilm")
    model.threshold, model.neural_threshold = points[tagger]
    model.tagger = tagger
    return model


def _neural_scores(neural: Any, text: str) -> list[tuple[int, int, float, str]]:
    from medkit.privacy.phi import tokenize

    if not text.strip():
        return []
    toks = tokenize(text)
    return [(t.start, t.end, p, typ) for t, (p, typ) in zip(toks, neural.phi_probability(text, toks), strict=True)]


def train_hybrid_on_corpus(data_dir: str | Path | None = None, **kw: Any) -> tuple[TextDeidentifier, dict[str, Any]]:
    """:func:`hybrid_tuning` returning just ``(model, info)`` (what ``medkit privacy train-deid`` saves)."""
    t = hybrid_tuning(data_dir, **kw)
    return t.model, t.info
