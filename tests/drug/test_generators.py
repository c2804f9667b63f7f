"""Generators: CharRNN memorises a tiny set, exact checkpoint/resume, seeded sampling, VAE + latent GAN, save/load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from medkit.core.errors import ConfigError, DataError, NotFittedError
from medkit.data import load_dataset
from medkit.drug.charrnn import CharRNNGenerator
from medkit.drug.chem import canonical
from medkit.drug.generators import load_generator
from medkit.drug.latentgan import LatentGANGenerator
from medkit.drug.vae import VAEGenerator

TINY = dict(emb=16, hidden=64, layers=1, max_len=60, progress=False)


@pytest.fixture(scope="module")
def mols() -> list[str]:
    return load_dataset("moses", split="train", n=64).data


def test_charrnn_memorises_tiny_set(mols: list[str]) -> None:
    train = mols[:8]
    g = CharRNNGenerator(epochs=60, batch_size=2, lr=1e-2, **{**TINY, "hidden": 96}).fit(train)
    out = g.sample(50, temperature=0.3, seed=1, progress=False)
    known = {canonical(s) for s in train}
    hits = sum(canonical(s) in known for s in out)
    assert hits >= 35, hits  # near-deterministic sampling reproduces the training molecules


def test_sampling_is_seeded_and_checked(mols: list[str], tmp_path: Path) -> None:
    g = CharRNNGenerator(epochs=1, batch_size=16, **TINY).fit(mols)
    a = g.sample(20, seed=5, progress=False, batch_size=7)
    assert a == g.sample(20, seed=5, progress=False, batch_size=7)
    assert a != g.sample(20, seed=6, progress=False, batch_size=7)
    assert len(a) == 20
    g.save(tmp_path / "gen")
    assert load_generator(tmp_path / "gen").sample(20, seed=5, progress=False, batch_size=7) == a
    with pytest.raises(ConfigError):
        g.sample(5, temperature=0.0)
    with pytest.raises(NotFittedError):
        CharRNNGenerator().sample(5)
    with pytest.raises(DataError):
        CharRNNGenerator(**TINY).fit(["C1CC", "xyz"])


def test_charrnn_resume_is_exact(mols: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full = CharRNNGenerator(epochs=3, batch_size=16, **TINY).fit(mols)

    from medkit.training import loop

    original = loop.Trainer._save_checkpoint

    def crash_after_epoch_1(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if args[5] == 1:  # epoch index
            raise KeyboardInterrupt

    ck = str(tmp_path / "ck")
    monkeypatch.setattr(loop.Trainer, "_save_checkpoint", crash_after_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        CharRNNGenerator(epochs=3, batch_size=16, checkpoint_dir=ck, **TINY).fit(mols)
    monkeypatch.setattr(loop.Trainer, "_save_checkpoint", original)
    resumed = CharRNNGenerator(epochs=3, batch_size=16, checkpoint_dir=ck, **TINY).fit(mols)
    assert resumed.result_.resumed_from == 1
    for (k, v), (_, w) in zip(full.model_.state_dict().items(), resumed.model_.state_dict().items(), strict=True):
        assert torch.equal(v, w), k


def test_vae_and_latent_gan(mols: list[str], tmp_path: Path) -> None:
    vae = VAEGenerator(emb=16, enc_hidden=32, dec_hidden=64, latent=16, epochs=2, batch_size=16, max_len=60,
                       progress=False).fit(mols)
    z = vae.encode(mols[:5])
    assert z.shape == (5, 16)
    assert len(vae.sample(10, seed=0, progress=False)) == 10
    gan = LatentGANGenerator(vae=vae, epochs=3, batch_size=16, hidden=32, progress=False).fit(mols)
    s = gan.sample(12, seed=3, progress=False)
    assert len(s) == 12
    gan.save(tmp_path / "gan")
    assert load_generator(tmp_path / "gan").sample(12, seed=3, progress=False) == s
    with pytest.raises(ConfigError):
        LatentGANGenerator(vae=VAEGenerator()).fit(mols)
