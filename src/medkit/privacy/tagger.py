"""medkit's own PHI token tagger: a linear-chain CRF (sklearn-crfsuite) over dictionary, pattern and context
features.

No pretrained NER model (spaCy, transformers) can be fetched here, so the tagger is trained from scratch on
the training patients of a corpus such as PhysioNet deid. Labels are ``O`` or the PHI type of the gold span a
token overlaps (IO tagging: PHI in these notes is mostly one or two tokens).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from medkit.core.deps import require
from medkit.privacy.lexicon import Lexicon
from medkit.privacy.phi import PhiSpan, Token, tokenize
from medkit.privacy.rules import confident_spans, hint_spans

_TITLES = {"dr", "mr", "mrs", "ms", "miss", "md", "np", "rn", "pa", "doctor", "nurse", "attending", "fellow",
           "resident", "dtr", "daughter", "son", "wife", "husband", "sister", "brother", "mother", "father", "niece",
           "nephew", "friend", "grandson", "granddaughter", "family", "pt", "patient", "sw", "pcp", "cardiologist"}


def _shape(w: str) -> str:
    s = re.sub(r"[A-Z]", "X", w)
    s = re.sub(r"[a-z]", "x", s)
    s = re.sub(r"\d", "d", s)
    return re.sub(r"(.)\1{2,}", r"\1\1", s)


def _token_tags(tokens: list[Token], spans: list[PhiSpan]) -> list[set[str]]:
    """For each token, the types of ``spans`` overlapping it."""
    out: list[set[str]] = [set() for _ in tokens]
    if not spans:
        return out
    starts = [t.start for t in tokens]
    import bisect

    for sp in spans:
        i = max(0, bisect.bisect_right(starts, sp.start) - 1)
        while i < len(tokens) and tokens[i].start < sp.end:
            if tokens[i].end > sp.start:
                out[i].add(sp.type)
            i += 1
    return out


def note_features(text: str, lexicon: Lexicon, known: set[str] | None = None,
                  exclude_counts: Mapping[str, int] | None = None) -> tuple[list[Token], list[dict[str, Any]]]:
    """Tokens of ``text`` and one CRF feature dict per token.

    ``known`` holds the lower-cased name tokens of the note's own patient when the hospital has them;
    ``exclude_counts`` the patient's own word counts while training (see :meth:`Lexicon.frequency_bucket`).
    """
    tokens = tokenize(text)
    rules = _token_tags(tokens, confident_spans(text))
    hints = _token_tags(tokens, hint_spans(text))
    upper_frac = sum(c.isupper() for c in text) / max(1, sum(c.isalpha() for c in text))
    case = "upper" if upper_frac > 0.6 else ("lower" if upper_frac < 0.05 else "mixed")
    clusters: Any = getattr(lexicon, "clusters", None)
    cls = clusters.assign(t.text for t in tokens) if clusters is not None else {}
    coarse = clusters.coarse_ if clusters is not None else []
    base: list[dict[str, Any]] = []
    for k, t in enumerate(tokens):
        w = t.text
        lw = w.lower()
        f: dict[str, Any] = {"w": lw, "shape": _shape(w), "len": min(len(w), 8), "title": w.istitle(),
                             "upper": w.isupper(), "digit": w.isdigit(), "alpha": w.isalpha(),
                             "p3": lw[:3], "s3": lw[-3:], "case": case,
                             "first_in_line": k == 0 or "\n" in text[tokens[k - 1].end:t.start]}
        if w.isalpha():
            f["freq"] = lexicon.frequency_bucket(w, exclude_counts) if lexicon.common else "na"
            for g in lexicon.flags(w):
                f["lex:" + g] = True
        if lw in cls:  # semantic word class (medkit.privacy.word_clusters): fine and coarse
            f["cl"] = str(cls[lw])
            f["cl2"] = str(coarse[cls[lw]])
        if known and lw in known:
            f["known_patient_name"] = True
        for r in rules[k]:
            f["rule:" + r] = True
        for h in hints[k]:
            f["hint:" + h] = True
        if lw in _TITLES:
            f["title_word"] = True
        base.append(f)
    feats: list[dict[str, Any]] = []
    keep_ctx = ("w", "title", "upper", "shape", "title_word", "digit", "freq", "cl2")
    for k, f in enumerate(base):
        full = dict(f)
        for off in (-2, -1, 1, 2):
            j = k + off
            if 0 <= j < len(base):
                nb = base[j]
                for key in keep_ctx:
                    full[f"{off}:{key}"] = nb[key] if key in nb else False
                for key in nb:
                    if key.startswith(("lex:", "rule:", "hint:")) and abs(off) == 1:
                        full[f"{off}:{key}"] = True
            else:
                full[f"{off}:pad"] = True
        feats.append(full)
    return tokens, feats


def token_labels(tokens: list[Token], gold: list[PhiSpan]) -> list[str]:
    """IO labels: the PHI type a token overlaps, else ``O``."""
    tags = _token_tags(tokens, gold)
    return [sorted(t)[0] if t else "O" for t in tags]


class CrfPhiTagger:
    """Train and apply the CRF (sklearn-crfsuite, L-BFGS with elastic-net regularisation).

    Parameters
    ----------
    c1, c2
        L1 / L2 regularisation strengths.
    max_iterations
        L-BFGS iterations.
    """

    def __init__(self, c1: float = 0.05, c2: float = 0.05, max_iterations: int = 150) -> None:
        self.c1 = c1
        self.c2 = c2
        self.max_iterations = max_iterations
        self.crf_: Any = None

    def fit(self, X: Sequence[list[dict[str, Any]]], y: Sequence[list[str]]) -> CrfPhiTagger:
        require("sklearn_crfsuite", "privacy")
        import sklearn_crfsuite

        self.crf_ = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=self.c1, c2=self.c2,
                                         max_iterations=self.max_iterations, all_possible_transitions=True)
        self.crf_.fit(list(X), list(y))
        return self

    def phi_probability(self, feats: list[dict[str, Any]]) -> list[tuple[float, str]]:
        """Per token: (P(token is PHI), most likely PHI type) from the CRF marginals."""
        if not feats:
            return []
        marg = self.crf_.predict_marginals_single(feats)
        out = []
        for m in marg:
            phi = {k: v for k, v in m.items() if k != "O"}
            typ = max(phi, key=lambda k: phi[k]) if phi else "Other"
            out.append((1.0 - float(m.get("O", 0.0)), typ))
        return out
