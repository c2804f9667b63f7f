"""Recall rules from the out-of-fold error analysis (crafted notes, no corpus text)."""

from __future__ import annotations

import pickle

import pytest

from medkit.privacy.lexicon import Lexicon
from medkit.privacy.phi import PhiSpan
from medkit.privacy.recall_rules import (
    context_dates,
    dictionary_places,
    extend_names,
    join_split_spans,
    recall_candidates,
    relative_names,
    titled_names_and_numbers,
)
from medkit.privacy.text_eval import score_detection


def _lex() -> Lexicon:
    lists = {"stripped_hospitals": ["GBMC", "Kernan Hospital", "General"], "local_places_unambig": ["Anne Arundel"],
             "locations_unambig": ["ANNAPOLIS", "HARBOR"], "company_names_ambig": ["IBM"],
             "female_names_unambig": ["Nancy"], "male_names_unambig": ["Sarah"]}
    lex = Lexicon.from_lists(lists)
    lex.common = {"general": 40, "harbor": 1, "the": 900, "his": 300, "spoke": 30, "daughter": 50, "will": 80}
    return lex


def _found(text: str, spans: list[PhiSpan]) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.type) for s in spans]


def test_dictionary_places_match_whole_entries_not_everyday_words() -> None:
    text = "seen by GBMC nurse; old records from ANNAPOLIS; husband CEO of IBM; general surgery; lives in anne  arundel"
    got = _found(text, dictionary_places(text, _lex()))
    assert ("GBMC", "Location") in got and ("ANNAPOLIS", "Location") in got and ("IBM", "Location") in got
    assert ("anne  arundel", "Location") in got  # multi-word entry, any spacing, any case
    assert all(w.lower() != "general" for w, _ in got)  # an everyday word of the training notes is no place


def test_phrase_pattern_survives_pickle_and_follows_common_words() -> None:
    lex = _lex()
    assert lex.phrase_pattern(("hospital",)) is not None
    lex.common["gbmc"] = 5  # once GBMC is an everyday word, it is left out
    again = pickle.loads(pickle.dumps(lex))
    text = "to GBMC"
    assert dictionary_places(text, again) == []


def test_memoised_note_text_never_reaches_a_pickle() -> None:
    # recall_candidates memoises per note text on the lexicon; a saved model pickles its lexicon, so the cache
    # (which holds note text, i.e. PHI) must not be in the pickle, and a reloaded lexicon gives the same spans.
    lex = _lex()
    text = "pt from ANNAPOLIS, DAUGHTER-Nancy called 3/7 re: Mr Zyxwv"
    first = recall_candidates(text, lex)
    assert first and recall_candidates(text, lex) == first  # served from the memo, same spans
    blob = pickle.dumps(lex)
    assert b"Zyxwv" not in blob and b"DAUGHTER-Nancy" not in blob
    assert recall_candidates(text, pickle.loads(blob)) == first


def test_memo_follows_a_replaced_common_dict_of_the_same_size() -> None:
    # refitting assigns a new ``common`` dict; one of the same size must not be served the old dict's spans
    lex = _lex()
    text = "transferred to GBMC today"
    assert any(text[s.start:s.end] == "GBMC" for s in recall_candidates(text, lex))
    size = len(lex.common)
    lex.common = {**{k: v for k, v in lex.common.items() if k != "harbor"}, "gbmc": 5}  # GBMC now everyday
    assert len(lex.common) == size
    assert all(text[s.start:s.end] != "GBMC" for s in recall_candidates(text, lex))


def test_dates_in_date_context_but_not_vent_settings() -> None:
    text = "s/p CABG x3 10/5. arrived 0330 3/7. hct 28 3/9 AM. PSV increased to 10/5 overnight. ratio 3/4"
    got = [w for w, _ in _found(text, context_dates(text))]
    assert got.count("10/5") == 1 and "3/7" in got and "3/9" in got and "3/4" not in got


def test_years_after_sp_and_in_year_lists() -> None:
    text = "lung ca s/p resection 1977. S/P CABG 1957, 1971. gave 2000 units."
    got = _found(text, context_dates(text))
    assert ("1977", "DateYear") in got and ("1971", "DateYear") in got
    assert all(w != "2000" for w, _ in got)


