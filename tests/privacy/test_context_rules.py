"""Context rules and new patterns found by error analysis on the tuning patients (crafted notes, no corpus text)."""

from __future__ import annotations

import re

from medkit.privacy.context_rules import apply_context_rules, drop_impossible_dates, drop_st_segments, expand_spans
from medkit.privacy.lexicon import Lexicon
from medkit.privacy.phi import PhiSpan
from medkit.privacy.rules import confident_spans


def _lex() -> Lexicon:
    lex = Lexicon(groups={"fname": {"mary"}, "fname_amb": {"rose", "will", "hope"}, "ethnic": {"russian"}})
    lex.common = {"rose": 12, "will": 400, "with": 900, "degree": 40, "the": 5000, "outside": 60}
    return lex


def _found(text: str, spans: list[PhiSpan]) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.type) for s in spans]


def test_relation_word_then_first_name_even_if_common() -> None:
    text = "wife, rose, left phone number. daughter Mary in. son will call. wife at bedside."
    got = _found(text, apply_context_rules([], text, _lex()))
    assert ("rose,", "RelativeProxyName") in got and ("Mary", "RelativeProxyName") in got  # comma joins
    assert all(w not in {"will", "at"} for w, _ in got)  # "son will call" is no name


def test_rare_word_before_institution_is_a_place_common_one_is_not() -> None:
    text = "transfer to tele bed on mackerer campus; came from outside hospital"
    assert _found(text, apply_context_rules([], text, _lex())) == [("mackerer", "Location")]


def test_st_segment_is_not_saint() -> None:
    text = "ST WITH PVCS. moved to St Agnes."
    rules = [s for s in confident_spans(text) if s.type == "Location"]
    assert len(rules) == 2  # the pattern alone fires on both ...
    kept = _found(text, drop_st_segments(rules, text, _lex()))
    assert kept == [("St Agnes", "Location")]  # ... the ST segment ("with" is an everyday word) is dropped


def test_particles_initials_and_extensions_are_joined() -> None:
    text = "Dr. o rourke in. MS S. CARE. call 410 392 0780 x45. or (201-223-4567) per Dr Lange, ok"
    i_o = text.index("o rourke")
    i_s = text.index("S. CARE")
    spans = [PhiSpan(i_o, i_o + 1, "HCPName", "crf", 0.1), PhiSpan(i_s, i_s + 1, "PTNameInitial", "crf", 0.4)]
    spans += [s for s in confident_spans(text) if s.type in {"Phone", "HCPName"}]
    got = [w for w, _ in _found(text, expand_spans(spans, text))]
    assert "o rourke" in got and "S." in got and "410 392 0780 x45." in got
    assert "(201-223-4567)" in got and "Lange," in got  # punctuation the corpus annotates with the identifier
    rourke = text.index("rourke")
    assert _found(text, expand_spans([PhiSpan(rourke, rourke + 6, "HCPName", "crf", 0.9)], text)) == [
        ("o rourke", "HCPName")]


def test_impossible_tagger_dates_are_dropped() -> None:
    text = "PEEP 30/22, shift 0700-1900, seen 7/22 and 8/84, 2004-01"
    spans = [PhiSpan(m, m + len(w), "Date", "crf", 0.3) for w in ("30/22", "0700-1900", "7/22", "8/84", "2004-01")
             for m in [text.index(w)]]
    assert [w for w, _ in _found(text, drop_impossible_dates(spans, text))] == ["7/22", "8/84", "2004-01"]


def test_new_patterns_date_ranges_and_apostrophe_years() -> None:
    cases = {"HAD TREATMENTS 10/03/10/04 AND": "10/03/10/04", "STOPPED SMOKING 62'. SOCIAL": "62'",
             "MI in '92 then": "'92"}
    for text, want in cases.items():
        assert want in [w for w, _ in _found(text, confident_spans(text))], text
    for text in ("HOB 30' at all times", "ht 5'6\" wt 70", "temp 37.5, 1/2 NS"):
        assert not [s for s in confident_spans(text) if s.type in {"Date", "DateYear"}], text


def test_misspelt_found_names_are_removed_but_everyday_words_are_not() -> None:
    from medkit.privacy.text_deid import _edits_within, _misspelled

    assert _edits_within("vasquez", "vaquez", 1) and not _edits_within("vasquez", "vaseqez", 1)
    assert _edits_within("stronczek", "stronzcek", 2) and not _edits_within("healey", "heparin", 2)
    text = "seen by VAQUEZ and Vasquex; vasquez aware. stable."
    covered = bytearray(len(text) + 1)
    got = [text[s.start:s.end] for s in _misspelled({"vasquez": "HCPName"}, text, covered, {"stable": 50})]
    assert got == ["VAQUEZ", "Vasquex"]  # exact copies are propagated by the term pattern, not here
    assert _misspelled({"stabel": "HCPName"}, text, covered, {"stable": 50}) == []  # everyday word kept


def test_absorbed_punctuation_is_kept_and_surrogates_stay_consistent() -> None:
    import pandas as pd

    from medkit.privacy.surrogates import SurrogateGenerator
    from medkit.privacy.text_deid import TextDeidentifier

    notes = pd.DataFrame({"patient": ["1", "1"], "text": ["per Dr Lange, call (201-223-4567) today",
                                                         "Dr Lange aware"]})
    model = TextDeidentifier(use_tagger=False).fit(notes, [[], []], lexicon=_lex())
    res = model.deidentify(notes, SurrogateGenerator(key=b"k" * 32, lexicon=_lex()))
    a, b = res.texts
    assert "Lange" not in a + b and "4567" not in a
    sur = b.split()[1]
    assert f"Dr {sur}, call (" in a and a.endswith(") today")  # comma and brackets survive


