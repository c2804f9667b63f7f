"""Reading/writing notes for the CLI and training the de-identifier on the PhysioNet deid corpus.

Notes are read strictly as UTF-8 (a bad byte is an error naming its offset and line, never silently
replaced: a mangled name could slip through detection). Supported inputs: a ``.txt`` file (one note),
a ``.csv`` with ``patient`` and ``text`` columns, or a PhysioNet deid ``.text`` corpus.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medkit.core.errors import DataError, ModelError
from medkit.privacy.phi import check_utf8
from medkit.privacy.text_deid import TextDeidentifier, spans_by_note

MODEL_FILE = "deid-model.pkl"


def read_notes(path: str | Path, patient: str | None = None) -> pd.DataFrame:
    """Notes table (``patient``, ``note``, ``text``) from a .txt, .csv or deid .text file."""
    p = Path(path)
    if not p.is_file():
        raise DataError("notes file not found", where=str(p), fix="pass an existing .txt, .csv or .text file")
    text = check_utf8(p.read_bytes(), str(p))
    if p.suffix.lower() == ".csv":
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        missing = {"patient", "text"} - set(df.columns)
        if missing:
            raise DataError(f"CSV lacks column(s) {sorted(missing)}", where=str(p),
                            fix="the CSV needs a 'patient' id column and a 'text' column")
        df["note"] = np.arange(len(df))
        return df[["patient", "note", "text"]]
    if "START_OF_RECORD=" in text:
        from medkit.data.privacy_sets import parse_deid_text

        return parse_deid_text(p)
    return pd.DataFrame({"patient": [patient or p.stem], "note": [0], "text": [text]})


def write_notes(notes: pd.DataFrame, texts: list[str], path: str | Path, like: str | Path) -> Path:
    """Write de-identified ``texts`` in the format of the input file ``like``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = Path(like).suffix.lower()
    tmp = out.with_suffix(out.suffix + ".tmp")
    if suffix == ".csv":
        notes.assign(text=texts)[["patient", "text"]].to_csv(tmp, index=False)
    elif len(texts) == 1 and suffix != ".text":
        tmp.write_text(texts[0], encoding="utf-8")
    else:
        blocks = [f"START_OF_RECORD={p}||||{n}||||\n{t}||||END_OF_RECORD\n"
                  for p, n, t in zip(notes["patient"], notes["note"], texts, strict=True)]
        tmp.write_text("\n".join(blocks), encoding="utf-8")
    tmp.replace(out)  # only complete, checked output ever appears under the final name
    return out


