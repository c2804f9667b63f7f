"""CharRNN training throughput pieces: tokenizer round trip, length buckets keep every molecule, the time budget."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from medkit.core.errors import ConfigError
from medkit.data import load_dataset
from medkit.drug import batching
from medkit.drug.batching import BucketBatches, TimeBudget, bucket_batches
from medkit.drug.charrnn import CharRNNGenerator
from medkit.drug.generators import prepare_corpus
from medkit.drug.vocab import SmilesVocab, tokenize

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def moses() -> list[str]:
    return load_dataset("moses", split="train", n=600).data


def test_tokenizer_multichar_tokens_and_round_trip(moses: list[str]) -> None:
    assert tokenize("ClC(Br)c1cc[nH]c1C%10CC[C@@H]%10") == [
        "Cl", "C", "(", "Br", ")", "c", "1", "c", "c", "[nH]", "c", "1", "C", "%10", "C", "C", "[C@@H]", "%10"]
    vocab = SmilesVocab.from_smiles(moses)
    assert {"Cl", "Br", "[nH]"} <= set(vocab.tokens)
    toks = [tokenize(s) for s in moses]
    enc = vocab.encode_many(toks, 100)
    for s, t, row in zip(moses, toks, enc, strict=True):
        assert "".join(t) == s
        assert vocab.decode(row) == s
        assert np.array_equal(row, vocab.encode(s, 100))  # batch encoder = row encoder


def test_prepare_corpus_fast_path_counts_skips() -> None:
    vocab, ids, skipped = prepare_corpus(["CCO", "c1ccccc1", "C" * 30, "CC&C", ""], 20, standardise=False)
    assert ids.shape == (2, 22) and skipped == 3  # too long, untokenizable, empty: counted, not silent
    assert [vocab.decode(r) for r in ids] == ["CCO", "c1ccccc1"]


def test_bucketing_keeps_every_molecule_once(moses: list[str]) -> None:
    _, ids, _ = prepare_corpus(moses, 100, standardise=False)
    lengths = (ids != 0).sum(1)
    idx = np.concatenate(bucket_batches(lengths, 64, seed=3))
    assert sorted(idx.tolist()) == list(range(len(moses)))
    data = BucketBatches(ids, 64, epoch_molecules=128, seed=3)
    assert len(data) == 2
    vocab = _vocab(moses)
    seen: Counter[str] = Counter()
    padding = 0
    for epoch in range(int(np.ceil(len(data.batches) / len(data)))):  # walk the corpus epoch by epoch
        data.set_epoch(epoch)
        for i in range(len(data)):
            b = data[i]
            assert b.dtype == torch.int64 and b.shape[1] == int((b != 0).sum(1).max())  # trimmed to longest row
            padding += int((b == 0).sum())
            seen.update(vocab.decode(r) for r in b.numpy())
    assert seen == Counter(moses)  # every molecule exactly once per pass
    unbucketed = int((ids[:, :int(lengths.max())] == 0).sum())
    assert padding < 0.2 * unbucketed  # the point of bucketing: little padding left


def _vocab(smiles: list[str]) -> SmilesVocab:
    return prepare_corpus(smiles, 100, standardise=False)[0]


def test_time_budget_schedule() -> None:
    b = TimeBudget(100.0, lr=1e-2, warmup_frac=0.1, final_frac=0.01)
    assert b.lr_at(0.0) < b.lr_at(0.05) < b.lr_at(0.1) == pytest.approx(1e-2)
    assert b.lr_at(0.55) == pytest.approx(0.5 * (1e-2 + 1e-4))
    assert b.lr_at(1.0) == pytest.approx(1e-4)
    with pytest.raises(Exception, match="max_seconds"):
        TimeBudget(0, lr=1e-3)


def test_budget_is_honoured_mid_epoch(moses: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake clock advances 1 s per batch: with a 5.5 s budget only 6 batches train, even inside one epoch,
    and epochs after the budget leave the weights untouched."""
    def fit(epochs: int) -> CharRNNGenerator:
        t = iter(range(10_000))
        monkeypatch.setattr(batching, "_clock", lambda: float(next(t)))
        return CharRNNGenerator(hidden=32, layers=1, emb=8, batch_size=30, epochs=epochs, max_seconds=5.5,
                                standardise=False, progress=False).fit(moses)

    one, three = fit(1), fit(3)
    n_batches = int(np.ceil(len(moses) / 30))
    assert n_batches > 6
    assert one.molecules_seen_ == three.molecules_seen_ == 6 * 30
    assert one.train_seconds_ >= 5.5
    for (k, v), (_, w) in zip(one.model_.state_dict().items(), three.model_.state_dict().items(), strict=True):
        assert k.startswith("budget_") or torch.equal(v, w), k


def test_bf16_training_learns_and_bad_precision_is_refused(moses: list[str]) -> None:
    if not batching.bf16_supported():  # e.g. AMD EPYC without AVX512-BF16: a clear error, not oneDNN's
        with pytest.raises(ConfigError, match="native bf16"):
            CharRNNGenerator(precision="bf16", epochs=1, standardise=False, progress=False).fit(moses[:20])
        return
    g = CharRNNGenerator(hidden=64, layers=1, emb=16, batch_size=20, epochs=4, lr=1e-2, precision="bf16",
                         standardise=False, progress=False).fit(moses[:200])
    losses = [h["train_loss"] for h in g.result_.history]
    assert losses[-1] < losses[0] - 0.3
    assert all(p.dtype == torch.float32 for p in g.model_.parameters())  # master weights stay fp32
    with pytest.raises(ConfigError, match="precision"):
        CharRNNGenerator(precision="fp8", standardise=False).fit(moses[:10])
