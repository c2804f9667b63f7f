"""SMILES tokenisation for the generative models.

Tokens are single characters except two-letter halogens (``Cl``, ``Br``), bracket atoms (``[nH]``, ``[C@@H]``) and
two-digit ring closures (``%10``), the usual regex of Schwaller et al. 2019: each token is a chemically meaningful
unit, so the model cannot emit half an atom. Four special tokens: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medkit.core.errors import DataError

__all__ = ["SmilesVocab", "tokenize"]

_PATTERN = re.compile(r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|/|:|~|@|\?|>|\*|\$|%\d{2}|\d)")
PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]


def tokenize(smiles: str) -> list[str]:
    """Split a SMILES into tokens; raises :class:`DataError` if characters are left over."""
    toks = _PATTERN.findall(smiles)
    if "".join(toks) != smiles:
        raise DataError(f"SMILES has characters the tokenizer does not know: {smiles!r}", where="tokenize",
                        fix="standardise the SMILES first")
    return toks


@dataclass
class SmilesVocab:
    """Token ↔ id maps. Build with :meth:`from_smiles`; serialise with ``tokens``."""

    tokens: list[str]

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def from_smiles(cls, smiles: Sequence[str]) -> SmilesVocab:
        seen: set[str] = set()
        for s in smiles:
            seen.update(tokenize(s))
        return cls(SPECIALS + sorted(seen))

    @classmethod
    def from_tokens(cls, tokenised: Sequence[Sequence[str]]) -> SmilesVocab:
        """Vocabulary of already tokenised SMILES (saves tokenising 1.6 M strings twice)."""
        seen: set[str] = set()
        for t in tokenised:
            seen.update(t)
        return cls(SPECIALS + sorted(seen))

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, smiles: str, max_len: int) -> np.ndarray:
        """``(max_len + 2,)`` int64 ids: ``<bos> tokens <eos> <pad>…``; longer SMILES are truncated (no eos)."""
        ids = [BOS] + [self.index.get(t, UNK) for t in tokenize(smiles)][:max_len] + [EOS]
        out = np.full(max_len + 2, PAD, dtype=np.int64)
        out[:len(ids)] = ids
        return out

    def encode_many(self, tokenised: Sequence[Sequence[str]], max_len: int) -> np.ndarray:
        """``(n, max_len + 2)`` ids of already tokenised SMILES, as :meth:`encode` row by row."""
        out = np.full((len(tokenised), max_len + 2), PAD, dtype=np.int64)
        get = self.index.get
        for r, toks in enumerate(tokenised):
            ids = [BOS] + [get(t, UNK) for t in toks][:max_len] + [EOS]
            out[r, :len(ids)] = ids
        return out

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Tokens up to the first ``<eos>`` (specials dropped)."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i > UNK:
                out.append(self.tokens[i])
        return "".join(out)
