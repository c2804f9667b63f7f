"""Name, place and organisation dictionaries used as tagger features and surrogate pools.

Built from the PhysioNet deid ``lists/`` folder (``unambig`` lists hold names that are not common English
words, ``ambig`` ones that are, e.g. "Hope", "Bill"). Every lookup is case-insensitive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# feature name -> list files (stems) that feed it
_GROUPS: dict[str, tuple[str, ...]] = {
    "fname": ("female_names_unambig", "male_names_unambig"),
    "fname_amb": ("female_names_ambig", "male_names_ambig"),
    "fname_pop": ("female_names_popular", "male_names_popular"),
    "lname": ("last_names_unambig",),
    "lname_amb": ("last_names_ambig",),
    "lname_pop": ("last_names_popular",),
    "doctor": ("doctor_first_names", "doctor_last_names"),
    "loc": ("locations_unambig", "local_places_unambig", "countries_unambig", "us_states"),
    "loc_amb": ("locations_ambig", "local_places_ambig"),
    "hospital": ("stripped_hospitals",),
    "company": ("company_names_unambig",),
    "state_abbr": ("us_states_abbre", "more_us_state_abbreviations"),
    "ethnic": ("ethnicities_unambig",),
    "name_prefix": ("prefixes_unambig", "last_name_prefixes"),
}

# phrase group -> list files whose whole entries are looked up as phrases (places and organisations)
_PHRASE_GROUPS: dict[str, tuple[str, ...]] = {
    "hospital": ("stripped_hospitals",),
    "local_place": ("local_places_unambig", "local_places_ambig"),
    "location": ("locations_unambig",),
    "company": ("company_names_unambig", "company_names_ambig"),
}

# Small built-in pools so surrogates work without the corpus lists (fictional, common US values).
_FALLBACK_FIRST = ("Alex", "Jordan", "Morgan", "Taylor", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Parker")
_FALLBACK_LAST = ("Smith", "Miller", "Carter", "Hughes", "Parker", "Bennett", "Foster", "Hayes", "Reed", "Ward")
_FALLBACK_PLACES = ("Springfield", "Riverside", "Fairview", "Greenville", "Franklin", "Clinton", "Madison")


@dataclass
class Lexicon:
    """Token sets per dictionary group plus surrogate pools.

    Attributes
    ----------
    groups
        ``{group: set of lower-cased single tokens}``; multi-word entries contribute each word.
    first_names, last_names, places
        Title-cased pools surrogates are drawn from.
    """

    groups: dict[str, set[str]] = field(default_factory=dict)
    first_names: list[str] = field(default_factory=lambda: list(_FALLBACK_FIRST))
    last_names: list[str] = field(default_factory=lambda: list(_FALLBACK_LAST))
    places: list[str] = field(default_factory=lambda: list(_FALLBACK_PLACES))
    common: dict[str, int] = field(default_factory=dict)
    phrases: dict[str, set[str]] = field(default_factory=dict)
    clusters: Any = None  # optional medkit.privacy.word_clusters.WordClusters (a CRF feature)

    @classmethod
    def from_lists(cls, lists: Mapping[str, Iterable[str]]) -> Lexicon:
        """Build from ``{file stem: entries}`` as returned by :func:`medkit.data.privacy_sets.read_lists`."""
        groups: dict[str, set[str]] = {}
        for feat, stems in _GROUPS.items():
            words: set[str] = set()
            for stem in stems:
                for entry in lists.get(stem, ()):
                    words.update(w.lower().strip(".,") for w in entry.split() if len(w.strip(".,")) > 1)
            groups[feat] = words
        phrases = {g: {" ".join(e.lower().split()) for stem in stems for e in lists.get(stem, ())
                       if len(e.strip()) >= 3} for g, stems in _PHRASE_GROUPS.items()}
        lex = cls(groups=groups, phrases=phrases)
        pop_first = [w.title() for s in ("female_names_popular", "male_names_popular") for w in lists.get(s, ())]
        pop_last = [w.title() for w in lists.get("last_names_popular", ())]
        places = [w for w in lists.get("locations_unambig", ()) if w.isalpha() and len(w) > 3][:500]
        if pop_first:
            lex.first_names = sorted(set(pop_first))
        if pop_last:
            lex.last_names = sorted(set(pop_last))
        if places:
            lex.places = sorted(set(places))
        return lex

    def frequency_bucket(self, word: str, exclude: Mapping[str, int] | None = None) -> str:
        """How often ``word`` occurred outside PHI in the training notes: ``0``, ``1-2``, ``3-9``, ``10+``.

        Unseen words in a note are the usual hiding place of names the dictionaries miss. ``exclude`` holds
        the counts of the note's own patient while training (leave-patient-out), otherwise every training
        word would look "seen" and the tagger could not learn what an unseen word means.
        """
        w = word.lower()
        n = self.common.get(w, 0) - (exclude.get(w, 0) if exclude else 0)
        return "0" if n == 0 else "1-2" if n < 3 else "3-9" if n < 10 else "10+"

    def __getstate__(self) -> dict[str, object]:
        """Pickle (and deep-copy) without the compiled-pattern and candidate caches."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def phrase_pattern(self, groups: Sequence[str], common_min: int = 3) -> re.Pattern[str] | None:
        """One case-insensitive regex of the whole entries of ``groups`` (longest first), leaving out entries
        whose every word is an everyday word (seen >= ``common_min`` times outside PHI in the training notes).

        Compiled once per lexicon state (``common`` is filled when a de-identifier is fitted).
        """
        key = (tuple(groups), common_min)
        common, size, cache = self.__dict__.get("_phrase_cache", (None, -1, {}))
        if common is not self.common or size != len(self.common):  # the very dict (held: its id is not reused)
            cache = {}
            self.__dict__["_phrase_cache"] = (self.common, len(self.common), cache)
        if key not in cache:
            entries = {e for g in groups for e in getattr(self, "phrases", {}).get(g, ())
                       if not all(self.common.get(w, 0) >= common_min for w in e.split())}
            alts = "|".join(r"\s+".join(re.escape(w) for w in e.split())
                            for e in sorted(entries, key=len, reverse=True))
            cache[key] = re.compile(r"(?<![\w-])(?:" + alts + r")(?![\w-])", re.I) if alts else None
        return cache[key]  # type: ignore[no-any-return]

    def flags(self, word: str) -> list[str]:
        """Names of the groups that contain ``word`` (case-insensitive)."""
        w = word.lower()
        return [g for g, words in self.groups.items() if w in words]


def known_names(lists: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Per-patient known name tokens from ``pid_patientname`` (``pid||||first||||last``).

    A hospital knows its own patients' names; the tagger uses a match as a (strong) feature.
    """
    out: dict[str, set[str]] = {}
    for line in lists.get("pid_patientname", ()):
        parts = [p.strip() for p in line.split("||||")]
        if len(parts) >= 2 and parts[0]:
            out[parts[0]] = {p.lower() for p in parts[1:] if p}
    return out
