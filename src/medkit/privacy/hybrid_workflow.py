"""Train the CRF + MiniLM de-identifier on the PhysioNet deid corpus and choose both thresholds.

Who sees which patients (the held-out test patients are never touched here):

* CRF: K-fold patient-wise cross-validation over the tuning patients (train + validation) gives out-of-fold
  candidates; its own threshold is chosen on them exactly as in :func:`~medkit.privacy.text_workflow.
  train_on_corpus` (the ``medkit-crf`` pipeline), then it is refit on all tuning patients.
* MiniLM: fine-tuned on the *training* patients only; the validation patients pick its best epoch.
* Union thresholds (CRF, MiniLM) and the MiniLM-only threshold: chosen on the validation patients, where
  the CRF candidates are out-of-fold and MiniLM never trained.
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
                  pair_rule: str = "recall", pair_min_precision: float = 0.85, recall_rules: bool = True
                  ) -> HybridTuning:
    """Fit CRF (cross-validated threshold) and MiniLM, choose the union's thresholds; see the module doc.

    The union's pair is chosen on the validation patients by :func:`choose_pair` with ``prefer=pair_rule`` and
    precision floor ``pair_min_precision`` (default: the most validation recall at precision >= 0.85, i.e. the
    0.80 bar plus the 0.05 validation-to-held-out precision drop seen in session 3); MiniLM alone likewise.
    ``recall_rules`` switches :mod:`medkit.privacy.recall_rules` on for every model (CV folds and final).

    ``neural_cache``: a file where the fine-tuned MiniLM tagger is stored after training and loaded from when
    it exists (the fine-tune is the slow part; only use a cache made with the same split seed and settings).
    """
    from medkit.privacy.neural_tagger import TransformerPhiTagger
    from medkit.privacy.text_eval import score_detection
    from medkit.privacy.text_workflow import _cv_folds, _oof_scores, load_corpus

    c = load_corpus(data_dir, seed)
    groups, split, lex, kn, part = c.groups, c.split, c.lexicon, c.known_names, c.part

    pool = np.concatenate([split.train, split.val])
    folds = _cv_folds(part, groups, pool, cv_folds, seed, lex, kn, max_iterations, recall_rules)
    crf_curve = _oof_scores(folds)
    crf_thr = choose_threshold(crf_curve, target_recall, min_precision)

    cache = Path(neural_cache) if neural_cache else None
    if cache is not None and cache.is_file():
        with open(cache, "rb") as f:
            neural = pickle.load(f)  # noqa: S301 - medkit's own cache file
    else:
        tr_notes, tr_gold = part(split.train)
        va_notes, va_gold = part(split.val)
        neural = TransformerPhiTagger(**(neural_params or {})).fit(
            [str(t) for t in tr_notes["text"]], tr_gold, [str(t) for t in va_notes["text"]], va_gold)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            with open(cache, "wb") as fw:
                pickle.dump(neural, fw)

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
    # the session-3 system side by side: no recall rules, the most precise pair at validation recall 0.99
    for m in v_models:
        m.recall_rules = False
    s3 = {k: score_detection(*tuning.val_predictions(*k)) for k in results if OFF not in k}
    for m in v_models:
        m.recall_rules = recall_rules
    s3_pair = choose_pair(s3, target_recall, min_precision, "precision")
    pair = choose_pair({k: v for k, v in results.items() if OFF not in k}, target_recall, pair_min_precision,
                       pair_rule)
    only = choose_pair({k: v for k, v in results.items() if k[0] == OFF}, target_recall, pair_min_precision,
                       pair_rule)

    model = TextDeidentifier(max_iterations=max_iterations, tagger="crf", recall_rules=recall_rules).fit(*part(pool), lexicon=lex,
                                                                             known_names=kn)
    model.neural_ = neural
    model.tagger = "crf+minilm"
    model.threshold, model.neural_threshold = pair
    # every operating point chosen above, so deid-text --tagger can switch without retraining
    model.operating_points_ = {"crf+minilm": pair, "crf": (crf_thr, OFF), "minilm": only}
    tuning.model = model
    r = neural.result_
    tuning.info = {
        "tagger": "crf+minilm", "threshold": pair[0], "neural_threshold": pair[1], "crf_only_threshold": crf_thr,
        "minilm_only_threshold": only[1], "seed": seed, "recall_rules": recall_rules,
        "pair_rule": f"prefer {pair_rule}, validation precision >= {pair_min_precision:g}",
        "tuning": (f"CRF: {cv_folds}-fold patient-wise CV on {len(set(groups[pool]))} tuning patients; MiniLM trained "
                   f"on {len(set(groups[split.train]))} training patients; thresholds of the union and of MiniLM "
                   f"alone chosen on {len(set(groups[split.val]))} validation patients (CRF out-of-fold there)"),
        "session3_pair": s3_pair, "val_session3": s3[s3_pair].as_dict(),
        "val": results[pair].as_dict(), "val_minilm_only": results[only].as_dict(),
        "val_crf_only": results[(crf_thr, OFF)].as_dict() if (crf_thr, OFF) in results else None,
        "crf_curve": {t: {"recall": v.recall, "precision": v.precision} for t, v in crf_curve.items()},
        "val_grid": [{"crf": k[0], "minilm": k[1], "recall": v.recall, "precision": v.precision}
                     for k, v in results.items()],
        "neural": {"best_epoch": r.best_epoch, "best_val_ap": r.best_score, "seconds": r.seconds,
                   "history": r.history, "n_train_windows": neural.n_train_windows_},
        "patients": {k: sorted(set(groups[getattr(split, k)].tolist())) for k in ("train", "val", "test")},
        "provenance": c.provenance,
    }
    return tuning


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