def test_threshold_choice_recall_first_then_precision_floor() -> None:
    from types import SimpleNamespace as S

    from medkit.privacy.text_deid import choose_threshold

    curve = {0.01: S(recall=0.985, precision=0.60), 0.02: S(recall=0.975, precision=0.81),
             0.05: S(recall=0.96, precision=0.88)}
    assert choose_threshold(curve, 0.97) == 0.02  # largest threshold reaching the recall target
    assert choose_threshold(curve, 0.99) == 0.01  # out of reach, no floor: recall first
    assert choose_threshold(curve, 0.99, min_precision=0.80) == 0.02  # most recall keeping precision >= 0.80
    assert choose_threshold(curve, 0.99, min_precision=0.95) == 0.01  # floor out of reach too: recall first


def test_patterns_from_the_out_of_fold_error_analysis() -> None:
    cases = {
        "PMH: CABG 81, Redo CABG 84, MVR,MI 1992. HTN": ["81", "84", "1992"],
        "prostate CA'88, GERD, fx 5/97, echo 8/87": ["'88", "5/97", "8/87"],
        "Nursing Progress Note \n28 Oct, 88 0700-1245": ["28 Oct, 88"],
        "lives at 19 Clover St. in town": ["19 Clover St."],
        "per Dr. Cole, and Dr. o rourke in room": ["Cole", "o rourke"],
        "POSSIBLE MI IN 1980S AFTER": ["1980S"],
        "NIDDM. 09 PTCA to LCX": ["09"],
    }
    for text, wants in cases.items():
        got = [w for w, _ in _found(text, confident_spans(text))]
        for w in wants:
            assert w in got, (text, w, got)
    for text in ("DR AND FAMILY MEETING", "Dr. aware of K 3.2", "CA 10.2, MI 0.5 ng", "HR 70'S-80'S"):
        assert not [s for s in confident_spans(text) if s.type in {"HCPName", "DateYear", "Date"}], text


def test_clinician_before_credential() -> None:
    text = "Social: Andrwe O'connell MD spoke with daughter. Stoma RN aware."
    lex = _lex()
    lex.common["stoma"] = 40
    assert _found(text, apply_context_rules([], text, lex)) == [("Andrwe O'connell", "HCPName")]


def test_clinical_fractions_are_not_dates() -> None:
    from medkit.privacy.context_rules import drop_clinical_fractions

    text = "PSV 10/5 ok. BIPAP 10/5 50%. c/o CP 8/10. +3/6 SEM. BC 4/4 bottles. extubated on 10/5. seen 7/22."
    spans = [PhiSpan(m.start(), m.end(), "Date", "crf", 0.3) for m in re.finditer(r"\d+/\d+", text)]
    kept = [w for w, _ in _found(text, drop_clinical_fractions(spans, text))]
    assert kept == ["10/5", "7/22"] and text.index("on 10/5") + 3 == [s.start for s in
                                                                       drop_clinical_fractions(spans, text)][0]


def test_simple_fractions_and_digitless_dates_from_the_tagger_are_dropped() -> None:
    from medkit.privacy.context_rules import drop_clinical_fractions

    text = "gave 1/2 NS, 3/4 of the time, pager on, since March, MI 3/9"
    spans = [PhiSpan(text.index(w), text.index(w) + len(w), "Date", "crf", 0.3)
             for w in ("1/2", "3/4", "pager", "March", "3/9")]
    assert [w for w, _ in _found(text, drop_clinical_fractions(spans, text))] == ["March", "3/9"]
    rule = [PhiSpan(text.index("1/2"), text.index("1/2") + 3, "Date", "rule")]
    assert drop_clinical_fractions(rule, text) == rule  # only tagger spans are filtered


def test_university_hospital_antecubital_dates_and_named_credential() -> None:
    from medkit.privacy.context_rules import drop_clinical_fractions

    text = "FROM UNIVERSITY OF MD MEDICAL CENTER TO U OF MD MED CENTER"
    assert [w for w, _ in _found(text, confident_spans(text))] == ["UNIVERSITY OF MD MEDICAL CENTER",
                                                                   "U OF MD MED CENTER"]
    text = "PICC PLACED IN R AC 11/17, HCT 30 POST 3/3 TX"
    spans = [PhiSpan(text.index(w), text.index(w) + len(w), "Date", "crf", 0.3) for w in ("11/17", "3/3")]
    assert len(drop_clinical_fractions(spans, text)) == 2  # antecubital, not assist-control; 3/3 is no fraction
    lex = _lex()
    lex.groups["fname"].add("bernard")
    lex.common["foley"] = 300
    text = "on servo vent. \nBernard Foley CRT"
    assert _found(text, apply_context_rules([], text, lex)) == [("Bernard Foley", "HCPName")]


def test_models_saved_before_the_new_options_still_load(tmp_path) -> None:
    import pandas as pd

    from medkit.privacy.text_deid import TextDeidentifier
    from medkit.privacy.text_workflow import load_model, save_model

    notes = pd.DataFrame({"patient": ["1"], "text": ["Dr Lange aware, call 410-555-9876"]})
    model = TextDeidentifier(use_tagger=False).fit(notes, [[]], lexicon=_lex())
    for attr in ("context_rules", "propagate_min_score", "fuzzy_propagate"):
        delattr(model, attr)  # what an older pickle holds
    loaded = load_model(save_model(model, tmp_path))
    assert loaded.context_rules is True and loaded.fuzzy_propagate is False
    assert [notes.text[0][s.start:s.end] for s in loaded.detect_notes(notes)[0]] == ["Lange", "410-555-9876"]
