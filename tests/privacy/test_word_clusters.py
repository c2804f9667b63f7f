"""Word classes from pretrained MiniLM embeddings as CRF features (dictionaries only: no notes, no vocabulary)."""

from __future__ import annotations

import pickle

import pytest

pytest.importorskip("torch")

from medkit.core.errors import DataError, NotFittedError  # noqa: E402
from medkit.privacy.lexicon import Lexicon  # noqa: E402
from medkit.privacy.tagger import note_features  # noqa: E402
from medkit.privacy.word_clusters import WordClusters  # noqa: E402

NAMES = ["Jennifer", "Patricia", "Barbara", "Margaret", "Dorothy", "Elizabeth", "Susan", "Deborah", "Michelle",
         "Christopher", "Matthew", "Anthony", "Richard", "Kenneth", "Timothy"]
PLACES = ["Chicago", "Boston", "Philadelphia", "Baltimore", "Pittsburgh", "Cleveland", "Milwaukee", "Sacramento",
          "Denver", "Atlanta", "Houston", "Seattle", "Portland", "Minneapolis", "Cincinnati"]
LISTS = {"female_names_unambig": NAMES[:9], "male_names_unambig": NAMES[9:], "locations_unambig": PLACES}


@pytest.fixture(scope="module")
def clusters() -> WordClusters:
    return WordClusters(n_clusters=2, n_coarse=2, vocabulary=False).fit(LISTS)


def test_unseen_words_join_the_class_of_their_kind(clusters: WordClusters) -> None:
    got = clusters.assign(NAMES + PLACES)
    names = {got[w.lower()] for w in NAMES}
    places = {got[w.lower()] for w in PLACES}
    assert len(names) == 1 and len(places) == 1 and names != places  # the two kinds were told apart
    new = clusters.assign(["Jessica", "Dallas"])  # words no class was fitted on
    assert new["jessica"] in names and new["dallas"] in places


def test_the_memo_of_note_words_is_never_pickled(clusters: WordClusters) -> None:
    first = clusters.assign(["Zyxwvutsky"])
    blob = pickle.dumps(clusters)
    assert b"zyxwvutsky" not in blob.lower()
    again = pickle.loads(blob)
    assert again.assign(["Zyxwvutsky"]) == first  # the same class from the centres alone


def test_crf_features_carry_the_word_class(clusters: WordClusters) -> None:
    lex = Lexicon()
    toks, plain = note_features("Jennifer drove to Boston", lex)
    assert all("cl" not in f for f in plain)  # no classes without clusters
    lex.clusters = clusters
    toks, feats = note_features("Jennifer drove to Boston", lex)
    got = clusters.assign(["Jennifer", "Boston"])
    assert feats[0]["cl"] == str(got["jennifer"]) and feats[3]["cl"] == str(got["boston"])
    assert feats[1]["-1:cl2"] == str(clusters.coarse_[got["jennifer"]])  # the neighbour's coarse class


def test_bad_use_is_a_clear_error() -> None:
    with pytest.raises(NotFittedError):
        WordClusters().assign(["word"])
    with pytest.raises(DataError, match="word classes"):
        WordClusters(n_clusters=50, vocabulary=False).fit({"us_states": ["Maryland"]})
