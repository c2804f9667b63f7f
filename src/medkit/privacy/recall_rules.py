"""Recall rules from an error analysis of out-of-fold CRF misses on the *tuning* patients only.

General classes of misses and the mechanism that now covers each:

* **places in the corpus dictionaries** the tagger scored low ("GBMC", "VAMC", "ANNAPOLIS", "IBM"): whole
  entries of the hospital, local-place, location and company lists are matched as phrases, unless every word
  of the entry is an everyday word of the training notes (``Lexicon.common`` >= 3: "Harbor" alone stays a
  candidate, "general" does not); states and countries are not looked up (they are not Safe Harbor PHI);
* **month/day dates in date context** ("s/p CABG x3 10/5", "arrived at 0330 3/7", "3/9 AM"): an ``m/d``
  after a date preposition, a procedure, a clock time, or before AM/PM, minus the clinical-fraction filters;
* **years after s/p and in year lists** ("s/p resection 1977", "CABG 1957, 1971");
* **split spans**: two found spans joined only by a hyphen or slash ("Kessler-Adventist Hosp") become one
  (the hyphen was left visible and the PHI counted as leaked);
* **names that continue a found name**: a rare word (never or rarely seen outside PHI in the training notes)
  right after a found name ("Dr. Sarah O'Driscoll", "Nancy Cetrone", "barbara j. parrilli"), or a listed first
  name right before one, joins the name;
* **names after Mr/Mrs/Ms, slash-written phones, "ref #" numbers, m/d/yy dates outside vent settings**;
* **relatives named before or after a relation word with other punctuation** ("DAUGHTER-KRISSY",
  "URSLA MORETTI (DAUGHTER)").
"""

from __future__ import annotations

import re

from medkit.privacy.lexicon import Lexicon
from medkit.privacy.phi import NAME_TYPES, PhiSpan, merge_spans

PLACE_PHRASE_GROUPS = ("hospital", "local_place", "location", "company")
_COMMON_MIN = 3  # a word seen this often outside PHI in the training notes is an everyday word

_MD = r"(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])"
_DATE_BEFORE = re.compile(r"(?i)(?:\b(?:s/p|on|since|until|til|till|from|post|dated?|mi|cabg(?: ?x ?\d)?|cath|"
                          r"admit(?:ted)?|adm|d/c|dc|thru|through|started|of)\W{0,3}|\b\d{4} |\d ?(?:am|pm|a|p) )$")
_DATE_AFTER = re.compile(r"(?i) ?(?:am|pm)\b")
_MD_ANY = re.compile(r"(?<![\d/.:-])" + _MD + r"(?![\d/%]|\.\d)")
_YEAR = r"(?:19[4-9]\d|20[0-3]\d)"
_YEAR_AFTER_SP = re.compile(r"(?i)\b(?:s/p|status post)\s+(?:[\w-]+\s+){0,3}?(" + _YEAR + r")\b(?!\.\d|[\d%])")
_YEAR_LIST = re.compile(_YEAR + r",? (?:and )?(" + _YEAR + r")\b(?!\.\d|[\d%])")
_JOINER = re.compile(r"[-/]")
_NEXT = re.compile(r" (?:([A-Za-z])\.? )?([A-Za-z][A-Za-z-]*(?:'[A-Za-z]{2,})?)\b")
_PREV = re.compile(r"\b([A-Za-z][a-z]+|[A-Z]{2,}) $")
_RELATION_WORDS = (r"wife|husband|daughter|dtr|son|sister|brother|mother|mom|father|dad|niece|neice|nephew|"
                   r"friend|fiance|grandson|granddaughter|aunt|uncle|cousin|spouse|proxy|hcp")
