"""Context rules that need the lexicon: applied to the merged rule + CRF spans of one note.

They target the misses and false alarms found by error analysis on the *tuning* patients of the PhysioNet
deid corpus (never the held-out ones):

* names right after a relation word ("wife, rose,") that the CRF scores low because the name is also an
  everyday word: found when the word is in a first-name list or never seen outside PHI ("husband milovan");
* a rare word right before an institution word ("on mackerer campus") is a place, rare title-case words
  before a credential ("Andrwe O'connell MD") are a clinician's name;
* name particles and initials left outside a found surname ("Dr. o rourke", "M. PEPPLER", "d ross"), the
  second part of a hyphenated name and a ward number ("quartermain2") are joined to their span, and the
  period of an initial ("MS S. CARE") or of a phone extension joins its span (half an initial is a miss);
* tagger "dates" that are no calendar dates (``30/22``, ``0700-1900``) or are clinical fractions
  (ventilator settings "PSV 10/5", pain scores "CP 8/10", "3/6 SEM", "4/4 bottles") are dropped;
* "St X" (Saint X) spans whose second word is an everyday word ("ST WITH", "st degree") are dropped: in
  ICU notes they are ST segments, not places.
"""

from __future__ import annotations

import re

from medkit.privacy.lexicon import Lexicon
from medkit.privacy.phi import NAME_TYPES, PhiSpan, merge_spans

_RELATION = re.compile(r"\b(?:wife|husband|daughter|dtr|son|sister|sis|brother|bro|mother|mom|father|dad|niece|"
                       r"nephew|friend|fiance|fiancee|partner|grandson|granddaughter|aunt|uncle|cousin|"
                       r"son-in-law|daughter-in-law|sister-in-law|brother-in-law|hcp|proxy|spouse|gf|bf)"
                       r"(,|:| named| is| \()?\s+([A-Za-z][a-z']+|[A-Z]{2,})\b", re.I)
_INSTITUTION_AFTER = re.compile(r"\b([A-Za-z][A-Za-z']{2,}) (?:campus|hospital|hosp|rehab|nursing home|"
                                r"medical center|med center|clinic|hospice|house|manor|center)\b", re.I)
_PARTICLE = re.compile(r"\b(?:o|mc|mac|van|von|de|del|della|la|le|du|di|da|st|ter)['.]? ?$", re.I)
_INITIAL_BEFORE = re.compile(r"[A-Za-z]\.? $")
_HYPHEN_AFTER = re.compile(r"-[A-Za-z]{2,}\b")
_NEXT_WORD = re.compile(r"['.]? ?[A-Za-z][a-z']+")
_FIRST_NAME_GROUPS = ("fname", "fname_amb", "fname_pop", "doctor")
_NOT_NAMES = {"will", "and", "the", "at", "in", "is", "was", "to", "who", "has", "had", "here", "also", "both",
              "called", "came", "very", "may", "are", "were", "visited", "present", "updated", "aware"}


def relation_names(text: str, lexicon: Lexicon) -> list[PhiSpan]:
    """First names right after a relation word: ``wife, rose``, ``daughter Mary``."""
    out = []
    for m in _RELATION.finditer(text):
        word = m.group(2)
        lw = word.lower()
        listed = any(lw in lexicon.groups.get(g, ()) for g in _FIRST_NAME_GROUPS)
        never_seen = lexicon.common.get(lw, 0) < 2 and len(lw) >= 3 and lw.isalpha()  # "husband milovan"
        if lw in _NOT_NAMES or not (listed or never_seen):
            continue
        separated = m.group(1) is not None  # "wife, rose" / "wife named rose": a name, however common
        if separated or lexicon.common.get(lw, 0) < 10 or word[:1].isupper() and not word.isupper():
            out.append(PhiSpan(m.start(2), m.end(2), "RelativeProxyName", "context", 0.5))
    return out


