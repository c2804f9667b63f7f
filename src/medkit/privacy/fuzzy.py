"""Misspelt occurrences of found names ("Vasquez" -> "VAQUEZ") for fuzzy propagation in text de-identification."""

from __future__ import annotations

import re
from collections.abc import Mapping

from medkit.privacy.phi import NAME_TYPES, PhiSpan

_PROPAGATE = NAME_TYPES | {"Location"}


def _edits_within(a: str, b: str, k: int) -> bool:
    """Levenshtein distance of ``a`` and ``b`` is at most ``k`` (banded dynamic programme)."""
    if abs(len(a) - len(b)) > k:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        if min(cur) > k:
            return False
        prev = cur
    return prev[-1] <= k


def _misspelled(found: Mapping[str, str], text: str, covered: bytearray, common: Mapping[str, int]
                ) -> list[PhiSpan]:
    """Spans of words in ``text`` that are near-misspellings of found single-word names/places."""
    names = [(t, typ) for t, typ in found.items() if typ in _PROPAGATE and t.isalpha() and len(t) >= 5]
    out: list[PhiSpan] = []
    if not names:
        return out
    for m in re.finditer(r"[A-Za-z]{5,}", text):
        w = m.group(0).lower()
        if w in found or common.get(w, 0) >= 3 or all(covered[m.start():m.end()]):
            continue
        for t, typ in names:
            if t[0] == w[0] and _edits_within(t, w, 1 if len(t) < 8 else 2):
                out.append(PhiSpan(m.start(), m.end(), typ, "propagated", 0.5))
                break
    return out