_RELATION_DASH = re.compile(r"(?i)\b(?:" + _RELATION_WORDS + r")\s*[-=]+\s*([A-Za-z][A-Za-z']+)\b")
_BEFORE_RELATION = re.compile(r"\b([A-Za-z][A-Za-z']+)(?: ([A-Za-z][A-Za-z']+))? \((?i:" + _RELATION_WORDS + r")\)")
_TITLE_NAME = re.compile(r"\b(Mr|MR|mr|Mrs|MRS|mrs|Ms|MS|ms|Miss|MISS|miss)\.? ([A-Za-z][A-Za-z-]+(?:'[A-Za-z]{2,})?)")
_SLASH_PHONE = re.compile(r"(?<![\d/])\d{3}/\d{3}/\d{4}(?![\d/])")
_REF_NUMBER = re.compile(r"(?i)\b(?:ref(?:erence)?|conf(?:irmation)?|claim|policy|#)\s*(?:#|no\.?|number)?[: ]*(\d{5,})\b")
_MDY2 = re.compile(r"(?<![\d/.])" + _MD + r"/\d\d(?!\.\d|[\d/%])")
_NOT_NAMES = {"and", "the", "at", "in", "is", "was", "to", "who", "has", "had", "here", "also", "both", "or",
              "called", "came", "very", "may", "are", "were", "visited", "present", "updated", "aware", "md",
              "rn", "np", "pa", "bsn", "phd", "of", "for", "with", "on", "by", "as", "it", "he", "she", "his",
              "her", "they", "we", "pt", "patient"}


def _common(lexicon: Lexicon, word: str) -> int:
    return lexicon.common.get(word.lower(), 0)


def dictionary_places(text: str, lexicon: Lexicon) -> list[PhiSpan]:
    """Whole dictionary entries (hospitals, local places, locations, companies) found in ``text``."""
    pattern = lexicon.phrase_pattern(PLACE_PHRASE_GROUPS, _COMMON_MIN)
    if pattern is None:
        return []
    return [PhiSpan(m.start(), m.end(), "Location", "dictionary", 0.5) for m in pattern.finditer(text)]


def context_dates(text: str) -> list[PhiSpan]:
    """``m/d`` dates in date context, years after "s/p ..." and the second year of a year list."""
    from medkit.privacy.context_rules import drop_clinical_fractions

    out = []
    for m in _MD_ANY.finditer(text):
        if _DATE_BEFORE.search(text[max(0, m.start() - 20):m.start()]) or _DATE_AFTER.match(text, m.end()):
            out.append(PhiSpan(m.start(), m.end(), "Date", "context", 0.5))
    # the clinical-fraction filter applies to these guesses as to the taggers' ("PSV increased to 10/5")
    out = [PhiSpan(s.start, s.end, s.type, "crf", s.score) for s in out]
    out = [PhiSpan(s.start, s.end, s.type, "context", s.score) for s in drop_clinical_fractions(out, text)]
    for pat in (_YEAR_AFTER_SP, _YEAR_LIST):
        out += [PhiSpan(m.start(1), m.end(1), "DateYear", "context", 0.5) for m in pat.finditer(text)]
    return out


def titled_names_and_numbers(text: str, lexicon: Lexicon) -> list[PhiSpan]:
    """Rare words after Mr/Mrs/Ms/Miss ("Mrs. McLaughlin"; after "MS" only a capitalised word, since MS is also
    mental status), slash-written phone numbers, numbers after "ref #"/"confirmation", and ``m/d/yy`` dates
    outside ventilator context (``12/5/40`` settings stay)."""
    from medkit.privacy.context_rules import _VENT_BEFORE

    out = []
    for m in _TITLE_NAME.finditer(text):
        w = m.group(2)
        if m.group(1).lower() == "ms" and w.islower():
            continue
        if _common(lexicon, w) < _COMMON_MIN and w.lower() not in _NOT_NAMES:
            out.append(PhiSpan(m.start(2), m.end(2), "PTName", "context", 0.5))
    out += [PhiSpan(m.start(), m.end(), "Phone", "context", 0.5) for m in _SLASH_PHONE.finditer(text)]
    out += [PhiSpan(m.start(1), m.end(1), "ID", "context", 0.5) for m in _REF_NUMBER.finditer(text)]
    out += [PhiSpan(m.start(), m.end(), "Date", "context", 0.5) for m in _MDY2.finditer(text)
            if not _VENT_BEFORE.search(text[max(0, m.start() - 30):m.start()])]
    return out


