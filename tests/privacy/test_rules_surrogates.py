"""Per-identifier-type detection, surrogate consistency and date shifting."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest

from medkit.core.errors import DataError
from medkit.privacy.phi import PhiSpan, check_utf8, merge_spans, tokenize
from medkit.privacy.rules import confident_spans
from medkit.privacy.surrogates import SurrogateGenerator


def _found(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in confident_spans(text):
        out.setdefault(s.type, []).append(text[s.start:s.end])
    return out


@pytest.mark.parametrize(("text", "typ", "phi"), [
    ("call wife at 410-555-9876 tonight", "Phone", "410-555-9876"),
    ("home (617) 555-1234.", "Phone", "(617) 555-1234"),
    ("dtr Frances 212- 476- 8356. ", "Phone", "212- 476- 8356"),
    ("pager 4521 if concerns", "Phone", "4521"),
    ("email jdoe@mgh.harvard.edu re labs", "Email", "jdoe@mgh.harvard.edu"),
    ("see https://portal.example.org/pt?id=7 for images", "URL", "https://portal.example.org/pt?id=7"),
    ("PACS host 10.2.33.140 down", "IP", "10.2.33.140"),
    ("SSN 123-45-6789 on file", "SSN", "123-45-6789"),
    ("MRN: 00482913 verified", "ID", "00482913"),
    ("device serial no. SN-88213-A replaced", "ID", "SN-88213-A"),
    ("admitted 7/22/1993 from ER", "Date", "7/22/1993"),
    ("surgery on 2004-01-19 at GH", "Date", "2004-01-19"),
    ("seen January 3rd, 2004 by cards", "Date", "January 3rd, 2004"),
    ("s/p CABG in 1992, stable", "DateYear", "1992"),
    ("pt is a 94 yo woman", "Age", "94"),
    ("Baltimore, MD 21201 residence", "Zip", "21201"),
    ("was accepted by St. Agnes but", "Location", "St. Agnes"),
    ("on 10-15-19 csru note", "Date", "10-15-19"),
    ("dtr at 202 2671093 today", "Phone", "202 2671093"),
])
def test_each_identifier_type_is_detected(text: str, typ: str, phi: str) -> None:
    assert phi in _found(text).get(typ, []), _found(text)


@pytest.mark.parametrize("text", ["BP 120/80 HR 92", "pt is a 58 yo woman", "gave 1/2 NS", "K 3.9 CR 2.1",
                                  "UO 2130 cc over shift", "ST ELEVATION in V2", "vent 12/5/40", "I/O 800-1000 cc",
                                  "suction x 10 minutes"])
def test_clinical_values_are_not_confident_phi(text: str) -> None:
    assert confident_spans(text) == []


def test_tokenizer_keeps_dates_and_phones_whole() -> None:
    toks = [t.text for t in tokenize("on 7/22 call 410-555-9876, Dr. O'Brien")]
    assert toks == ["on", "7/22", "call", "410-555-9876", ",", "Dr", ".", "O'Brien"]


def test_merge_spans_joins_overlaps_and_keeps_gaps() -> None:
    spans = [PhiSpan(0, 4, "HCPName", "crf", 0.4), PhiSpan(2, 8, "Location", "crf", 0.9), PhiSpan(20, 22, "Date")]
    assert merge_spans(spans) == [PhiSpan(0, 8, "Location", "crf", 0.9), PhiSpan(20, 22, "Date")]


def test_non_utf8_is_an_error_naming_the_byte() -> None:
    with pytest.raises(DataError, match=r"0xe9 at offset 5 \(line 2\)"):
        check_utf8(b"abc\nJ\xe9r\xf4me", "note.txt")


def test_surrogates_consistent_within_patient_and_different_across() -> None:
    gen = SurrogateGenerator(key=b"k" * 32)
    a1 = gen.surrogate("Healey", "HCPName", "p1")
    a2 = gen.surrogate("HEALEY", "HCPName", "p1")
    assert a1.lower() == a2.lower() and a2.isupper()  # same person, case of the original kept
    assert a1.lower() != "healey"
    others = {gen.surrogate("Healey", "HCPName", f"p{i}").lower() for i in range(2, 12)}
    assert len(others | {a1.lower()}) > 3  # other patients get (mostly) different surrogates
    assert gen.surrogate("555-1234", "Phone", "p1") == gen.surrogate("555-1234", "Phone", "p1")
    assert gen.surrogate("555-1234", "Phone", "p1") != gen.surrogate("555-1234", "Phone", "p2")
    assert gen.surrogate("98", "Age", "p1") == "90+"
    # a different key gives different surrogates (no linkage across runs)
    assert SurrogateGenerator(key=b"x" * 32).shift_days("p1") != gen.shift_days("p1") or \
        SurrogateGenerator(key=b"x" * 32).surrogate("Healey", "HCPName", "p1") != a1


def _parse(s: str) -> dt.date:
    if re.fullmatch(r"\d{4}-\d\d-\d\d", s):
        return dt.date.fromisoformat(s)
    m, d, y = (int(x) for x in s.split("/"))
    return dt.date(y, m, d)


def test_date_shift_preserves_intervals_and_format() -> None:
    gen = SurrogateGenerator(key=b"k" * 32)
    dates = ["7/22/1993", "7/23/1993", "12/30/1993", "1/2/1994", "2004-02-28", "2004-03-01"]
    shifted = [gen.shift_date(d, "p1") for d in dates]
    orig = [_parse(d) for d in dates]
    new = [_parse(s) for s in shifted]
    days = gen.shift_days("p1")
    assert 1000 <= days <= 3000
    assert all((n - o).days == days for o, n in zip(orig, new, strict=True))
    assert [(b - a).days for a, b in itertools.pairwise(orig)] == [(b - a).days for a, b in itertools.pairwise(new)]
    assert re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", shifted[0]) and re.fullmatch(r"\d{4}-\d\d-\d\d", shifted[4])
    # dates without a year move by the same offset (in a non-leap reference year)
    md = [gen.shift_date(d, "p1") for d in ("7/22", "7/29")]
    a, b = (dt.date(2001, *map(int, x.split("/"))) for x in md)
    assert abs((b - a).days) in (7, 365 - 7)
    assert gen.shift_date("January 3, 2004", "p1").endswith(str((dt.date(2004, 1, 3) + dt.timedelta(days)).year))
    assert gen.shift_date("13/45", "p1") == "[DATE]"
    assert gen.shift_days("p1") != gen.shift_days("p2") or gen.shift_days("p1") != gen.shift_days("p3")


def test_odd_spans_get_safe_surrogates() -> None:
    gen = SurrogateGenerator(key=b"k" * 32)
    out = gen.surrogate("35-46/30", "DateYear", "p1")  # a tagger false positive typed as a year
    assert out != "35-46/30" and re.fullmatch(r"\d\d-\d\d/\d\d", out)
    assert gen.surrogate("9999-12-31", "Date", "p1") == "[DATE]"  # cannot be shifted: placeholder


def test_explicit_shift_table_is_used() -> None:
    gen = SurrogateGenerator(key=b"k" * 32, shifts={"1": 1993})
    assert gen.shift_date("2000-01-01", "1") == (dt.date(2000, 1, 1) + dt.timedelta(1993)).isoformat()
    assert gen.shift_year("1992", "1") == str((dt.date(1992, 7, 1) + dt.timedelta(1993)).year)
