"""Pattern recognisers for HIPAA Safe Harbor identifiers in clinical free text.

Two kinds of pattern:

* ``CONFIDENT`` patterns (phone, e-mail, URL, IP, SSN, full dates, ages over 89, labelled record
  numbers ...) are precise enough to redact on their own;
* ``HINTS`` (``m/d`` dates, two-digit years, bare 5+ digit numbers, capitalised words after a title) are
  ambiguous in nursing notes (``1/2 NS``, ``BP 92``) and only become features for the token tagger, which
  decides from context.
"""

from __future__ import annotations

import re

from medkit.privacy.phi import PhiSpan

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")

_PROC = (r"(?:CABG|MI|PTCA|PCI|stents?|PPM|AICD|ICD|CVA|TIA|MVR|AVR|TURP|chole|appy|fx|ca|hx|dx|dx'd|surgery|"
         r"repair|replacement)")
_NO_UNIT = r"(?! ?(?:mg|cc|ml|min|hr|%|x|mm|units?|meq|mcg|g)\b)"

# (type, compiled pattern, group holding the PHI or 0)
CONFIDENT: list[tuple[str, re.Pattern[str], int]] = [
    ("Email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), 0),
    ("URL", re.compile(r"\b(?:https?://|www\.)[^\s<>\"]+", re.I), 0),
    ("IP", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"), 0),
    ("SSN", re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), 0),
    ("Phone", re.compile(r"(?<!\d)(?:\+?1[-. ]?)?\(?\d{3}\)?[-. ]?\d{3}[-. ]\d{4}(?!\d)"), 0),
    ("Phone", re.compile(r"(?<![\d/])\d{3} ?- ?\d{3} ?- ?\d{4}(?![\d/])"), 0),
    ("Phone", re.compile(r"(?<![\d/])\d{3} \d{3} \d{4}(?![\d/])"), 0),
    ("Phone", re.compile(r"(?<![\d/])\(?\d{3}\)? ?\d{7}(?!\d)"), 0),
    ("Phone", re.compile(r"(?<![\d/])\(\d{3} \d{3} \d{4,5}\)"), 0),
    ("Phone", re.compile(r"(?<![\d/])\(\d{6}-\d{4}\)"), 0),
    ("Phone", re.compile(r"\bext\.? ?\d{2,5}\b", re.I), 0),
    ("Phone", re.compile(r"(?<=\d{4}) ?(x ?\d{1,5})\b", re.I), 1),  # extension right after a phone number
    ("Phone", re.compile(r"\b(?:pager|beeper|beep|phone|tel|cell|fax|page|#)[:# ]*(\d{3,5}(?:-\d{4})?)\b", re.I), 1),
    ("ID", re.compile(r"\b(?:mrn|mr#|med(?:ical)? rec(?:ord)?(?: number| no\.?| #)?|acct|account(?: number| no\.?)?|"
                      r"unit no\.?|ssn|serial(?: number| no\.?)?|device id|id)[:# ]*([A-Z0-9-]*\d[A-Z0-9-]{3,})\b",
                      re.I), 1),
    ("Date", re.compile(r"(?<![\d/])(?:0?[1-9]|1[0-2])[/-](?:0?[1-9]|[12]\d|3[01])[/-](?:19|20)\d\d(?![\d/])"), 0),
    ("Date", re.compile(r"\b(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b"), 0),
    ("Date", re.compile(r"(?<![\d/-])(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])-\d\d(?![\d/-])"), 0),
    ("Location", re.compile(r"\b(?:St|ST|Saint|SAINT)\.? (?!(?i:elevation|depression|changes?|segment|seg|wave|"
                            r"abnormalit)\w*\b)(?:[A-Z][a-z']+|[A-Z]{2,}'?S?)\b"), 0),
    ("Date", re.compile(rf"\b{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?(?:,? (?:1[89]|20)\d\d)?\b", re.I), 0),
    ("Date", re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTH},? (?:19|20)\d\d\b", re.I), 0),
    # found by error analysis on the tuning patients (each checked there for precision before adding):
    # street addresses, "21 Apr, 88", "nov. 2016", "11/21.93", m/yy with a year that cannot be a day ("8/87"),
    # years after a past procedure ("CABG 81", "MI 1992"), decades ("1980s"), "Dr X" (any X but a stopword)
    ("Location", re.compile(r"\b\d{1,5} [A-Z][a-z]+(?: [A-Z][a-z]+)? (?:St|Street|Ave|Avenue|Rd|Road|Blvd|Lane|Ln|"
                            r"Drive|Way|Court|Ct|Terrace|Pl|Place)\b\.?"), 0),
    ("Date", re.compile(rf"\b\d{{1,2}}(?: ?(?:->|-) ?\d{{1,2}})? {_MONTH}(?:,? (?:'?\d\d|(?:1[89]|20)\d\d))?\b", re.I), 0),
    ("Date", re.compile(rf"\b{_MONTH},? (?:'?\d\d|(?:1[89]|20)\d\d)\b", re.I), 0),
    ("Date", re.compile(r"(?<![\w/.])(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])\.\d\d(?![\d.])"), 0),
    ("Date", re.compile(r"(?<![\d/.])(?:0?[1-9]|1[0-2])/(?:[4-9]\d|3[2-9])(?![\d/.%])"), 0),
    ("DateYear", re.compile(rf"\b{_PROC}\s?'?((?:[4-9]\d|0\d))(?!\.\d|[\d/%:]){_NO_UNIT}", re.I), 1),
    ("DateYear", re.compile(rf"\b(?:{_PROC}|is|was)\s+((?:19[4-9]\d|20[0-3]\d))(?!\.\d|[\d/%:]){_NO_UNIT}", re.I), 1),
    ("DateYear", re.compile(rf"(?:^|[.;:]\s+)((?:[4-9]\d|[01]\d))\s+{_PROC}\b", re.I | re.M), 1),  # ". 09 PTCA"
    ("DateYear", re.compile(r"\b(?:19|20)\d0'?s\b", re.I), 0),
    ("HCPName", re.compile(r"\b(?:dr|DR|Dr)\.? (?!(?i:and|aware|notified|called|paged|here|in|at|to|of|on|by|with|"
                           r"for|the|made|ordered|informed|said|is|was|will|has|had|note|notes|order|orders)\b)"
                           r"((?:(?i:o|mc|mac|van|von|de|del|la|le|du|di|da)['.]? )?[A-Za-z][A-Za-z'-]+)\b"), 1),
    ("Location", re.compile(r"\b(?:university|univ|u) of [A-Za-z]+(?: (?:medical|med) (?:center|ctr))?\b", re.I), 0),
    # date ranges written as one run: 10/03/10/04, 9/3-9/5
    ("Date", re.compile(r"(?<![\d/])(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]) ?[/-] ?(?:0?[1-9]|1[0-2])/"
                        r"(?:0?[1-9]|[12]\d|3[01])(?![\d/])"), 0),
    # '92 and 62' (2-digit years); not 5'6" and not head-of-bed angles such as "HOB 30'"
    ("DateYear", re.compile(r"(?<![\d'])'\d\d(?![\w'\"])|(?<![\w'])(?:[5-9]\d|0\d)'(?![\w'\"])"), 0),
    ("DateYear", re.compile(r"\b(?:in|since|from|year|of)\s+((?:19[4-9]\d|20[0-3]\d))\b", re.I), 1),
    ("Age", re.compile(r"\b(9\d|1[01]\d)(?= ?(?:yo\b|y/o|y\.o\.|yr|year|-year))", re.I), 1),
    ("Age", re.compile(r"\bage[ d:]*(9\d|1[01]\d)\b", re.I), 1),
    ("Zip", re.compile(r"\b(?:[A-Z]{2}|maryland|massachusetts|md|ma),? (\d{5}(?:-\d{4})?)\b"), 1),
]

HINTS: list[tuple[str, re.Pattern[str], int]] = [
    # ambiguous in ICU notes: 7-digit phones vs volume ranges (800-1000), m/d/yy vs vent settings (12/5/40),
    # "x45" extensions vs "x 10 minutes"
    ("phone7", re.compile(r"(?<![\d/])\d{3}-\d{4}(?![\d/])"), 0),
    ("mdy2", re.compile(r"(?<![\d/])(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/\d\d(?![\d/])"), 0),
    ("ext", re.compile(r"\bx ?\d{2,5}\b", re.I), 0),
    ("md_date", re.compile(r"(?<![\d/.])(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])(?![\d/])"), 0),
    ("md_dash", re.compile(r"(?<![\d/.-])(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])(?![\d/-])"), 0),
    ("year4", re.compile(r"(?<![\d.$])(?:19[0-9]\d|20[0-3]\d)(?![\d.%])"), 0),
    ("year2", re.compile(r"(?<![\d./])[0-9]\d(?![\d./%])"), 0),
    ("longnum", re.compile(r"(?<![\d.])\d{5,}(?![\d.])"), 0),
    ("num3", re.compile(r"(?<![\d.])\d{3,4}(?![\d.])"), 0),
    ("titled", re.compile(r"\b(?:dr|mr|mrs|ms|miss|md|rn|np|pa|nurse|doctor|dr\.)\.? ([A-Za-z]+)", re.I), 1),
    ("phone_ctx", re.compile(r"\b(?:call|phone|pager|beeper|number|tel|cell|#)\W{0,3}(\S+)", re.I), 1),
    ("age_ctx", re.compile(r"\b(\d{2,3})(?= ?(?:yo\b|y/o|yr|year))", re.I), 1),
]


def find_patterns(text: str, patterns: list[tuple[str, re.Pattern[str], int]], source: str = "rule"
                  ) -> list[PhiSpan]:
    """All matches of ``patterns`` in ``text`` as spans (the capture group when one is named)."""
    out: list[PhiSpan] = []
    for typ, pat, grp in patterns:
        for m in pat.finditer(text):
            s, e = m.span(grp)
            if e > s:
                out.append(PhiSpan(s, e, typ, source))
    return out


def confident_spans(text: str) -> list[PhiSpan]:
    """Spans of the precise Safe Harbor patterns (redacted whatever the tagger says)."""
    return find_patterns(text, CONFIDENT, "rule")


def hint_spans(text: str) -> list[PhiSpan]:
    """Ambiguous pattern matches, typed by hint name (tagger features only)."""
    return find_patterns(text, HINTS, "hint")