def relative_names(text: str, lexicon: Lexicon) -> list[PhiSpan]:
    """Rare words joined to a relation word by a dash ("DAUGHTER-KRISSY") or followed by "(daughter)"."""
    out = []
    for m in _RELATION_DASH.finditer(text):
        if _common(lexicon, m.group(1)) < _COMMON_MIN and m.group(1).lower() not in _NOT_NAMES:
            out.append(PhiSpan(m.start(1), m.end(1), "RelativeProxyName", "context", 0.5))
    for m in _BEFORE_RELATION.finditer(text):
        for g in (1, 2):
            w = m.group(g)
            if w and _common(lexicon, w) < _COMMON_MIN and w.lower() not in _NOT_NAMES:
                out.append(PhiSpan(m.start(g), m.end(g), "RelativeProxyName", "context", 0.5))
    return out


def extend_names(spans: list[PhiSpan], text: str, lexicon: Lexicon) -> list[PhiSpan]:
    """Grow name spans over a following rare word (optionally after an initial) and a preceding first name."""
    first = set().union(*(lexicon.groups.get(g, set()) for g in ("fname", "fname_amb", "fname_pop", "doctor")))
    out = []
    for s in spans:
        start, end = s.start, s.end
        if s.type in NAME_TYPES:
            nxt = _NEXT.match(text, end) if text[end - 1:end].isalpha() else None  # "Lange, call": no
            if nxt:
                w = nxt.group(2)
                if w.lower() not in _NOT_NAMES and _common(lexicon, w) < _COMMON_MIN and len(w) >= 2:
                    end = nxt.end()
            prev = _PREV.search(text, max(0, start - 20), start)
            if prev and prev.group(1).lower() in first and prev.group(1).lower() not in _NOT_NAMES \
                    and _common(lexicon, prev.group(1)) < 10:
                start = prev.start(1)
        out.append(PhiSpan(start, end, s.type, s.source, s.score) if (start, end) != (s.start, s.end) else s)
    return merge_spans(out, text)


def join_split_spans(spans: list[PhiSpan], text: str) -> list[PhiSpan]:
    """Merge two spans separated by exactly one hyphen or slash (no space): "Kessler" "-" "Adventist Hosp"."""
    if not spans:
        return spans
    ordered = sorted(spans)
    out = [ordered[0]]
    for s in ordered[1:]:
        last = out[-1]
        if s.start == last.end + 1 and _JOINER.fullmatch(text[last.end]):
            best = last if last.score >= s.score else s
            out[-1] = PhiSpan(last.start, s.end, best.type, best.source, max(last.score, s.score))
        else:
            out.append(s)
    return out


_CACHE_MAX = 20000


def recall_candidates(text: str, lexicon: Lexicon) -> list[PhiSpan]:
    """The dictionary place, context date and relative-name spans of one note.

    They do not depend on any threshold, so they are memoised per lexicon state (threshold grids re-run
    :meth:`TextDeidentifier._finalise` on the same notes many times; the phrase regex is the slow part).
    """
    # keyed on the very ``common`` dict (held, so its id cannot be reused) and its size: fitting assigns a new one
    common, size, cache = lexicon.__dict__.get("_recall_cache", (None, -1, {}))
    if common is not lexicon.common or size != len(lexicon.common) or len(cache) >= _CACHE_MAX:
        cache = {}
        lexicon.__dict__["_recall_cache"] = (lexicon.common, len(lexicon.common), cache)
    if text not in cache:
        cache[text] = (dictionary_places(text, lexicon) + context_dates(text) + relative_names(text, lexicon)
                       + titled_names_and_numbers(text, lexicon))
    return list(cache[text])


def refine_spans(spans: list[PhiSpan], text: str, lexicon: Lexicon) -> list[PhiSpan]:
    """Extend names over their rare neighbours, then join spans split by a hyphen or slash."""
    return join_split_spans(extend_names(spans, text, lexicon), text)