def institution_places(text: str, lexicon: Lexicon) -> list[PhiSpan]:
    """A word never (or rarely) seen outside PHI right before an institution word is a place name."""
    out = []
    for m in _INSTITUTION_AFTER.finditer(text):
        lw = m.group(1).lower()
        if lexicon.common.get(lw, 0) < 3 and lw.isalpha():
            out.append(PhiSpan(m.start(1), m.end(1), "Location", "context", 0.5))
    return out


_CREDENTIAL = re.compile(r"\b([A-Z][a-z'A-Z]+(?: [A-Z][a-z'A-Z]+)?),? (?:MD|RN|NP|PA|CRT|RRT|PhD)\b")


def credential_names(text: str, lexicon: Lexicon) -> list[PhiSpan]:
    """Title-case words right before a credential ("Andrwe O'connell MD") that are not everyday words."""
    out = []
    for m in _CREDENTIAL.finditer(text):
        words = m.group(1).lower().split()
        first_name = len(words) == 2 and any(words[0] in lexicon.groups.get(g, ()) for g in _FIRST_NAME_GROUPS)
        if first_name or max(lexicon.common.get(w, 0) for w in words) < 3:  # "Bernard Foley CRT"
            out.append(PhiSpan(m.start(1), m.end(1), "HCPName", "context", 0.5))
    return out


def drop_st_segments(spans: list[PhiSpan], text: str, lexicon: Lexicon) -> list[PhiSpan]:
    """Remove rule "St X" places whose X is an everyday word in the training notes."""
    out = []
    for s in spans:
        piece = text[s.start:s.end]
        if s.source == "rule" and s.type == "Location" and re.match(r"(?i)st\.? ", piece):
            second = piece.split()[-1].lower().strip(".")
            if lexicon.common.get(second, 0) >= 5:
                continue
        out.append(s)
    return out


_MD = re.compile(r"(\d{1,4})[/-](\d{1,4})")


def drop_impossible_dates(spans: list[PhiSpan], text: str) -> list[PhiSpan]:
    """Remove tagger "dates" that cannot be dates: ``30/22``, ``80/7`` (ratios, settings) and ``0700-1900``
    (shift times); ``m/d``, ``m/yy`` and ``yyyy-mm`` stay. Rule dates are already validated by their patterns."""
    out = []
    for s in spans:
        m = _MD.fullmatch(text[s.start:s.end].strip()) if s.source in TAGGER_SOURCES and s.type == "Date" else None
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            year_month = 1900 <= a <= 2039 and 1 <= b <= 12  # 2004-01
            month_day_or_year = 1 <= a <= 12 and len(m.group(2)) <= 2  # 7/22 or 8/84 (m/yy)
            if not (year_month or month_day_or_year):
                continue
        out.append(s)
    return out


_VENT_BEFORE = re.compile(r"(?i)\b(?:psv?|cpap|bi-?pap|peep|imv|simv|ips|ipap|epap|vent\w*|settings?|flowby|"
                          r"mask|trach collar)\b[^.\n]{0,12}$")
_PAIN_BEFORE = re.compile(r"(?i)\b(?:pain|cp|c/o|discomfort|rated|scale|angina)\b[^.\n]{0,15}$")
_CLINICAL_AFTER = re.compile(r"(?i)^(?:\s*%|/\d|\s*(?:sem|murmur|strength|brisk|bottles?|ips|peep|psv)\b)")


_NUMERIC_TYPES = {"Date", "DateYear", "Phone", "Age", "Zip", "ID"}
TAGGER_SOURCES = frozenset({"crf", "minilm"})  # statistical taggers: their guesses get the plausibility filters
_FRACTION = re.compile(r"1/[234]|2/[34]|3/4")
_MONTH_OR_DAY = re.compile(r"(?i)jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sept?(ember)?|"
                           r"oct(ober)?|nov(ember)?|dec(ember)?|(mon|tues|wednes|thurs|fri|satur|sun)day")


