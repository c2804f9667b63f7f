"""Semantic word classes for the CRF: k-means over pretrained MiniLM embeddings of single words.

A CRF knows a word only by its spelling, dictionaries and how often it was seen outside PHI, so an unseen drug
("doxacurium") and an unseen surname look alike to it: both rare, capitalised, in no list. A word's MiniLM
embedding (the pretrained, *not* fine-tuned encoder, the word alone) places it near words of the same kind.
The classes are fitted on public vocabularies only, never on notes: MiniLM's own whole-word vocabulary plus
the corpus's name and place dictionaries. Every other word gets the class of its nearest centre when first seen.

The per-word memo holds note words (PHI) and is never pickled; a saved model carries only the centres.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from medkit.core.errors import DataError, NotFittedError

LIST_STEMS = ("female_names_unambig", "male_names_unambig", "female_names_ambig", "male_names_ambig",
              "last_names_ambig", "last_names_popular", "doctor_first_names", "doctor_last_names",
              "locations_unambig", "local_places_unambig", "countries_unambig", "us_states", "company_names_unambig")


_ENCODER: dict[str, Any] = {}  # the pretrained encoder and tokenizer, loaded once per process


def _embed(words: list[str], batch: int = 512) -> np.ndarray:
    """Mean last-layer MiniLM state over each word's pieces (``[CLS] word [SEP]``), L2-normalised."""
    import torch

    from medkit.privacy.minilm import WordPieces, load_pretrained, load_tokenizer_json

    if not _ENCODER:
        _ENCODER.update(enc=load_pretrained().eval(), wp=WordPieces(load_tokenizer_json()))
    enc, wp = _ENCODER["enc"], _ENCODER["wp"]
    out = np.zeros((len(words), enc.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for b in range(0, len(words), batch):
            ids = [[wp.cls_id, *wp.encode(w)[0][:14], wp.sep_id] for w in words[b:b + batch]]
            n = max(len(x) for x in ids)
            t = torch.full((len(ids), n), wp.pad_id, dtype=torch.long)
            mask = torch.zeros((len(ids), n), dtype=torch.bool)
            for i, x in enumerate(ids):
                t[i, :len(x)] = torch.tensor(x)
                mask[i, 1:len(x) - 1] = True  # the word's pieces only
            h = enc(t, mask | (t == wp.cls_id) | (t == wp.sep_id))
            v = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
            out[b:b + batch] = v.numpy()
    return np.asarray(out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9))


class WordClusters:
    """k-means classes of words by their pretrained MiniLM embedding (see the module doc).

    Parameters
    ----------
    n_clusters, n_coarse
        Number of classes, and of coarse classes (k-means over the class centres).
    max_list_words
        At most this many words per dictionary file join MiniLM's vocabulary for fitting (the surname list
        alone has 80k entries).
    vocabulary
        Fit on MiniLM's whole-word vocabulary too (``False``: the dictionaries only, e.g. for a quick test).
    seed
        k-means random state.
    """

    def __init__(self, n_clusters: int = 200, n_coarse: int = 12, max_list_words: int = 3000, vocabulary: bool = True,
                 seed: int = 0) -> None:
        self.n_clusters = n_clusters
        self.n_coarse = n_coarse
        self.vocabulary = vocabulary
        self.max_list_words = max_list_words
        self.seed = seed

    def fit(self, lists: Mapping[str, Iterable[str]] | None = None) -> WordClusters:
        """Fit on MiniLM's whole-word vocabulary and the name/place dictionaries in ``lists`` (no notes)."""
        import json

        from sklearn.cluster import KMeans, MiniBatchKMeans

        from medkit.privacy.minilm import load_tokenizer_json

        vocab = json.loads(load_tokenizer_json())["model"]["vocab"]
        words = {w for w in vocab if w.isalpha() and len(w) > 1} if self.vocabulary else set()
        rng = np.random.default_rng(self.seed)
        for stem in LIST_STEMS:
            entries = sorted({w.lower() for e in (lists or {}).get(stem, ()) for w in e.split()
                              if w.isalpha() and len(w) > 1})
            if len(entries) > self.max_list_words:
                entries = rng.choice(entries, self.max_list_words, replace=False).tolist()
            words.update(entries)
        vocab_words = sorted(words)
        if len(vocab_words) < self.n_clusters:
            raise DataError(f"{len(vocab_words)} words to fit {self.n_clusters} word classes",
                            where="WordClusters.fit", fix="pass the name/place lists or use fewer classes")
        X = _embed(vocab_words)
        km = MiniBatchKMeans(n_clusters=self.n_clusters, random_state=self.seed, n_init=3, batch_size=4096).fit(X)
        self.centres_ = np.asarray(km.cluster_centers_, dtype=np.float32)
        coarse = KMeans(n_clusters=self.n_coarse, random_state=self.seed, n_init=5).fit(self.centres_)
        self.coarse_ = [int(c) for c in coarse.labels_]  # fine class -> coarse class
        self.n_fit_words_ = len(vocab_words)
        return self

    def assign(self, words: Iterable[str]) -> dict[str, int]:
        """``{lower-cased word: class}`` for alphabetic words (embedding the ones not seen before)."""
        if not hasattr(self, "centres_"):
            raise NotFittedError("WordClusters is not fitted", where="WordClusters", fix="call fit(lists) first")
        memo: dict[str, int] = self.__dict__.setdefault("_memo", {})
        want = {w.lower() for w in words if w.isalpha()}
        new = sorted(w for w in want if w not in memo)
        if new:
            if len(memo) > 200_000:
                memo.clear()
            d = _embed(new) @ self.centres_.T
            memo.update(zip(new, np.argmax(d, axis=1).tolist(), strict=True))
        return {w: memo[w] for w in want}

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the memo of note words."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
