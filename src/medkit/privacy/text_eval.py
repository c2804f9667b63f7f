"""Span- and token-level recall/precision of PHI detection, overall and per PHI type.

Span level (the privacy view): a gold PHI counts as *found* only when every non-blank character of it is
covered by predicted spans (a half-redacted name is a leak); a predicted span is a true positive when it
overlaps some gold PHI. Token level: tokens (see :func:`medkit.privacy.phi.tokenize`) inside gold PHI vs
tokens inside predictions. Detection is type-agnostic, as in the deid paper: a date found as a phone is
still removed; per-type rows group by the *gold* type (recall) or *predicted* type (precision).

This full-coverage, type-agnostic span recall is the headline (what de-identification needs: every character
of the PHI masked, whatever it was called). Two side metrics: ``recall_strict`` also asks that every covering
prediction has the gold type's Safe Harbor category (a name found as a name, a date as a date: what
type-specific surrogates need), and ``recall_overlap`` only asks for one masked character (lenient, as
overlap-based NER scorers).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from medkit.privacy.phi import SAFE_HARBOR, PhiSpan, tokenize


@dataclass
class DetectionScores:
    """Counts and rates; ``per_type[type] = {"recall": .., "n_gold": .., ...}``."""

    recall: float
    precision: float
    f1: float
    recall_overlap: float
    token_recall: float
    token_precision: float
    n_gold: int
    n_pred: int
    per_type: dict[str, dict[str, float]] = field(default_factory=dict)
    missed: list[tuple[int, PhiSpan]] = field(default_factory=list)
    n_tok_gold: int = 0
    n_tok_pred: int = 0
    n_tok_both: int = 0
    recall_strict: float = float("nan")

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "missed"}

    @property
    def counts(self) -> tuple[int, int, int, int]:
        """Span counts ``(found, n_gold, true-positive predictions, n_pred)`` (for bootstrap CIs)."""
        return (round(self.recall * self.n_gold), self.n_gold, round(self.precision * self.n_pred), self.n_pred)

    @property
    def token_counts(self) -> tuple[int, int, int, int]:
        """Token counts ``(gold found, gold, predicted in gold, predicted)``."""
        return (self.n_tok_both, self.n_tok_gold, self.n_tok_both, self.n_tok_pred)


def _covered(mask: bytearray, text: str, s: PhiSpan) -> bool:
    return all(mask[i] or text[i].isspace() for i in range(s.start, min(s.end, len(text))))


def _same_category(ptype: list[str | None], text: str, s: PhiSpan) -> bool:
    """Every non-blank character of gold ``s`` is predicted with the same Safe Harbor category."""
    want = SAFE_HARBOR.get(s.type, s.type)
    return all(text[i].isspace() or (ptype[i] is not None and SAFE_HARBOR.get(ptype[i] or "", ptype[i]) == want)
               for i in range(s.start, min(s.end, len(text))))


def score_detection(texts: Sequence[str], gold: Sequence[list[PhiSpan]], pred: Sequence[list[PhiSpan]]
                    ) -> DetectionScores:
    """Score predictions of many notes; ``gold[i]``/``pred[i]`` are the spans of ``texts[i]``."""
    n_found = n_overlap = n_gold = n_pred = n_tp_pred = n_strict = 0
    tok_gold = tok_pred = tok_both = 0
    by_type: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    missed: list[tuple[int, PhiSpan]] = []
    for i, (text, g, p) in enumerate(zip(texts, gold, pred, strict=True)):
        pmask = bytearray(len(text) + 1)
        for s in p:
            pmask[s.start:s.end] = b"\x01" * (s.end - s.start)
        gmask = bytearray(len(text) + 1)
        for s in g:
            gmask[s.start:s.end] = b"\x01" * (s.end - s.start)
        pcat: list[str | None] = [None] * (len(text) + 1)
        for s in sorted(p, key=lambda x: x.end - x.start, reverse=True):  # the innermost span's type wins
            pcat[s.start:s.end] = [s.type] * (s.end - s.start)
        for s in g:
            n_gold += 1
            found = _covered(pmask, text, s)
            n_found += found
            n_strict += found and _same_category(pcat, text, s)
            n_overlap += any(pmask[s.start:s.end])
            by_type[s.type]["n_gold"] += 1
            by_type[s.type]["found"] += found
            if not found:
                missed.append((i, s))
        for s in p:
            n_pred += 1
            tp = any(gmask[s.start:s.end])
            n_tp_pred += tp
            by_type[s.type]["n_pred"] += 1
            by_type[s.type]["tp_pred"] += tp
        gtype: list[str | None] = [None] * (len(text) + 1)
        ptype: list[str | None] = [None] * (len(text) + 1)
        for spans, arr in ((g, gtype), (p, ptype)):
            for s in spans:
                arr[s.start:s.end] = [s.type] * (s.end - s.start)
        for t in tokenize(text):
            gt = next((x for x in gtype[t.start:t.end] if x is not None), None)
            pt = next((x for x in ptype[t.start:t.end] if x is not None), None)
            ing, inp = gt is not None, pt is not None
            tok_gold += ing
            tok_pred += inp
            tok_both += ing and inp
            if gt is not None:  # token-level recall by gold type, precision by predicted type
                by_type[gt]["tok_gold"] += 1
                by_type[gt]["tok_found"] += inp
            if pt is not None:
                by_type[pt]["tok_pred"] += 1
                by_type[pt]["tok_tp"] += ing
    recall = n_found / n_gold if n_gold else 1.0
    precision = n_tp_pred / n_pred if n_pred else 1.0
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    per_type: dict[str, dict[str, float]] = {}
    for typ, c in sorted(by_type.items()):
        per_type[typ] = {"n_gold": float(c["n_gold"]), "n_pred": float(c["n_pred"]),
                       "recall": c["found"] / c["n_gold"] if c["n_gold"] else float("nan"),
                       "precision": c["tp_pred"] / c["n_pred"] if c["n_pred"] else float("nan"),
                       "found": float(c["found"]), "tp_pred": float(c["tp_pred"]),
                       "tok_gold": float(c["tok_gold"]), "tok_found": float(c["tok_found"]),
                       "tok_pred": float(c["tok_pred"]), "tok_tp": float(c["tok_tp"]),
                       "token_recall": c["tok_found"] / c["tok_gold"] if c["tok_gold"] else float("nan"),
                       "token_precision": c["tok_tp"] / c["tok_pred"] if c["tok_pred"] else float("nan")}
    return DetectionScores(recall, precision, f1, n_overlap / n_gold if n_gold else 1.0,
                           tok_both / tok_gold if tok_gold else 1.0, tok_both / tok_pred if tok_pred else 1.0,
                           n_gold, n_pred, per_type, missed, tok_gold, tok_pred, tok_both,
                           n_strict / n_gold if n_gold else 1.0)
