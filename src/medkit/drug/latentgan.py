"""Latent GAN (Prykhodko et al. 2019): a Wasserstein GAN with gradient penalty on a trained VAE's latent space.

Generating SMILES strings with a GAN directly suffers mode collapse; instead the GAN learns the distribution of
the VAE's latent codes of real molecules, and samples are decoded by the VAE decoder.

Training alternates as in WGAN-GP (Gulrajani et al. 2017, Algorithm 1): ``n_critic`` critic updates, then one
generator update. The shared :class:`medkit.training.Trainer` owns one optimiser; it updates the *generator*
only. The critic's Adam lives inside :class:`LatentGAN` (:class:`BufferAdam`): its moment estimates and step
count are registered buffers, so they are part of the module's ``state_dict`` and therefore of every Trainer
checkpoint, and resume is exact. Each Trainer batch holds ``n_critic × batch_size`` real latent codes; the
loss function spends them on the critic steps and returns the generator loss, computed through the critic with
detached parameters so the Trainer's optimiser never sees critic gradients.
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

__all__ = ["BufferAdam", "LatentGAN", "LatentGANGenerator"]


class BufferAdam(nn.Module):
    """Adam (Kingma & Ba 2015; same update as ``torch.optim.Adam``) whose state is module buffers.

    Why: the Trainer checkpoints ``model.state_dict()`` and its own optimiser; an optimiser that keeps its
    state in buffers of a sub-module is saved and restored with the model at no extra cost.
    """

    def __init__(self, params: Sequence[nn.Parameter], lr: float, betas: tuple[float, float] = (0.0, 0.9),
                 eps: float = 1e-8) -> None:
        super().__init__()
        self._params = list(params)  # plain list: not registered, they belong to the critic
        self.lr, self.betas, self.eps = lr, betas, eps
        for i, p in enumerate(self._params):
            self.register_buffer(f"m{i}", torch.zeros_like(p))
            self.register_buffer(f"v{i}", torch.zeros_like(p))
        self.register_buffer("step", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self) -> None:
        """One Adam step on the current ``.grad`` of the parameters."""
        b1, b2 = self.betas
        step = self.get_buffer("step")
        step += 1
        t = float(step)
        for i, p in enumerate(self._params):
            if p.grad is None:
                continue
            m, v = self.get_buffer(f"m{i}"), self.get_buffer(f"v{i}")
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            denom = (v / (1 - b2 ** t)).sqrt_().add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / (1 - b1 ** t))


class LatentGAN(nn.Module):
    """Generator ``G`` (noise → latent) and critic ``D`` (latent → score), plus the critic's optimiser."""

    def __init__(self, latent: int, noise: int = 64, hidden: int = 256, critic_lr: float = 1e-4) -> None:
        super().__init__()
        self.noise = noise
        self.G = nn.Sequential(nn.Linear(noise, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                               nn.LeakyReLU(0.2), nn.Linear(hidden, latent))
        self.D = nn.Sequential(nn.Linear(latent, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                               nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
        self.critic_opt = BufferAdam(list(self.D.parameters()), lr=critic_lr)

    def critic_loss(self, real: torch.Tensor, gp_weight: float = 10.0) -> torch.Tensor:
        """WGAN-GP critic loss ``D(fake) − D(real) + λ·(‖∇D(mix)‖ − 1)²`` on one real batch ``(B, Z)``."""
        n = real.shape[0]
        with torch.no_grad():
            fake = self.G(torch.randn(n, self.noise))
        eps = torch.rand(n, 1)
        mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.D(mix).sum(), mix, create_graph=True)
        gp = ((grad.norm(dim=1) - 1) ** 2).mean()
        return self.D(fake).mean() - self.D(real).mean() + gp_weight * gp

    def generator_loss(self, n: int) -> torch.Tensor:
        """``−D(G(noise))`` through a detached copy of the critic: gradients reach ``G`` only."""
        frozen = {k: v.detach() for k, v in self.D.named_parameters()}
        return -torch.func.functional_call(self.D, frozen, (self.G(torch.randn(n, self.noise)),)).mean()

    def train_step(self, real: torch.Tensor, n_critic: int) -> torch.Tensor:
        """``n_critic`` critic updates on the ``n_critic`` chunks of ``real``, then the generator loss to minimise.

        Critic gradients are cleared afterwards, so the caller's optimiser (which holds all parameters) moves the
        generator only.
        """
        for chunk in real.chunk(n_critic):
            self.D.zero_grad(set_to_none=True)
            loss = self.critic_loss(chunk)
            grads = torch.autograd.grad(loss, list(self.D.parameters()))
            for p, g in zip(self.D.parameters(), grads, strict=True):
                p.grad = g
            self.critic_opt.update()
            self.last_critic_loss = float(loss.detach())
        self.D.zero_grad(set_to_none=True)
        return self.generator_loss(max(1, real.shape[0] // n_critic))


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
    n_critic
        Critic updates per generator update (WGAN-GP uses 5).
    lr, critic_lr
        Generator (Trainer's AdamW) and critic (Adam, betas 0 / 0.9 as in WGAN-GP) learning rates.
    epochs, batch_size
        An epoch passes every latent code through the critic once; ``batch_size`` is per critic step.
    """

    def __init__(self, vae: VAEGenerator | None = None, vae_params: dict[str, Any] | None = None, noise: int = 64,
                 hidden: int = 256, epochs: int = 50, batch_size: int = 128, lr: float = 1e-4, seed: int = 0,
                 checkpoint_dir: str | None = None, progress: bool = True, n_critic: int = 5,
                 critic_lr: float = 1e-4) -> None:
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
        self.n_critic = n_critic
        self.critic_lr = critic_lr

    @property
    def max_len(self) -> int:  # type: ignore[override]
        return self.vae_.max_len

    def _build(self) -> None:
        torch.manual_seed(self.seed)
        self.model_ = LatentGAN(self.vae_.latent, self.noise, self.hidden, self.critic_lr)

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

        if self.n_critic < 1:
            raise ConfigError(f"n_critic must be ≥ 1, got {self.n_critic}", where="n_critic", fix="use 5")
        n_critic = self.n_critic

        def loss_fn(m: nn.Module, batch: torch.Tensor) -> torch.Tensor:
            if not m.training:  # validation/inspection: report the generator loss only
                return m.generator_loss(batch.shape[0])  # type: ignore[operator]
            return m.train_step(batch, n_critic)  # type: ignore[operator]

        cfg = TrainConfig(max_epochs=self.epochs, batch_size=self.batch_size * n_critic, lr=self.lr, weight_decay=0.0,
                          seed=self.seed, patience=None, grad_clip=None, progress=self.progress,
                          restore_best=False, scheduler="none")
        self.result_ = Trainer(self.model_, loss_fn, cfg, checkpoint_dir=self.checkpoint_dir,
                               description="latent GAN").fit(_Latents(z))
        self.model_.eval()
        return self

    @torch.no_grad()
    def _sample_batch(self, n: int, temperature: float, gen: torch.Generator) -> list[str]:
        z = self.model_.G(torch.randn(n, self.noise, generator=gen))
        return self.vae_.decode(z, temperature, gen)