@dataclass
class CorpusSplit:
    """Patient-wise split of the deid corpus: train (fit the CRF), val (tune the threshold), test (report)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def corpus_split(groups: np.ndarray, seed: int = 0, test_size: float = 0.25, val_size: float = 0.2) -> CorpusSplit:
    from medkit.data.splits import check_no_leakage, group_split

    outer = group_split(groups, test_size=test_size, seed=seed)
    inner = group_split(groups[outer.train], test_size=val_size, seed=seed + 1)
    tr, va = outer.train[inner.train], outer.train[inner.test]
    check_no_leakage(groups[tr], groups[outer.test])
    check_no_leakage(groups[va], groups[outer.test])
    return CorpusSplit(tr, va, outer.test)


@dataclass
class DeidCorpus:
    """The deid corpus ready for tuning: notes, gold spans per note, patient per note, split and dictionaries."""

    notes: pd.DataFrame
    gold: list[Any]
    groups: np.ndarray
    split: CorpusSplit
    lexicon: Any
    known_names: Any
    provenance: Any

    def part(self, idx: np.ndarray) -> tuple[pd.DataFrame, list[Any]]:
        """Notes (re-indexed) and gold spans of the rows ``idx``."""
        return self.notes.iloc[idx].reset_index(drop=True), [self.gold[i] for i in idx]


def load_corpus(data_dir: str | Path | None = None, seed: int = 0, word_clusters: bool = False) -> DeidCorpus:
    """Load the PhysioNet deid corpus with its patient-wise split (:func:`corpus_split`) and dictionaries.

    ``word_clusters``: also fit :class:`~medkit.privacy.word_clusters.WordClusters` on the dictionaries and
    MiniLM's vocabulary (no notes; ~2 min on one core) and hang them on the lexicon, so every CRF trained with
    it gets word-class features.
    """
    from medkit.data.registry import load_dataset
    from medkit.privacy.lexicon import Lexicon, known_names

    ds = load_dataset("deid-physionet", data_dir=data_dir)
    notes = ds.data
    groups = notes["patient"].to_numpy()
    lex = Lexicon.from_lists(ds.extra["lists"])
    if word_clusters:
        from medkit.privacy.word_clusters import WordClusters

        lex.clusters = WordClusters().fit(ds.extra["lists"])
    return DeidCorpus(notes, spans_by_note(notes, ds.extra["spans"]), groups, corpus_split(groups, seed),
                      lex, known_names(ds.extra["lists"]), ds.provenance())


def train_on_corpus(data_dir: str | Path | None = None, *, seed: int = 0, max_iterations: int = 150,
                    target_recall: float = 0.99, refit: bool = True, cv_folds: int = 0,
                    min_precision: float | None = None) -> tuple[TextDeidentifier, dict[str, Any]]:
    """Fit on the tuning patients and choose the threshold there; the test patients are never touched.

    ``cv_folds=0``: fit on the training patients, tune on the validation patients, optionally refit on both.
    ``cv_folds=K>=2``: K-fold patient-wise cross-validation over training + validation patients; the threshold
    is chosen on the pooled out-of-fold predictions (:func:`~medkit.privacy.text_deid.choose_threshold`,
    with ``min_precision`` as precision floor) and the model is refit on all tuning patients.
    Returns the model and an info dict (split patient ids, threshold, tuning scores, tuning curve).
    """
    from medkit.privacy.text_deid import choose_threshold

    c = load_corpus(data_dir, seed)
    groups, split, lex, kn, part = c.groups, c.split, c.lexicon, c.known_names, c.part

    pool = np.concatenate([split.train, split.val])
    if cv_folds >= 2:
        scores = _cross_validated_scores(part, groups, pool, cv_folds, seed, lex, kn, max_iterations)
        thr = choose_threshold(scores, target_recall, min_precision)
        model = TextDeidentifier(max_iterations=max_iterations).fit(*part(pool), lexicon=lex, known_names=kn)
        model.threshold = thr
        tuning = f"{cv_folds}-fold patient-wise cross-validation on {len(set(groups[pool]))} tuning patients"
    else:
        model = TextDeidentifier(max_iterations=max_iterations)
        model.fit(*part(split.train), lexicon=lex, known_names=kn)
        scores = model.tune_threshold(*part(split.val), target_recall=target_recall, min_precision=min_precision)
        thr = model.threshold
        tuning = f"validation patients ({len(set(groups[split.val]))})"
        if refit:
            model.fit(*part(pool), lexicon=lex, known_names=kn)
            model.threshold = thr
    info = {"threshold": thr, "seed": seed, "tuning": tuning, "val": scores[thr].as_dict(),
            "curve": {t: {"recall": r.recall, "precision": r.precision} for t, r in scores.items()},
            "patients": {k: sorted(set(groups[getattr(split, k)].tolist())) for k in ("train", "val", "test")},
            "provenance": c.provenance}
    return model, info


def _cross_validated_scores(part: Any, groups: np.ndarray, pool: np.ndarray, k: int, seed: int, lex: Any, kn: Any,
                            max_iterations: int) -> dict[float, Any]:
    """Out-of-fold detection scores per threshold over the tuning patients (each fold scored by a model
    that never saw its patients)."""
    return _oof_scores(_cv_folds(part, groups, pool, k, seed, lex, kn, max_iterations))


def _oof_scores(folds: list[Any]) -> dict[float, Any]:
    from medkit.privacy.text_deid import THRESHOLD_GRID
    from medkit.privacy.text_eval import score_detection

    texts = [str(t) for _, fn, _, _, _ in folds for t in fn["text"]]
    gold = [g for _, _, fg, _, _ in folds for g in fg]
    out = {}
    for thr in THRESHOLD_GRID:
        pred = [s for m, fn, _, c, _ in folds for s in m._finalise(fn, c, float(thr))]
        out[float(thr)] = score_detection(texts, gold, pred)
    return out


def _cv_folds(part: Any, groups: np.ndarray, pool: np.ndarray, k: int, seed: int, lex: Any, kn: Any,
              max_iterations: int, recall_rules: bool = True) -> list[Any]:
    """K patient-wise folds of ``pool``: (model fitted without the fold, fold notes, gold, candidates, row ids)."""
    pats = np.array(sorted(set(groups[pool].tolist())))
    np.random.default_rng(seed + 17).shuffle(pats)
    fold_of = {p: i % k for i, p in enumerate(pats.tolist())}
    folds = []
    for f in range(k):
        tr = np.array([i for i in pool if fold_of[groups[i]] != f])
        te = np.array([i for i in pool if fold_of[groups[i]] == f])
        tn, tg = part(tr)
        m = TextDeidentifier(max_iterations=max_iterations, recall_rules=recall_rules).fit(tn, tg, lexicon=lex,
                                                                                         known_names=kn)
        fn, fg = part(te)
        cands = [m._note_candidates(str(t), str(p)) for p, t in zip(fn["patient"], fn["text"], strict=True)]
        folds.append((m, fn, fg, cands, te))
    return folds


def save_model(model: TextDeidentifier, folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    with open(path, "wb") as f:
        pickle.dump(model, f)
    return path


def load_model(folder: str | Path) -> TextDeidentifier:
    """Load a model saved by :func:`save_model` (pickle: only load models you trained yourself)."""
    path = Path(folder)
    path = path / MODEL_FILE if path.is_dir() else path
    if not path.is_file():
        raise ModelError("de-identification model not found", where=str(path),
                         fix="train one with: medkit privacy train-deid --out <folder>")
    with open(path, "rb") as f:
        model = pickle.load(f)  # noqa: S301 - medkit's own model files only
    if not isinstance(model, TextDeidentifier):
        raise ModelError("file does not hold a medkit TextDeidentifier", where=str(path),
                         fix="pass the folder written by medkit privacy train-deid")
    # models saved before these options existed behave as they did when saved, plus the default context rules
    for attr, default in (("context_rules", True), ("propagate_min_score", 0.0), ("fuzzy_propagate", False),
                          ("tagger", "crf"), ("neural_threshold", 0.5), ("neural_params", None), ("neural_", None),
                          ("recall_rules", False)):
        if not hasattr(model, attr):
            setattr(model, attr, default)
    return model
