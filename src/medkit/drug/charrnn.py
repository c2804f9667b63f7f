"""CharRNN: an LSTM language model over SMILES tokens (Segler et al. 2018; the MOSES CharRNN baseline).

Trained by teacher forcing (next-token cross-entropy) through :class:`medkit.training.Trainer`; sampled token by
token with temperature. MOSES' model is 3 × 768 LSTM; defaults here are smaller so it trains on a laptop CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from medkit.drug.generators import GeneratorMixin, TokenSet, prepare_corpus, trim_collate
from medkit.drug.vocab import BOS, EOS, PAD

__all__ = ["CharRNN", "CharRNNGenerator"]


class CharRNN(nn.Module):
    def __init__(self, vocab_size: int, emb: int = 64, hidden: int = 512, layers: int = 2, dropout: float = 0.1
                 ) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab_size, emb, padding_idx=PAD)
        self.lstm = nn.LSTM(emb, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, ids: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        h, state = self.lstm(self.emb(ids), state)  # (B, T, H)
        return self.out(h), state  # (B, T, V)


def lm_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over non-pad targets. ``logits`` (B, T, V), ``target`` (B, T)."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=PAD)


class CharRNNGenerator(GeneratorMixin, BaseEstimator):
    """SMILES LSTM generator.

    Parameters
    ----------
    emb, hidden, layers, dropout
        Network size.
    max_len
        Longest SMILES (tokens) used in training and generated.
    epochs, batch_size, lr
        Trainer settings; ``checkpoint_dir`` enables checkpoint/resume.
    """

    def __init__(self, emb: int = 64, hidden: int = 512, layers: int = 2, dropout: float = 0.1, max_len: int = 100,
                 epochs: int = 10, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
                 checkpoint_dir: str | None = None, progress: bool = True) -> None:
        self.emb = emb
        self.hidden = hidden
        self.layers = layers
        self.dropout = dropout
        self.max_len = max_len
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress

    def _build(self) -> None:
        torch.manual_seed(self.seed)
        self.model_ = CharRNN(len(self.vocab_), self.emb, self.hidden, self.layers, self.dropout)

    def _modules(self) -> dict[str, nn.Module]:
        return {"model": self.model_}

    def fit(self, smiles: Sequence[str], val_smiles: Sequence[str] | None = None) -> CharRNNGenerator:
        from medkit.training import TrainConfig, Trainer

        self.vocab_, ids, self.n_skipped_ = prepare_corpus(smiles, self.max_len)
        self._build()
        val = None
        if val_smiles is not None:
            _, vids, _ = prepare_corpus(val_smiles, self.max_len, self.vocab_)
            val = TokenSet(vids)

        def loss_fn(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
            logits, _ = model(batch[:, :-1])
            return lm_loss(logits, batch[:, 1:])

        cfg = TrainConfig(max_epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=0.0,
                          seed=self.seed, patience=None, grad_clip=5.0, progress=self.progress)
        self.result_ = Trainer(self.model_, loss_fn, cfg, checkpoint_dir=self.checkpoint_dir, collate_fn=trim_collate,
                               description="CharRNN").fit(TokenSet(ids), val)
        self.model_.eval()
        return self

    @torch.no_grad()
    def _sample_batch(self, n: int, temperature: float, gen: torch.Generator) -> list[str]:
        self.model_.eval()
        tok = torch.full((n, 1), BOS, dtype=torch.long)
        state = None
        out = np.zeros((n, self.max_len + 1), dtype=np.int64)
        done = torch.zeros(n, dtype=torch.bool)
        for t in range(self.max_len + 1):
            logits, state = self.model_(tok, state)
            probs = torch.softmax(logits[:, -1] / temperature, dim=-1)  # (B, V)
            nxt = torch.multinomial(probs, 1, generator=gen)  # (B, 1)
            nxt[done] = PAD
            out[:, t] = nxt[:, 0].numpy()
            done |= nxt[:, 0] == EOS
            if bool(done.all()):
                break
            tok = nxt
        return [self.vocab_.decode(row) for row in out]
