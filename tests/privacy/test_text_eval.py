"""Span- and token-level scores on a hand-counted example."""

from __future__ import annotations

import pytest

from medkit.privacy.phi import PhiSpan
from medkit.privacy.text_eval import score_detection


def test_span_and_token_scores_per_type_by_hand() -> None:
    text = "Dr John Smith seen on 7/22 at GH"
    at = text.index
    gold = [PhiSpan(at("John"), at("Smith") + 5, "HCPName"), PhiSpan(at("7/22"), at("7/22") + 4, "Date"),
            PhiSpan(at("GH"), at("GH") + 2, "Location")]
    pred = [PhiSpan(at("Smith"), at("Smith") + 5, "HCPName"), PhiSpan(at("on"), at("on") + 2, "Date"),
            PhiSpan(at("GH"), at("GH") + 2, "Location")]
    s = score_detection([text], [gold], [pred])
    # spans: John Smith only half covered (a miss), 7/22 missed, GH found; predictions: 2 of 3 overlap gold
    assert (s.recall, s.precision) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert s.counts == (1, 3, 2, 3)
    # tokens: gold John, Smith, 7/22, GH (4); predicted Smith, on, GH (3); both Smith, GH (2)
    assert s.token_counts == (2, 4, 2, 3)
    assert (s.token_recall, s.token_precision) == (pytest.approx(0.5), pytest.approx(2 / 3))
    pt = s.per_type
    assert pt["HCPName"]["token_recall"] == 0.5 and pt["HCPName"]["token_precision"] == 1.0
    assert pt["Date"]["token_recall"] == 0.0 and pt["Date"]["token_precision"] == 0.0  # "on" is no date
    assert pt["Location"]["recall"] == 1.0 and pt["Location"]["token_precision"] == 1.0
