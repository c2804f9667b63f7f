"""Shared pieces of the SMILES generative models: token dataset, batched sampling with progress, save/load.

Every generator is a scikit-learn style estimator with ``fit(smiles)``, ``sample(n, temperature=, seed=)`` and
``save(path)`` / :func:`load_generator`; training goes through :class:`medkit.training.Trainer`, whose
``checkpoint_dir`` gives checkpoint/resume.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medkit.core.errors import ConfigError, DataError, ModelError, NotFittedError
from medkit.core.progress import track
from medkit.drug.vocab import SmilesVocab, tokenize

__all__ = ["GeneratorMixin", "TokenSet", "load_generator", "prepare_corpus", "trim_collate"]


def trim_collate(rows: list[torch.Tensor]) -> torch.Tensor:
    """Stack token rows and cut the all-pad tail: MOSES SMILES average ~35 tokens, so padding to ``max_len``
    would waste most of the LSTM's time."""
    batch = torch.stack(rows)  # (B, L)
    length = int((batch != 0).sum(1).max())
    return batch[:, :max(length, 2)]


class TokenSet(torch.utils.data.Dataset):
    """``(n, L + 2)`` int64 token ids (one row per training SMILES)."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = torch.from_numpy(ids)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.ids[i]


def prepare_corpus(smiles: Sequence[str], max_len: int, vocab: SmilesVocab | None = None, *,
                   standardise: bool = True) -> tuple[SmilesVocab, np.ndarray, int]:
    """Build the vocabulary (unless given) and encode; SMILES longer than ``max_len`` tokens are skipped.

    ``standardise=False`` skips RDKit standardisation (~3 ms per molecule, i.e. 80 min for the 1.58 M MOSES
    training set) for corpora that are already canonical and clean, such as MOSES; SMILES the tokenizer
    cannot split are then skipped and counted with the too-long ones.

    Returns the vocab, the ``(n, max_len + 2)`` id matrix and the number of SMILES skipped.
    """
    if not len(smiles):
        raise DataError("no training SMILES", where="generator.fit", fix="pass a non-empty list")
    if standardise:
        from medkit.drug.chem import standardise_smiles

        std = standardise_smiles(list(smiles), strip_salts=False, neutralise=False)
        valid = std.valid_smiles
        if not valid:
            raise DataError("none of the training SMILES is valid", where="generator.fit", fix=std.summary())
    else:
        valid = [s for s in smiles if isinstance(s, str) and s]
    kept, toks = [], []
    for s in valid:
        try:
            t = tokenize(s)
        except DataError:
            continue
        if len(t) <= max_len:
            kept.append(s)
            toks.append(t)
    if not kept:
        raise DataError(f"every training SMILES is longer than max_len={max_len} tokens (or not tokenizable)",
                        where="generator.fit", fix="raise max_len, or pass standardise=True")
    vocab = vocab or SmilesVocab.from_tokens(toks)
    return vocab, vocab.encode_many(toks, max_len), len(smiles) - len(kept)


class GeneratorMixin:
    """Batched sampling with a progress bar, and persistence. Subclasses implement ``_sample_batch``."""

    vocab_: SmilesVocab
    max_len: int

    def _sample_batch(self, n: int, temperature: float, gen: torch.Generator) -> list[str]:
        raise NotImplementedError

    def sample(self, n: int, *, temperature: float = 1.0, batch_size: int = 512, seed: int = 0,
               progress: bool = True) -> list[str]:
        """Generate ``n`` SMILES strings (raw: some may be invalid — that is what validity measures).

        ``temperature`` < 1 sharpens the token distribution (more valid, less diverse), > 1 flattens it.
        """
        if not hasattr(self, "vocab_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted", where="sample", fix="call fit or load")
        if temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}", where="temperature", fix="use e.g. 1.0")
        if n < 1:
            raise ConfigError(f"n must be ≥ 1, got {n}", where="n", fix="ask for at least one molecule")
        gen = torch.Generator().manual_seed(seed)
        out: list[str] = []
        batches = range(0, n, batch_size)
        it = track(batches, f"sampling {n} molecules", total=len(batches)) if progress else batches
        for start in it:
            out += self._sample_batch(min(batch_size, n - start), temperature, gen)
        return out

    # persistence ---------------------------------------------------------------------------------------------
    def _modules(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def _build(self) -> None:
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Write ``generator.pt`` (class, parameters, vocabulary, state dicts) into folder ``path``."""
        if not hasattr(self, "vocab_"):
            raise NotFittedError("nothing to save: the generator is not fitted", where="save", fix="call fit")
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        payload = {"class": type(self).__name__, "params": self.get_params(deep=False),  # type: ignore[attr-defined]
                   "vocab": self.vocab_.tokens, "state": {k: m.state_dict() for k, m in self._modules().items()},
                   "extra": self._extra_state()}
        torch.save(payload, p / "generator.pt")
        return p / "generator.pt"

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra(self, extra: dict[str, Any]) -> None:
        return None


def _classes() -> dict[str, Callable[..., Any]]:
    from medkit.drug.charrnn import CharRNNGenerator
    from medkit.drug.latentgan import LatentGANGenerator
    from medkit.drug.vae import VAEGenerator

    return {"CharRNNGenerator": CharRNNGenerator, "VAEGenerator": VAEGenerator,
            "LatentGANGenerator": LatentGANGenerator}


def load_generator(path: str | Path) -> Any:
    """Load a generator written by ``save`` (folder or ``generator.pt`` file)."""
    p = Path(path)
    f = p / "generator.pt" if p.is_dir() else p
    if not f.is_file():
        raise ModelError("no generator.pt found", where=str(p), fix="pass a folder written by `medkit drug generate`"
                         " training or generator.save()")
    try:
        payload = torch.load(f, map_location="cpu", weights_only=False)
        cls = _classes()[payload["class"]]
    except Exception as exc:  # noqa: BLE001 - any failure here means an unusable file
        raise ModelError(f"cannot read generator: {exc}", where=str(f), fix="re-train and save it") from None
    obj = cls(**payload["params"])
    obj.vocab_ = SmilesVocab(payload["vocab"])
    obj._load_extra(payload.get("extra", {}))
    obj._build()
    for k, m in obj._modules().items():
        m.load_state_dict(payload["state"][k])
        m.eval()
    return obj
