"""Presidio's pattern recognisers as a side-by-side baseline, run without an NLP engine.

Presidio's ``AnalyzerEngine`` needs a spaCy model for tokenisation and NER (PERSON, LOCATION ...). No spaCy
model is installed here and none may be fetched, so this baseline calls every predefined English recogniser
*except* the spaCy one directly with ``nlp_artifacts=None``: the pattern/checksum recognisers (phone, e-mail,
URL, IP, dates, SSN, ...) run as out of the box, without context-word score boosting (which needs the NLP
artifacts). Names and places are therefore not found by this baseline: that is the honest comparison of
what Presidio gives offline without a model.
"""

from __future__ import annotations

from typing import Any

from medkit.core.deps import require
from medkit.privacy.phi import PhiSpan, merge_spans

_TYPE = {"PHONE_NUMBER": "Phone", "DATE_TIME": "Date", "EMAIL_ADDRESS": "Email", "URL": "URL", "IP_ADDRESS": "IP",
         "US_SSN": "SSN", "LOCATION": "Location", "PERSON": "HCPName"}


def _offline_tldextract() -> None:
    """Make tldextract (used by Presidio's e-mail recogniser) use its bundled suffix list, never the network."""
    try:
        import tldextract.tldextract as tx
    except ImportError:  # pragma: no cover - presidio without tldextract
        return
    if getattr(tx.TLD_EXTRACTOR, "suffix_list_urls", ()) != ():
        tx.TLD_EXTRACTOR = tx.TLDExtract(suffix_list_urls=(), cache_dir=None)


class PresidioPatterns:
    """Detect PHI with Presidio's predefined non-NLP recognisers (English)."""

    def __init__(self) -> None:
        require("presidio_analyzer", "privacy")
        from presidio_analyzer.recognizer_registry import RecognizerRegistry

        _offline_tldextract()
        reg = RecognizerRegistry()
        reg.load_predefined_recognizers(languages=["en"])
        self.recognizers: list[Any] = [r for r in reg.recognizers if type(r).__name__ != "SpacyRecognizer"]

    def detect(self, text: str) -> list[PhiSpan]:
        spans: list[PhiSpan] = []
        for rec in self.recognizers:
            for r in rec.analyze(text, entities=rec.supported_entities, nlp_artifacts=None) or []:
                spans.append(PhiSpan(r.start, r.end, _TYPE.get(r.entity_type, "Other"), "presidio", float(r.score)))
        return merge_spans(spans)
