"""Text de-identification: rules + dictionaries + medkit's CRF tagger, then consistent surrogates.

Pipeline per patient: (1) precise Safe Harbor patterns, (2) CRF marginals P(PHI) >= ``threshold``,
(3) propagation: a name or place found once is also removed wherever else it occurs in the same patient's
notes, (4) every span is replaced by a surrogate that is consistent within the patient (dates shifted by one
per-patient offset). The output is only returned after a final check that no found identifier string is
still present in the patient's de-identified notes.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from medkit.core.errors import ConfigError, DataError, NotFittedError, PrivacyError
from medkit.privacy.context_rules import apply_context_rules, drop_st_segments
from medkit.privacy.fuzzy import _edits_within, _misspelled  # noqa: F401 - re-exported
from medkit.privacy.lexicon import Lexicon
from medkit.privacy.phi import NAME_TYPES, PhiSpan, merge_spans, tokenize
from medkit.privacy.recall_rules import recall_candidates, refine_spans
from medkit.privacy.rules import confident_spans
from medkit.privacy.surrogates import SurrogateGenerator
from medkit.privacy.tagger import CrfPhiTagger, note_features, token_labels

# per note: rule spans, CRF token scores, MiniLM token scores (start, end, P(PHI), type)
Candidates = tuple[list[PhiSpan], list[tuple[int, int, float, str]], list[tuple[int, int, float, str]]]
NEURAL_COMMON_MIN = 3
_PROPAGATE = NAME_TYPES | {"Location"}
THRESHOLD_GRID = (0.002, 0.005, 0.01, 0.015) + tuple(float(x) for x in np.round(np.arange(0.02, 0.62, 0.02), 2))
_EDGE_PUNCT = re.compile(r"(\(?)(.*?\w.*?)([,:;.)]?)", re.S)


@dataclass
class DeidResult:
    """De-identified notes plus an audit of what was replaced (types and offsets, never the PHI text).

    Attributes
    ----------
    texts
        De-identified notes, in input order.
    spans
        Detected spans per input note (offsets into the *original* note).
    counts
        ``{phi type: number replaced}``.
    n_empty
        Notes that were empty or blank (returned unchanged).
    """

    texts: list[str]
    spans: list[list[PhiSpan]]
    counts: dict[str, int] = field(default_factory=dict)
    n_empty: int = 0
    n_propagated: int = 0


def spans_by_note(notes: pd.DataFrame, spans: pd.DataFrame) -> list[list[PhiSpan]]:
    """Gold spans aligned with the rows of ``notes`` (columns patient, note) from a spans table."""
    idx = {(str(p), int(n)): i for i, (p, n) in enumerate(zip(notes["patient"], notes["note"], strict=True))}
    out: list[list[PhiSpan]] = [[] for _ in range(len(notes))]
    for r in spans.itertuples(index=False):
        i = idx.get((str(r.patient), int(r.note)))
        if i is not None:
            out[i].append(PhiSpan(int(r.start), int(r.end), str(r.type), "gold"))
    return out


class TextDeidentifier(BaseEstimator):
    """Find and replace PHI in clinical notes.

    Parameters
    ----------
    threshold
        CRF probability above which a token is PHI; lower means higher recall (tune on validation patients
        with :meth:`tune_threshold`).
    use_tagger
        ``False`` runs rules (+ propagation) only, without training.
    propagate
        Also remove other occurrences of names/places found elsewhere in the patient's notes.
    c1, c2, max_iterations
        CRF regularisation and L-BFGS iterations.
    context_rules
        Apply :mod:`medkit.privacy.context_rules` (relation-word names, places before institution words,
        span expansion, ST-segment filter).
    fuzzy_propagate
        Also remove misspellings of found names (one edit for names of 5-7 letters, two from 8 letters:
        "Vasquez" -> "Vasques", "VAQUEZ"), when the misspelt word is not an everyday word.
    propagate_min_score
        Only spans at least this confident (rules: 1, CRF: its marginal) are propagated to other notes.
    tagger
        ``"crf"`` (default), ``"minilm"`` (the fine-tuned MiniLM word-piece tagger of
        :mod:`medkit.privacy.neural_tagger`) or ``"crf+minilm"`` (union: a token is PHI when the CRF says so at
        ``threshold`` or MiniLM at ``neural_threshold``).
    neural_threshold
        MiniLM P(PHI) above which a token is PHI.
    neural_params
        Keyword arguments of :class:`~medkit.privacy.neural_tagger.TransformerPhiTagger` (epochs, max_len ...).
    recall_rules
        Apply :mod:`medkit.privacy.recall_rules` (dictionary places, dates in date context, names continued
        by rare words, spans split by a hyphen). Models saved before this option load with it off.
    """

    def __init__(self, threshold: float = 0.2, use_tagger: bool = True, propagate: bool = True,
                 c1: float = 0.05, c2: float = 0.05, max_iterations: int = 150, context_rules: bool = True,
                 propagate_min_score: float = 0.0, fuzzy_propagate: bool = False, tagger: str = "crf",
                 neural_threshold: float = 0.5, neural_params: dict[str, Any] | None = None,
                 recall_rules: bool = True) -> None:
        self.recall_rules = recall_rules
        self.threshold = threshold
        self.tagger = tagger
        self.neural_threshold = neural_threshold
        self.neural_params = neural_params
        self.use_tagger = use_tagger
        self.propagate = propagate
        self.context_rules = context_rules
        self.propagate_min_score = propagate_min_score
        self.fuzzy_propagate = fuzzy_propagate
        self.c1 = c1
        self.c2 = c2
        self.max_iterations = max_iterations

    # ------------------------------------------------------------------ fitting
    def fit(self, notes: pd.DataFrame, gold: Sequence[list[PhiSpan]], lexicon: Lexicon | None = None,
            known_names: Mapping[str, set[str]] | None = None, val_notes: pd.DataFrame | None = None,
            val_gold: Sequence[list[PhiSpan]] | None = None) -> TextDeidentifier:
        """Train the tagger(s) on ``notes`` (columns ``patient``, ``text``) and their gold spans.

        ``val_notes``/``val_gold`` (other patients) choose MiniLM's best epoch; the CRF does not use them.
        """
        _check_notes(notes)
        if self.tagger not in ("crf", "minilm", "crf+minilm"):
            raise ConfigError(f"unknown tagger {self.tagger!r}", where="TextDeidentifier.tagger",
                              fix="use 'crf', 'minilm' or 'crf+minilm'")
        self.lexicon_ = copy.deepcopy(lexicon) if lexicon is not None else Lexicon()
        per_patient = _non_phi_vocabulary(list(notes["patient"]), list(notes["text"]), gold)
        self.lexicon_.common = dict(sum(per_patient.values(), Counter()))
        self.known_names_ = {str(k): set(v) for k, v in (known_names or {}).items()}
        self.tagger_: CrfPhiTagger | None = None
        self.neural_: Any = None
        if self.use_tagger and "minilm" in self.tagger:
            from medkit.privacy.neural_tagger import TransformerPhiTagger

            vt = None if val_notes is None else [str(t) for t in val_notes["text"]]
            self.neural_ = TransformerPhiTagger(**(self.neural_params or {})).fit(
                [str(t) for t in notes["text"]], gold, vt, val_gold)
        if self.use_tagger and "crf" in self.tagger:
            X, y = [], []
            for (patient, text), g in zip(zip(notes["patient"], notes["text"], strict=True), gold, strict=True):
                toks, feats = note_features(text, self.lexicon_, self.known_names_.get(str(patient)),
                                            per_patient[str(patient)])
                X.append(feats)
                y.append(token_labels(toks, g))
            self.tagger_ = CrfPhiTagger(self.c1, self.c2, self.max_iterations).fit(X, y)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "lexicon_"):
            raise NotFittedError("TextDeidentifier is not fitted", where="TextDeidentifier",
                                 fix="call fit(notes, gold_spans) first, or load a saved model")

    # ---------------------------------------------------------------- detection
    def _note_candidates(self, text: str, patient: str) -> Candidates:
        """Rule spans, CRF token scores and MiniLM token scores ``(start, end, P(PHI), type)`` of one note."""
        rules = confident_spans(text)
        scored: list[tuple[int, int, float, str]] = []
        if self.tagger_ is not None and text.strip():
            toks, feats = note_features(text, self.lexicon_, self.known_names_.get(patient))
            for t, (p, typ) in zip(toks, self.tagger_.phi_probability(feats), strict=True):
                scored.append((t.start, t.end, p, typ))
        return rules, scored, self.neural_scores(text)

    def neural_scores(self, text: str) -> list[tuple[int, int, float, str]]:
        """MiniLM token scores of one note (empty without a MiniLM tagger)."""
        neural = getattr(self, "neural_", None)
        if neural is None or not text.strip():
            return []
        toks = tokenize(text)
        return [(t.start, t.end, p, typ) for t, (p, typ) in zip(toks, neural.phi_probability(text, toks),
                                                                  strict=True)]

    def detect_notes(self, notes: pd.DataFrame, threshold: float | None = None,
                     neural_threshold: float | None = None) -> list[list[PhiSpan]]:
        """Detected spans for every note (offsets into each note)."""
        self._check_fitted()
        _check_notes(notes)
        thr = self.threshold if threshold is None else threshold
        cands = [self._note_candidates(str(t), str(p)) for p, t in zip(notes["patient"], notes["text"], strict=True)]
        return self._finalise(notes, cands, thr, neural_threshold)

    def _finalise(self, notes: pd.DataFrame, cands: Sequence[tuple[Any, ...]], thr: float,
                  neural_thr: float | None = None) -> list[list[PhiSpan]]:
        texts = [str(t) for t in notes["text"]]
        nthr = getattr(self, "neural_threshold", 0.5) if neural_thr is None else neural_thr
        spans: list[list[PhiSpan]] = []
        for text, (rules, scored, *rest) in zip(texts, cands, strict=True):
            crf = [PhiSpan(s, e, typ, "crf", p) for s, e, p, typ in scored if p >= thr]
            crf += [PhiSpan(s, e, typ, "minilm", p) for s, e, p, typ in (rest[0] if rest else [])
                    if p >= nthr and not self._everyday(text[s:e], typ)]
            if self.context_rules:
                rules = drop_st_segments(rules, text, self.lexicon_)
            recall = getattr(self, "recall_rules", False)
            extra = recall_candidates(text, self.lexicon_) if recall else []
            merged = _extend_institutions(merge_spans(rules + crf + extra, text), text)
            merged = apply_context_rules(merged, text, self.lexicon_) if self.context_rules else merged
            spans.append(refine_spans(merged, text, self.lexicon_) if recall else merged)
        self.n_propagated_ = 0
        if self.propagate:
            patients = [str(p) for p in notes["patient"]]
            for pat in dict.fromkeys(patients):
                rows = [i for i, p in enumerate(patients) if p == pat]
                self._propagate(rows, texts, spans)
        return spans

    def _everyday(self, word: str, typ: str) -> bool:
        """A MiniLM name/place token that is an everyday word of the training notes ("quinton" catheter, "ward",
        "zoll" pacer): seen >= ``NEURAL_COMMON_MIN`` times outside PHI. The CRF, which has word frequency as a
        feature, still decides on such words."""
        return (NEURAL_COMMON_MIN > 0 and typ in _PROPAGATE and word.isalpha()
                and self.lexicon_.common.get(word.lower(), 0) >= NEURAL_COMMON_MIN)

    def _terms(self, rows: list[int], texts: list[str], spans: list[list[PhiSpan]]) -> dict[str, str]:
        """Found strings that must disappear from all of a patient's notes: ``{lower-cased text: type}``.

        Names/places of >= 3 letters that are not everyday words (a word seen >= 3 times outside PHI in the
        training notes, e.g. "brown" stool, is never propagated) and any span with >= 5 digits (record,
        phone and account numbers).
        """
        found: dict[str, str] = {}
        for i in rows:
            for s in spans[i]:
                word = texts[i][s.start:s.end].strip()
                common = max((self.lexicon_.common.get(w, 0) for w in word.lower().split()), default=0)
                # nationalities ("Russian") are not PHI; one false alarm must not be copied to every note
                ethnic = any(w in self.lexicon_.groups.get("ethnic", ()) for w in word.lower().split())
                name_like = (s.type in _PROPAGATE and len(word) >= 3 and word.replace(" ", "").isalpha()
                             and common < 3 and not ethnic and s.score >= self.propagate_min_score)
                number_like = sum(c.isdigit() for c in word) >= 5 and re.fullmatch(r"[\w() -]+", word) is not None
                if name_like or number_like:
                    found.setdefault(word.lower(), s.type)
        return found

    def _propagate(self, rows: list[int], texts: list[str], spans: list[list[PhiSpan]]) -> None:
        found = self._terms(rows, texts, spans)
        if not found:
            return
        pat = _term_pattern(found)
        for i in rows:
            extra = []
            covered = bytearray(len(texts[i]) + 1)
            for s in spans[i]:
                covered[s.start:s.end] = b"\x01" * (s.end - s.start)
            for m in pat.finditer(texts[i]):
                if not all(covered[m.start():m.end()]):
                    extra.append(PhiSpan(m.start(), m.end(), found[m.group(0).lower()], "propagated", 0.5))
            if self.fuzzy_propagate:
                extra += _misspelled(found, texts[i], covered, self.lexicon_.common)
            if extra:
                self.n_propagated_ += len(extra)
                spans[i] = merge_spans(spans[i] + extra, texts[i])

    def tune_threshold(self, notes: pd.DataFrame, gold: Sequence[list[PhiSpan]], target_recall: float = 0.99,
                       grid: Sequence[float] = THRESHOLD_GRID, min_precision: float | None = None) -> dict[float, Any]:
        """Set ``threshold`` on validation patients (never the test patients); see :func:`choose_threshold`.

        Returns ``{threshold: DetectionScores}``.
        """
        from medkit.privacy.text_eval import score_detection

        self._check_fitted()
        cands = [self._note_candidates(str(t), str(p)) for p, t in zip(notes["patient"], notes["text"], strict=True)]
        texts = [str(t) for t in notes["text"]]
        results = {float(t): score_detection(texts, gold, self._finalise(notes, cands, float(t))) for t in grid}
        self.threshold = choose_threshold(results, target_recall, min_precision)
        return results

    # ---------------------------------------------------------------- replacing
    def deidentify(self, notes: pd.DataFrame, surrogates: SurrogateGenerator | None = None) -> DeidResult:
        """Replace detected PHI with surrogates; raises :class:`PrivacyError` if a found identifier survives."""
        self._check_fitted()
        _check_notes(notes)
        gen = surrogates or SurrogateGenerator(lexicon=self.lexicon_)
        spans = self.detect_notes(notes)
        texts_in = [str(t) for t in notes["text"]]
        patients = [str(p) for p in notes["patient"]]
        out: list[str] = []
        kept: list[str] = []
        counts: Counter[str] = Counter()
        n_empty = 0
        for text, pat, sp in zip(texts_in, patients, spans, strict=True):
            if not text.strip():
                n_empty += 1
                out.append(text)
                kept.append(text)
                continue
            pieces, last = [], 0
            for s in sorted(sp):
                pieces.append(text[last:s.start])
                # punctuation a span absorbed ("Lange,", "(410-555-9876)") stays; the surrogate is keyed on the
                # identifier alone, so "Lange," and "Lange" get the same surrogate
                m = _EDGE_PUNCT.fullmatch(text[s.start:s.end])
                lead, core, trail = (m.group(1), m.group(2), m.group(3)) if m else ("", text[s.start:s.end], "")
                pieces.append(lead + gen.surrogate(core, s.type, pat) + trail)
                counts[s.type] += 1
                last = s.end
            pieces.append(text[last:])
            out.append("".join(pieces))
            kept.append("\x00".join(pieces[0::2]))  # original text left in place, surrogates excluded
        if self.propagate:  # propagation is what guarantees removal of every occurrence
            terms = {p: self._terms([i for i, q in enumerate(patients) if q == p], texts_in, spans)
                     for p in dict.fromkeys(patients)}
            _verify_removed(terms, patients, kept)
        return DeidResult(out, spans, dict(counts), n_empty, self.n_propagated_)


_INSTITUTION = re.compile(r"[ .]*(?:rehab(?:ilitation)?|hospital|hosp|medical|center|centre|memorial|general|clinic|"
                          r"nursing|home|manor|hospice|health|healthcare|university|institute)\b", re.I)
_STRICT_WORDS = r"(?:hospital|hosp|medical center|med center|rehab|clinic|nursing home|hospice|assisted living)\b"
_INSTITUTION_STRICT = re.compile(r" " + _STRICT_WORDS, re.I)
_WORD_THEN_INSTITUTION = re.compile(r" ([A-Za-z]{3,})(?= " + _STRICT_WORDS + ")", re.I)
_SAINT = re.compile(r"\b(?:st|saint)\.? ?$", re.I)


def _extend_institutions(spans: list[PhiSpan], text: str) -> list[PhiSpan]:
    """Grow Location spans over a following institution word ("Baltimore Rehab") and a leading "St."."""
    out = []
    for s in spans:
        if s.type in NAME_TYPES and _INSTITUTION_STRICT.match(text, s.end):  # "St Mary Hospital" is a place
            s = PhiSpan(s.start, s.end, "Location", s.source, s.score)
        if s.type == "Location":
            two = _WORD_THEN_INSTITUTION.match(text, s.end)  # "sacred" found, "heart hosp" follows
            if two:
                s = PhiSpan(s.start, two.end(1), s.type, s.source, s.score)
            m = _INSTITUTION.match(text, s.end)
            end = m.end() if m else s.end
            pre = _SAINT.search(text, max(0, s.start - 7), s.start)
            start = pre.start() if pre else s.start
            s = PhiSpan(start, end, s.type, s.source, s.score)
        out.append(s)
    return merge_spans(out, text)


def _non_phi_vocabulary(patients: list[str], texts: list[str], gold: Sequence[list[PhiSpan]]
                        ) -> dict[str, Counter[str]]:
    """Per patient, counts of lower-cased words outside gold PHI in the training notes."""
    from medkit.privacy.phi import tokenize

    counts: dict[str, Counter[str]] = {}
    for pat, text, g in zip(patients, texts, gold, strict=True):
        toks = tokenize(text)
        labels = token_labels(toks, g)
        counts.setdefault(str(pat), Counter()).update(
            t.text.lower() for t, lab in zip(toks, labels, strict=True) if lab == "O" and t.text.isalpha())
    return counts


def _check_notes(notes: pd.DataFrame) -> None:
    missing = {"patient", "text"} - set(notes.columns)
    if missing:
        raise DataError(f"notes table lacks column(s) {sorted(missing)}", where="notes",
                        fix="pass a table with a 'patient' id column and a 'text' column")
    bad = [i for i, t in enumerate(notes["text"]) if not isinstance(t, str)]
    if bad:
        raise DataError(f"{len(bad)} note(s) are not text (first at row {bad[0]})", where=f"notes row {bad[0]}",
                        fix="decode notes to str (UTF-8) before de-identification; use '' for an empty note")


def _term_pattern(terms: Mapping[str, str]) -> re.Pattern[str]:
    alts = "|".join(re.escape(w) for w in sorted(terms, key=len, reverse=True))
    return re.compile(r"(?<!\w)(" + alts + r")(?!\w)", re.I)


def _verify_removed(terms: Mapping[str, Mapping[str, str]], patients: list[str], kept: list[str]) -> None:
    """Raise if a term that propagation must remove still occurs in the text that was kept.

    ``kept`` holds, per note, the original characters left in place (surrogates excluded, so a surrogate
    that happens to equal another patient's name is no false alarm).
    """
    pats = {p: _term_pattern(t) for p, t in terms.items() if t}
    for text, pat in zip(kept, patients, strict=True):
        if pat in pats and pats[pat].search(text):
            raise PrivacyError("a found identifier is still present after surrogate replacement",
                               where=f"patient {pat}", fix="report this as a medkit bug; nothing was written")


def choose_threshold(results: Mapping[float, Any], target_recall: float, min_precision: float | None = None) -> float:
    """Pick a threshold from ``{threshold: DetectionScores}`` measured on tuning patients.

    The largest threshold reaching ``target_recall`` (with precision >= ``min_precision`` when given);
    when none does, with ``min_precision`` the smallest threshold that keeps that precision (the most recall
    the precision floor allows), otherwise the smallest threshold of the grid (recall first).
    """
    floor = -1.0 if min_precision is None else min_precision
    ok = [t for t, r in results.items() if r.recall >= target_recall and r.precision >= floor]
    if ok:
        return max(ok)
    keep = [t for t, r in results.items() if r.precision >= floor]
    return min(keep) if keep and min_precision is not None else min(results)
