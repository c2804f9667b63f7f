"""Each MOSES metric equals the molsets reference implementation on a fixed real sample.

The "generated" sample mixes MOSES test molecules, a few train molecules (so novelty < 1), duplicates (so
unique < 1), invalid strings (validity < 1) and molecules that fail the filters (charged, Si, PAINS-like).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from medkit.data import load_dataset
from medkit.drug import metrics as M
from medkit.drug.chem import canonical

from ._moses_shim import import_moses_metrics


@pytest.fixture(scope="module")
def sample() -> dict[str, list[str]]:
    train = load_dataset("moses", split="train", n=2000).data
    test = load_dataset("moses", split="test", n=400).data
    gen = test[:250] + train[:40] + test[:30] + ["C1CC", "xyz", "", "CC(C)(C)(C)(C)C", "C[N+](C)(C)C",
                                                  "C[Si](C)(C)c1ccccc1", "O=C1C=CC(=O)C=C1", "C1CCCCCCC1"]
    return {"train": train, "test": test[250:], "gen": gen}


@pytest.fixture(scope="module")
def ref() -> tuple[object, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return import_moses_metrics()


def test_validity_unique_novelty(sample: dict[str, list[str]], ref: tuple[object, object]) -> None:
    mm, _ = ref
    gen = sample["gen"]
    assert M.fraction_valid(gen) == pytest.approx(mm.fraction_valid(gen), abs=0)  # type: ignore[attr-defined]
    assert M.fraction_valid(gen) < 1.0
    valid = mm.remove_invalid(gen, canonize=True)  # type: ignore[attr-defined]
    ours_valid = [c for c in map(canonical, gen) if c is not None]
    assert ours_valid == valid
    for k in (100, 250):
        assert M.fraction_unique(valid, k) == mm.fraction_unique(valid, k)  # type: ignore[attr-defined]
    assert M.fraction_unique(valid, 300) < 1.0
    nov = M.novelty(valid, sample["train"])
    assert nov == mm.metrics.novelty(valid, sample["train"])  # type: ignore[attr-defined]
    assert 0.0 < nov < 1.0


def test_intdiv_filters(sample: dict[str, list[str]], ref: tuple[object, object]) -> None:
    mm, mu = ref
    valid = [c for c in map(canonical, sample["gen"]) if c is not None]
    mols = [M._mol(s) for s in valid]
    assert np.array_equal(M.fingerprints(mols), mu.fingerprints(mols, fp_type="morgan"))  # type: ignore[attr-defined]
    for p in (1, 2):
        assert M.internal_diversity(mols, p=p) == pytest.approx(
            mm.internal_diversity(mols, p=p), abs=1e-6)  # type: ignore[attr-defined]
    few = mols[:60] + mols[-6:]  # the ~1,100 MCF/PAINS SMARTS are slow; the last rows hold the deliberate failures
    ours = [M.mol_passes_filters(m) for m in few]
    assert ours == [bool(mu.mol_passes_filters(m)) for m in few]  # type: ignore[attr-defined]
    assert 0 < sum(ours) < len(ours)
    assert M.fraction_passes_filters(few) == pytest.approx(mm.fraction_passes_filters(few))  # type: ignore[attr-defined]


def test_snn_frag_scaf(sample: dict[str, list[str]], ref: tuple[object, object]) -> None:
    mm, _ = ref
    valid = [c for c in map(canonical, sample["gen"]) if c is not None]
    gmols = [M._mol(s) for s in valid]
    rmols = [M._mol(s) for s in sample["test"]]
    r = M.reference_stats(sample["test"], with_fcd=False)
    assert M.snn(M.fingerprints(gmols), r.fps) == pytest.approx(
        mm.SNNMetric()(gen=gmols, ref=rmols), abs=1e-6)  # type: ignore[attr-defined]
    frag = M.frag_similarity(M.fragment_counts(gmols), r.frag)
    assert frag == pytest.approx(mm.FragMetric()(gen=gmols, ref=rmols), abs=1e-9)  # type: ignore[attr-defined]
    scaf = M.scaf_similarity(M.scaffold_counts(gmols), r.scaf)
    assert scaf == pytest.approx(mm.ScafMetric()(gen=gmols, ref=rmols), abs=1e-9)  # type: ignore[attr-defined]
    assert 0 < scaf < 1 and 0 < frag < 1


def test_fcd_equals_fcd_torch(sample: dict[str, list[str]]) -> None:
    from fcd_torch import FCD

    from medkit.drug.fcd import fcd

    valid = [c for c in map(canonical, sample["gen"]) if c is not None][:200]
    test = sample["test"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = FCD(n_jobs=1)(gen=valid, ref=test)
    assert fcd(valid, test) == pytest.approx(expected, rel=1e-6)
    assert expected > 0


def test_evaluate_generation_bundle(sample: dict[str, list[str]]) -> None:
    r = M.reference_stats(sample["test"], with_fcd=False)
    out = M.evaluate_generation(sample["gen"], train=set(sample["train"]), test=r, ks=(100, 10000))
    assert "unique@100" in out.unique and "unique@10k" not in out.unique  # k above the sample size is not reported
    assert out.snn_test is not None and 0 < out.snn_test <= 1
    assert out.fcd_test is None  # no FCD stats were given
    assert {row["metric"] for row in out.table()} >= {"validity", "novelty", "intdiv", "filters", "snn/test"}
