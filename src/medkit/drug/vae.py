"""SMILES variational autoencoder (Gómez-Bombarelli et al. 2018; the MOSES VAE baseline).

Encoder: bidirectional GRU over tokens → ``μ, log σ²`` (latent size ``latent``). Decoder: GRU whose input at every
step is the previous token embedding concatenated with ``z`` and whose initial state is a projection of ``z``.
Loss = reconstruction cross-entropy + β·KL, with β annealed linearly from 0 to ``kl_weight`` over the first half
of training (avoids posterior collapse early on). The latent space is what the latent GAN learns to sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from medkit.drug.generators import GeneratorMixin, TokenSet, prepare_corpus, trim_collate
from medkit.drug.vocab import BOS, EOS, PAD

__all__ = ["SmilesVAE", "VAEGenerator"]


class SmilesVAE(nn.Module):
    def __init__(self, vocab_size: int, emb: int = 64, enc_hidden: int = 256, dec_hidden: int = 512,
                 latent: int = 128) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab_size, emb, padding_idx=PAD)
        self.encoder = nn.GRU(emb, enc_hidden, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * enc_hidden, latent)
        self.to_logvar = nn.Linear(2 * enc_hidden, latent)
        self.z_to_h = nn.Linear(latent, dec_hidden)
        self.decoder = nn.GRU(emb + latent, dec_hidden, batch_first=True)
        self.out = nn.Linear(dec_hidden, vocab_size)
        self.beta = 0.0  # KL weight, set by the annealing callback

    def encode(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = (ids != PAD).sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.emb(ids), lengths, batch_first=True, enforce_sorted=False)
        _, h = self.encoder(packed)  # h: (2, B, He)
        h = torch.cat([h[0], h[1]], dim=1)  # (B, 2He)
        return self.to_mu(h), self.to_logvar(h)

    def decode_logits(self, z: torch.Tensor, inp: torch.Tensor, h: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        if h is None:
            h = torch.tanh(self.z_to_h(z)).unsqueeze(0)  # (1, B, Hd)
        x = torch.cat([self.emb(inp), z.unsqueeze(1).expand(-1, inp.shape[1], -1)], dim=2)  # (B, T, E+Z)
        o, h = self.decoder(x, h)
        return self.out(o), h  # (B, T, V)

    def loss(self, ids: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.encode(ids)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits, _ = self.decode_logits(z, ids[:, :-1])
        rec = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                                          ignore_index=PAD)
        kl = 0.5 * (torch.exp(logvar) + mu ** 2 - 1 - logvar).sum(1).mean()
        return rec + self.beta * kl


class VAEGenerator(GeneratorMixin, BaseEstimator):
    """SMILES VAE generator; ``sample`` draws ``z ~ N(0, I)`` and decodes with temperature.

    Parameters
    ----------
    emb, enc_hidden, dec_hidden, latent
        Network sizes (MOSES: 256-d bi-GRU encoder, 3 × 512 GRU decoder, 128-d latent).
    kl_weight
        Final β of the KL term.
    """

    def __init__(self, emb: int = 64, enc_hidden: int = 256, dec_hidden: int = 512, latent: int = 128,
                 kl_weight: float = 0.05, max_len: int = 100, epochs: int = 10, batch_size: int = 128,
                 lr: float = 1e-3, seed: int = 0, checkpoint_dir: str | None = None, progress: bool = True) -> None:
        self.emb = emb
        self.enc_hidden = enc_hidden
        self.dec_hidden = dec_hidden
        self.latent = latent
        self.kl_weight = kl_weight
        self.max_len = max_len
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress

    def _build(self) -> None:
        torch.manual_seed(self.seed)
        self.model_ = SmilesVAE(len(self.vocab_), self.emb, self.enc_hidden, self.dec_hidden, self.latent)

    def _modules(self) -> dict[str, nn.Module]:
        return {"model": self.model_}

    def fit(self, smiles: Sequence[str]) -> VAEGenerator:
        from medkit.training import TrainConfig, Trainer

        self.vocab_, ids, self.n_skipped_ = prepare_corpus(smiles, self.max_len)
        self._build()
        model = self.model_
        anneal = max(1, self.epochs // 2)

        def set_beta(epoch: int) -> None:
            model.beta = self.kl_weight * min(1.0, epoch / anneal)

        def loss_fn(m: nn.Module, batch: torch.Tensor) -> torch.Tensor:
            return m.loss(batch)  # type: ignore[operator]

        def on_epoch_end(epoch: int, logs: dict[str, float]) -> None:
            set_beta(epoch + 1)

        set_beta(0)
        cfg = TrainConfig(max_epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=0.0,
                          seed=self.seed, patience=None, grad_clip=50.0, progress=self.progress, restore_best=False)
        trainer = Trainer(model, loss_fn, cfg, checkpoint_dir=self.checkpoint_dir, collate_fn=trim_collate,
                          on_epoch_end=on_epoch_end, description="VAE")
        self.result_ = trainer.fit(TokenSet(ids))
        model.eval()
        return self

    @torch.no_grad()
    def encode(self, smiles: Sequence[str]) -> np.ndarray:
        """``(n, latent)`` posterior means of valid, tokenisable SMILES (used to train the latent GAN)."""
        _, ids, _ = prepare_corpus(smiles, self.max_len, self.vocab_)
        out = []
        for i in range(0, len(ids), 512):
            mu, _ = self.model_.encode(trim_collate(list(torch.from_numpy(ids[i:i + 512]))))
            out.append(mu.numpy())
        return np.concatenate(out)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, temperature: float = 1.0, gen: torch.Generator | None = None) -> list[str]:
        """Sample one SMILES per latent row ``z`` (B, latent)."""
        self.model_.eval()
        n = z.shape[0]
        tok = torch.full((n, 1), BOS, dtype=torch.long)
        h = None
        out = np.zeros((n, self.max_len + 1), dtype=np.int64)
        done = torch.zeros(n, dtype=torch.bool)
        for t in range(self.max_len + 1):
            logits, h = self.model_.decode_logits(z, tok, h)
            nxt = torch.multinomial(torch.softmax(logits[:, -1] / temperature, -1), 1, generator=gen)
            nxt[done] = PAD
            out[:, t] = nxt[:, 0].numpy()
            done |= nxt[:, 0] == EOS
            if bool(done.all()):
                break
            tok = nxt
        return [self.vocab_.decode(r) for r in out]

    def _sample_batch(self, n: int, temperature: float, gen: torch.Generator) -> list[str]:
        z = torch.randn(n, self.latent, generator=gen)
        return self.decode(z, temperature, gen)