def drop_clinical_fractions(spans: list[PhiSpan], text: str) -> list[PhiSpan]:
    """Remove tagger "dates" that are ventilator settings ("PSV 10/5", "BIPAP 10/5 50%"), pain scores
    ("CP 8/10"), murmur grades, strengths or culture counts ("3/6 SEM", "4/4 bottles"), simple fractions
    (``1/2``, ``3/4``), and numeric-type tagger spans without a digit (month and day names stay)."""
    out = []
    for s in spans:
        piece = text[s.start:s.end].strip()
        if s.source in TAGGER_SOURCES and s.type in _NUMERIC_TYPES and not re.search(r"\d", piece) \
                and not _MONTH_OR_DAY.fullmatch(piece.strip(".,")):
            continue  # "pager", "#", "both" typed as a date or phone by the tagger
        if s.source in TAGGER_SOURCES and s.type == "Date" and _FRACTION.fullmatch(piece):
            continue  # 1/2, 1/3, 2/3, 1/4, 3/4: doses and proportions ("1/2 NS", "3/4 of the time")
        if s.source in TAGGER_SOURCES and s.type == "Date" and _MD.fullmatch(piece):
            before, after = text[max(0, s.start - 30):s.start], text[s.end:s.end + 12]
            pain = _PAIN_BEFORE.search(before) and text[s.start:s.end].strip().endswith("/10")
            if _VENT_BEFORE.search(before) or pain or _CLINICAL_AFTER.match(after):
                continue
        out.append(s)
    return out


def expand_spans(spans: list[PhiSpan], text: str) -> list[PhiSpan]:
    """Join name particles before a name, and the period after an initial or a phone extension."""
    out = []
    for s in spans:
        start, end = s.start, s.end
        piece = text[start:end]
        if s.type in NAME_TYPES:
            pre = _PARTICLE.search(text, max(0, start - 6), start)
            if pre and (pre.start() == 0 or not text[pre.start() - 1].isalnum()):
                start = pre.start()
            ini = _INITIAL_BEFORE.search(text, max(0, start - 4), start)  # "M. PEPPLER", "d ross"
            if ini and (ini.start() == 0 or not text[ini.start() - 1].isalnum()) and ini.group(0)[:2] not in {"a ", "I "}:
                start = ini.start()
            hy = _HYPHEN_AFTER.match(text, end)  # "Retterer-moore"
            end = hy.end() if hy else end
            if _PARTICLE.fullmatch(piece.strip() + " "):  # "o" found, "rourke" not: the surname follows
                nxt = _NEXT_WORD.match(text, end)
                end = nxt.end() if nxt else end
        if s.type == "Location" and piece.isalpha():  # "quartermain2" (ward number attached)
            dg = re.compile(r"\d{1,3}\b").match(text, end)
            end = dg.end() if dg else end
        if s.type in NAME_TYPES | {"Phone"} and end < len(text) and text[end] in ",:;)" and not piece[-1:].isspace():
            end += 1  # the corpus annotates "Lange," and "4455)": punctuation joins, surrogates keep it
        if s.type == "Phone" and start > 0 and text[start - 1] == "(":
            start -= 1
        if end < len(text) and text[end] == "." and (
                (s.type in NAME_TYPES and len(piece.strip()) == 1 and piece.strip().isalpha())
                or s.type == "Phone"):
            end += 1
        out.append(PhiSpan(start, end, s.type, s.source, s.score) if (start, end) != (s.start, s.end) else s)
    return merge_spans(out, text)


def apply_context_rules(spans: list[PhiSpan], text: str, lexicon: Lexicon) -> list[PhiSpan]:
    """Add context spans, drop impossible dates, expand (:func:`drop_st_segments` runs on the rule spans
    before they are merged with the tagger's, so that a dropped rule hit never takes tagger spans with it)."""
    spans = drop_clinical_fractions(drop_impossible_dates(spans, text), text)
    extra = relation_names(text, lexicon) + institution_places(text, lexicon) + credential_names(text, lexicon)
    spans = merge_spans(spans + extra, text)
    return expand_spans(spans, text)
