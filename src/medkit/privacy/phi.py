"""PHI spans, PHI types and the tokenizer shared by the text de-identification pieces.

A :class:`PhiSpan` is a half-open character interval ``[start, end)`` of one note with a PHI type. Types
follow the PhysioNet deid corpus (``HCPName``, ``Date`` ...) extended with the remaining HIPAA Safe Harbor
identifiers that rules find (``Email``, ``URL``, ``IP``, ``SSN``, ``ID`` ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# PHI type -> HIPAA Safe Harbor category (45 CFR 164.514(b)(2)(i)); used for surrogates and reports.
SAFE_HARBOR = {
    "PTName": "name", "PTNameInitial": "name", "HCPName": "name", "RelativeProxyName": "name",
    "Location": "address", "Zip": "address",
    "Date": "date", "DateYear": "date", "Age": "age>89",
    "Phone": "phone/fax", "Email": "email", "URL": "url", "IP": "ip", "SSN": "ssn",
    "ID": "record/account/device number", "Other": "other unique identifier",
}
NAME_TYPES = frozenset({"PTName", "PTNameInitial", "HCPName", "RelativeProxyName"})


@dataclass(frozen=True, order=True)
class PhiSpan:
    """One PHI occurrence: characters ``[start, end)`` of a note, its type and where it came from.

    ``source`` is ``"rule"``, ``"crf"``, ``"dictionary"`` or ``"propagated"`` (the same string found
    elsewhere in the patient's notes) and is kept for audit reports, never the PHI text itself.
    """

    start: int
    end: int
    type: str
    source: str = "rule"
    score: float = 1.0


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int


# Order matters: date/phone-like runs stay one token so a tagger labels them as a unit.
_TOKEN = re.compile(
    r"\(?\d{3}\)?[-.]?\d{3}-\d{4}(?!\d)"      # phone numbers
    r"|\d{1,4}[/-]\d{1,2}(?:[/-]\d{2,4})?"    # 7/22, 7/22/93, 2004-01-02
    r"|[A-Za-z]+(?:'[A-Za-z]+)?"             # words, O'Brien
    r"|\d+(?:\.\d+)?"                         # numbers
    r"|[^\w\s]",                              # single punctuation
)


def tokenize(text: str) -> list[Token]:
    """Split a note into tokens with character offsets (whitespace dropped)."""
    return [Token(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def merge_spans(spans: list[PhiSpan], text: str | None = None) -> list[PhiSpan]:
    """Merge overlapping spans (and spans separated only by spaces when ``text`` is given).

    The type of a merged span is that of its highest-scoring part; rules win ties because their
    types are exact (a phone pattern is a phone).
    """
    if not spans:
        return []
    ordered = sorted(spans, key=lambda s: (s.start, -s.end))
    out = [ordered[0]]
    for s in ordered[1:]:
        last = out[-1]
        gap = text[last.end:s.start] if text is not None and s.start >= last.end else None
        touching = s.start <= last.end or (gap is not None and gap.strip() == "" and len(gap) <= 1
                                            and s.type == last.type)
        if touching:
            best = last if (last.score, last.source == "rule") >= (s.score, s.source == "rule") else s
            out[-1] = PhiSpan(last.start, max(last.end, s.end), best.type, best.source, max(last.score, s.score))
        else:
            out.append(s)
    return out


def check_utf8(raw: bytes, where: str) -> str:
    """Decode ``raw`` as UTF-8 or raise a :class:`DataError` naming the first bad byte."""
    from medkit.core.errors import DataError

    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"text is not valid UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start} (line {line})",
                        where=where, fix="re-encode the file as UTF-8, e.g. iconv -f latin1 -t utf-8 in > out"
                        ) from None
