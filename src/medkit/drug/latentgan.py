"""Latent GAN (Prykhodko et al. 2019): a Wasserstein GAN with gradient penalty on a trained VAE's latent space.

Generating SMILES strings with a GAN directly suffers mode collapse; instead the GAN learns the distribution of
the VAE's latent codes of real molecules, and samples are decoded by the VAE decoder.

Training goes through the shared :class:`medkit.training.Trainer`, which has one optimiser. We therefore take
*simultaneous* gradient steps: one scalar loss whose gradient w.r.t. the critic is the WGAN-GP critic loss and
w.r.t. the generator is the generator loss (the generator term calls the critic through
``torch.func.functional_call`` with detached parameters, so it does not move the critic). Simultaneous WGAN-GP
updates with a small learning rate converge on this low-dimensional problem; the usual 5 critic steps per
generator step are approximated by ``critic_weight``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from medkit.core.errors import ConfigError
from medkit.drug.generators import GeneratorMixin
from medkit.drug.vae import VAEGenerator

__all__ = ["LatentGAN", "LatentGANGenerator"]


class LatentGAN(nn.Module):
    def __init__(self, latent: int, noise: int = 64, hidden: int = 256) -> None:
        super().__init__()
        self.noise = noise
        self.G = nn.Sequential(nn.Linear(noise, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                               nn.LeakyReLU(0.2), nn.Linear(hidden, latent))
        self.D = nn.Sequential(nn.Linear(latent, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                               nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def loss(self, real: torch.Tensor, gp_weight: float = 10.0, critic_weight: float = 5.0) -> torch.Tensor:
        """Critic loss (+ gradient penalty) and generator loss in one scalar; see the module docstring."""
        n = real.shape[0]
        fake = self.G(torch.randn(n, self.noise))  # (B, Z)
        d_real, d_fake = self.D(real).mean(), self.D(fake.detach()).mean()
        eps = torch.rand(n, 1)
        mix = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.D(mix).sum(), mix, create_graph=True)
        gp = ((grad.norm(dim=1) - 1) ** 2).mean()
        critic = d_fake - d_real + gp_weight * gp
        frozen = {k: v.detach() for k, v in self.D.named_parameters()}
        g_loss = -torch.func.functional_call(self.D, frozen, (fake,)).mean()
        return critic_weight * critic + g_loss


class _Latents(torch.utils.data.Dataset):
    def __init__(self, z: np.ndarray) -> None:
        self.z = torch.from_numpy(z.astype(np.float32))

    def __len__(self) -> int:
        return int(self.z.shape[0])

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.z[i]


class LatentGANGenerator(GeneratorMixin, BaseEstimator):
    """Latent GAN over a fitted :class:`VAEGenerator` (pass it as ``vae`` or let ``fit`` train one).

    Parameters
    ----------
    vae
        A fitted VAE, or ``None`` to train one with ``vae_params`` inside ``fit``.
    noise, hidden
        Generator input size and MLP width.
    """

    def __init__(self, vae: VAEGenerator | None = None, vae_params: dict[str, Any] | None = None, noise: int = 64,
                 hidden: int = 256, epochs: int = 50, batch_size: int = 128, lr: float = 2e-4, seed: int = 0,
                 checkpoint_dir: str | None = None, progress: bool = True) -> None:
        self.vae = vae
        self.vae_params = vae_params
        self.noise = noise
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress

    @property
    def max_len(self) -> int:  # type: ignore[override]
        return self.vae_.max_len

    def _build(self) -> None:
        torch.manual_seed(self.seed)
        self.model_ = LatentGAN(self.vae_.latent, self.noise, self.hidden)

    def _modules(self) -> dict[str, nn.Module]:
        return {"gan": self.model_, "vae": self.vae_.model_}

    def _extra_state(self) -> dict[str, Any]:
        return {"vae_params": self.vae_.get_params(deep=False)}

    def _load_extra(self, extra: dict[str, Any]) -> None:
        self.vae_ = VAEGenerator(**extra["vae_params"])
        self.vae_.vocab_ = self.vocab_
        self.vae_._build()

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        p = super().get_params(deep=False)
        p["vae"] = None  # the VAE is saved as part of the state, not as a parameter
        return p

    def fit(self, smiles: Sequence[str]) -> LatentGANGenerator:
        from medkit.training import TrainConfig, Trainer

        if self.vae is not None:
            if not hasattr(self.vae, "vocab_"):
                raise ConfigError("the VAE passed to LatentGANGenerator is not fitted", where="vae",
                                  fix="fit the VAE first or pass vae=None")
            self.vae_ = self.vae
        else:
            self.vae_ = VAEGenerator(**(self.vae_params or {}), seed=self.seed, progress=self.progress).fit(smiles)
        self.vocab_ = self.vae_.vocab_
        z = self.vae_.encode(smiles)
        self._build()

        def loss_fn(m: nn.Module, batch: torch.Tensor) -> torch.Tensor:
            return m.loss(batch)  # type: ignore[operator]

        cfg = TrainConfig(max_epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=0.0,
                          seed=self.seed, patience=None, grad_clip=None, progress=self.progress,
                          restore_best=False, scheduler="none", drop_last=True)
        self.result_ = Trainer(self.model_, loss_fn, cfg, checkpoint_dir=self.checkpoint_dir,
                               description="latent GAN").fit(_Latents(z))
        self.model_.eval()
        return self

    @torch.no_grad()
    def _sample_batch(self, n: int, temperature: float, gen: torch.Generator) -> list[str]:
        z = self.model_.G(torch.randn(n, self.noise, generator=gen))
        return self.vae_.decode(z, temperature, gen)
