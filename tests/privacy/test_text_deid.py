"""Text de-identification on the real PhysioNet deid corpus (small patient-wise subset) and crafted notes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medkit.core.errors import DataError, NotFittedError
from medkit.privacy.phi import PhiSpan
from medkit.privacy.surrogates import SurrogateGenerator
from medkit.privacy.text_deid import TextDeidentifier, spans_by_note
from medkit.privacy.text_eval import score_detection


def test_score_detection_hand_counted() -> None:
    text = "Dr Healey saw pt on 7/22 with wife Rose at GH"
    gold = [PhiSpan(3, 9, "HCPName"), PhiSpan(19, 23, "Date"), PhiSpan(34, 38, "RelativeProxyName"),
            PhiSpan(42, 44, "Location")]
    # finds Healey and the date, half of "Rose" (a leak: not found), and one false positive ("pt")
    pred = [PhiSpan(3, 9, "HCPName"), PhiSpan(19, 23, "Date"), PhiSpan(34, 36, "HCPName"), PhiSpan(14, 16, "Other")]
    s = score_detection([text], [gold], [pred])
    assert s.n_gold == 4 and s.n_pred == 4
    assert s.recall == pytest.approx(2 / 4)          # Rose only partly covered, GH missed
    assert s.recall_overlap == pytest.approx(3 / 4)
    assert s.precision == pytest.approx(3 / 4)       # "pt" overlaps no gold span
    assert s.token_recall == pytest.approx(3 / 4)    # tokens Healey, 7/22, Rose covered; GH not
    assert s.token_precision == pytest.approx(3 / 4)
    assert s.per_type["Location"]["recall"] == 0.0 and s.per_type["HCPName"]["recall"] == 1.0


@pytest.fixture(scope="module")
def corpus(shared_data: Path):
    from medkit.data.registry import load_dataset
    from medkit.privacy.lexicon import Lexicon, known_names

    ds = load_dataset("deid-physionet", data_dir=shared_data)
    notes = ds.data
    gold = spans_by_note(notes, ds.extra["spans"])
    pats = sorted(notes["patient"].unique(), key=int)
    train_p, test_p = set(pats[:24]), set(pats[140:150])
    tr = np.flatnonzero(notes["patient"].isin(train_p))
    te = np.flatnonzero(notes["patient"].isin(test_p))
    lex, kn = Lexicon.from_lists(ds.extra["lists"]), known_names(ds.extra["lists"])
    model = TextDeidentifier(max_iterations=40, threshold=0.1)
    model.fit(notes.iloc[tr].reset_index(drop=True), [gold[i] for i in tr], lex, kn)
    return model, notes.iloc[te].reset_index(drop=True), [gold[i] for i in te], lex


def test_corpus_loader_matches_source_counts(shared_data: Path) -> None:
    from medkit.data.registry import load_dataset

    ds = load_dataset("deid-physionet", data_dir=shared_data)
    assert len(ds.data) == 2434 and ds.n_patients == 163 and len(ds.extra["spans"]) == 1779
    texts = {(p, n): t for p, n, t in ds.data.itertuples(index=False)}
    # every phrase matches the text at its offsets (end exclusive), as SOURCE.md states
    assert all(texts[(r.patient, r.note)][r.start:r.end] == r.phrase for r in ds.extra["spans"].itertuples())


def test_load_corpus_splits_by_patient_and_keeps_gold_with_its_note(shared_data: Path) -> None:
    from medkit.privacy.text_workflow import load_corpus

    c = load_corpus(shared_data, seed=0)
    parts = [c.split.train, c.split.val, c.split.test]
    assert sorted(np.concatenate(parts).tolist()) == list(range(2434))  # every note in exactly one part
    pats = [set(c.groups[p].tolist()) for p in parts]
    assert not (pats[0] & pats[1] or pats[0] & pats[2] or pats[1] & pats[2])  # no patient in two parts
    notes, gold = c.part(c.split.test)
    assert sum(len(g) for g in gold) == sum(len(c.gold[i]) for i in c.split.test) > 0
    for text, spans in zip(notes["text"], gold, strict=True):  # gold offsets still point into their own note
        assert all(0 <= sp.start < sp.end <= len(text) for sp in spans)


def test_tagger_learns_and_beats_rules_on_held_out_patients(corpus) -> None:
    model, notes, gold, lex = corpus
    crf = score_detection(list(notes["text"]), gold, model.detect_notes(notes))
    rules = TextDeidentifier(use_tagger=False).fit(notes.iloc[:0], [], lex)
    base = score_detection(list(notes["text"]), gold, rules.detect_notes(notes))
    assert crf.n_gold > 50
    assert crf.recall > 0.7 and crf.precision > 0.6  # 24 training patients, 40 iterations: a small model
    assert crf.recall > base.recall + 0.2  # names/places need the tagger


def test_deidentified_notes_hold_no_found_identifier(corpus) -> None:
    model, notes, gold, _ = corpus
    res = model.deidentify(notes, SurrogateGenerator(key=b"t" * 32, lexicon=model.lexicon_))
    assert len(res.texts) == len(notes) and sum(res.counts.values()) > 50
    for text, out, spans in zip(notes["text"], res.texts, res.spans, strict=True):
        for s in spans:
            word = text[s.start:s.end].strip()
            if len(word) >= 4 and word.isalpha():
                assert not re.search(rf"\b{re.escape(word)}\b", out, re.I), word


def test_deidentify_crafted_note_consistency(corpus) -> None:
    model, *_ = corpus
    notes = pd.DataFrame({"patient": ["a", "a", "b", "a"],
                          "text": ["Call 410-555-9876 re: MRN 00482913. Seen 7/22/1993.",
                                   "Family called 410-555-9876 again on 7/29/1993.",
                                   "Call 410-555-9876.", "   "]})
    res = model.deidentify(notes, SurrogateGenerator(key=b"s" * 32))
    phone_a = re.findall(r"\d{3}-\d{3}-\d{4}", res.texts[0])[0]
    assert phone_a != "410-555-9876"
    assert phone_a in res.texts[1]                      # same patient, same surrogate
    assert phone_a not in res.texts[2]                  # other patient, other surrogate
    assert "00482913" not in res.texts[0]
    assert res.n_empty == 1 and res.texts[3] == "   "   # empty notes: unchanged and counted
    import datetime as dt
    d1 = dt.datetime.strptime(re.findall(r"\d+/\d+/\d{4}", res.texts[0])[0], "%m/%d/%Y")
    d2 = dt.datetime.strptime(re.findall(r"\d+/\d+/\d{4}", res.texts[1])[0], "%m/%d/%Y")
    assert (d2 - d1).days == 7                          # interval kept


def test_bad_notes_input() -> None:
    with pytest.raises(NotFittedError):
        TextDeidentifier().detect_notes(pd.DataFrame({"patient": ["a"], "text": ["x"]}))
    m = TextDeidentifier(use_tagger=False).fit(pd.DataFrame({"patient": [], "text": []}), [])
    with pytest.raises(DataError, match="not text"):
        m.detect_notes(pd.DataFrame({"patient": ["a"], "text": [b"bytes"]}))
    with pytest.raises(DataError, match="lacks column"):
        m.detect_notes(pd.DataFrame({"id": ["a"], "note": ["x"]}))


def test_leak_guard_and_propagation() -> None:
    from medkit.core.errors import PrivacyError
    from medkit.privacy.text_deid import _verify_removed

    with pytest.raises(PrivacyError, match="still present"):
        _verify_removed({"a": {"rixford": "HCPName"}}, ["a"], ["seen by pat rixford today"])
    _verify_removed({"a": {"rixford": "HCPName"}}, ["a", "b"], ["seen by pat \x00 today", "rixford"])  # other patient
    # a number found in one note is removed from the patient's other notes too
    m = TextDeidentifier(use_tagger=False).fit(pd.DataFrame({"patient": [], "text": []}), [])
    notes = pd.DataFrame({"patient": ["a", "a"], "text": ["MRN: 00482913 verified", "old chart 00482913 filed"]})
    res = m.deidentify(notes, SurrogateGenerator(key=b"s" * 32))
    assert all("00482913" not in t for t in res.texts) and res.n_propagated == 1
