"""Context rules and new patterns found by error analysis on the tuning patients (crafted notes, no corpus text)."""

from __future__ import annotations

from medkit.privacy.context_rules import apply_context_rules, drop_impossible_dates, expand_spans
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
    assert ("rose", "RelativeProxyName") in got and ("Mary", "RelativeProxyName") in got
    assert all(w not in {"will", "at"} for w, _ in got)  # "son will call" is no name


def test_rare_word_before_institution_is_a_place_common_one_is_not() -> None:
    text = "transfer to tele bed on mackerer campus; came from outside hospital"
    assert _found(text, apply_context_rules([], text, _lex())) == [("mackerer", "Location")]


def test_st_segment_is_not_saint() -> None:
    text = "ST WITH PVCS. moved to St Agnes."
    rules = [s for s in confident_spans(text) if s.type == "Location"]
    assert len(rules) == 2  # the pattern alone fires on both ...
    kept = _found(text, apply_context_rules(rules, text, _lex()))
    assert kept == [("St Agnes", "Location")]  # ... the ST segment ("with" is an everyday word) is dropped


def test_particles_initials_and_extensions_are_joined() -> None:
    text = "Dr. o rourke in. MS S. CARE. call 410 392 0780 x45."
    i_o = text.index("o rourke")
    i_s = text.index("S. CARE")
    spans = [PhiSpan(i_o, i_o + 1, "HCPName", "crf", 0.1), PhiSpan(i_s, i_s + 1, "PTNameInitial", "crf", 0.4)]
    spans += [s for s in confident_spans(text) if s.type == "Phone"]
    got = [w for w, _ in _found(text, expand_spans(spans, text))]
    assert "o rourke" in got and "S." in got and "410 392 0780 x45." in got
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