def test_relatives_joined_by_dash_or_followed_by_relation_in_brackets() -> None:
    text = "SOCIAL: DAUGHTER-KRISSY---301. URSLA MORETTI (DAUGHTER) spoke. son - will call"
    got = _found(text, relative_names(text, _lex()))
    assert ("KRISSY", "RelativeProxyName") in got and ("URSLA", "RelativeProxyName") in got
    assert ("MORETTI", "RelativeProxyName") in got and all(w != "will" for w, _ in got)


def test_titled_names_slash_phones_reference_numbers_and_mdy() -> None:
    text = ("Mrs. McLaughlin's speech. MS waxing and waning. call (201/324/1423). ref # 8336652. "
            "admitted 9/2/92. SIMV 12/5/40")
    got = _found(text, titled_names_and_numbers(text, _lex()))
    assert ("McLaughlin", "PTName") in got and ("201/324/1423", "Phone") in got and ("8336652", "ID") in got
    assert ("9/2/92", "Date") in got
    assert all(w not in {"waxing", "12/5/40"} for w, _ in got)


def test_names_continue_over_rare_words_and_back_over_first_names() -> None:
    text = "Dr. Sarah O'Driscoll spoke. Nancy Cetrone his niece. barbara j. parrilli bsn/rn. Smith will call"
    at = text.index
    spans = [PhiSpan(at("Sarah"), at("Sarah") + 5, "HCPName"), PhiSpan(at("Cetrone"), at("Cetrone") + 7, "RelativeProxyName"),
             PhiSpan(at("barbara"), at("barbara") + 7, "HCPName"), PhiSpan(at("Smith"), at("Smith") + 5, "HCPName")]
    got = [w for w, _ in _found(text, extend_names(spans, text, _lex()))]
    assert got == ["Sarah O'Driscoll", "Nancy Cetrone", "barbara j. parrilli", "Smith"]


def test_spans_split_by_a_hyphen_are_joined() -> None:
    text = "transferred from Kessler-Adventist Hosp today - 3/9-3/10"
    at = text.index
    spans = [PhiSpan(at("Kessler"), at("Kessler") + 7, "Location"),
             PhiSpan(at("Adventist"), at("Hosp") + 4, "Location"), PhiSpan(at("today"), at("today") + 5, "Date")]
    got = _found(text, join_split_spans(spans, text))
    assert got[0] == ("Kessler-Adventist Hosp", "Location") and len(got) == 2  # " - " (spaces) is no join
    gold = [PhiSpan(at("Kessler"), at("Hosp") + 4, "Location")]
    assert score_detection([text], [gold], [spans]).recall == 0.0  # the visible hyphen was a leak
    assert score_detection([text], [gold], [join_split_spans(spans, text)]).recall == 1.0


def test_strict_recall_needs_the_same_safe_harbor_category() -> None:
    text = "seen by Dr Lange on 7/22"
    at = text.index
    gold = [PhiSpan(at("Lange"), at("Lange") + 5, "HCPName"), PhiSpan(at("7/22"), at("7/22") + 4, "Date")]
    pred = [PhiSpan(at("Lange"), at("Lange") + 5, "PTName"), PhiSpan(at("7/22"), at("7/22") + 4, "Phone")]
    s = score_detection([text], [gold], [pred])
    assert s.recall == 1.0  # both masked: nothing leaks
    assert s.recall_strict == pytest.approx(0.5)  # a name as another name type counts, a date as a phone not


def test_choose_pair_prefer_recall_spends_the_precision_margin() -> None:
    from medkit.privacy.hybrid_workflow import choose_pair

    class S:
        def __init__(self, r: float, p: float) -> None:
            self.recall, self.precision = r, p

    res = {(0.2, 0.9): S(0.991, 0.93), (0.05, 0.9): S(0.996, 0.90), (0.02, 0.9): S(0.996, 0.88),
           (0.01, 0.5): S(0.999, 0.82)}
    assert choose_pair(res) == (0.2, 0.9)  # session 3: the most precise pair at recall 0.99
    assert choose_pair(res, min_precision=0.85, prefer="recall") == (0.05, 0.9)  # most recall, ties: precision


def test_models_saved_before_recall_rules_load_without_them(tmp_path) -> None:
    from medkit.privacy.text_deid import TextDeidentifier
    from medkit.privacy.text_workflow import load_model, save_model

    m = TextDeidentifier(use_tagger=False)
    assert m.recall_rules is True
    del m.recall_rules  # as pickled by session 3
    assert load_model(save_model(m, tmp_path)).recall_rules is False
