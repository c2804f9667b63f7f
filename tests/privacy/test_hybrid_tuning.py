"""Mechanisms of the CRF + MiniLM tuning: epoch-bounded fine-tune, checked MiniLM cache, pooled pair.

No MiniLM is trained here: the fine-tune's configuration is checked, and the cache is exercised with a stand-in.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from medkit.core.errors import ConfigError
from medkit.privacy.hybrid_workflow import OFF, PooledScores, choose_pair, fit_neural, neural_settings, pooled_grid

torch = pytest.importorskip("torch")

from medkit.privacy.neural_tagger import TransformerPhiTagger  # noqa: E402


def test_fine_tune_is_bounded_by_epochs_not_by_the_clock() -> None:
    t = TransformerPhiTagger(epochs=4, patience=2, max_seconds=None)
    cfg = t.train_config(validated=True)
    assert (cfg.max_epochs, cfg.patience, cfg.max_seconds, cfg.monitor, cfg.mode) == (4, 2, None, "val_ap", "max")
    # without validation notes there is nothing to stop early on: all epochs run
    assert t.train_config(validated=False).patience is None
    # the default: no early stopping, no clock; a cap, when given, is passed on (the result reports hitting it)
    assert TransformerPhiTagger().train_config(True).patience is None
    assert TransformerPhiTagger().train_config(True).max_seconds is None
    assert TransformerPhiTagger(max_seconds=7200.0).train_config(True).max_seconds == 7200.0


class _Stand:
    """A pickleable stand-in for a fitted tagger (only its settings and patients matter to the cache check)."""

    def __init__(self, patients: list[str], **kw: object) -> None:
        base = TransformerPhiTagger(**kw)  # type: ignore[arg-type]
        self.__dict__.update({k: getattr(base, k) for k in neural_settings(base)})
        self.train_patients_ = patients


def _corpus() -> SimpleNamespace:
    groups = np.array(["p1", "p1", "p2", "p3", "p4"])
    split = SimpleNamespace(train=np.array([0, 1, 2]), val=np.array([3]), test=np.array([4]))
    return SimpleNamespace(groups=groups, split=split, part=None)


def test_minilm_cache_is_reused_only_for_the_same_settings_and_patients(tmp_path: Path) -> None:
    params = {"epochs": 4, "lr": 8e-5, "negative_fraction": 0.5, "max_seconds": 14400.0}
    cache = tmp_path / "minilm.pkl"
    with open(cache, "wb") as f:
        pickle.dump(_Stand(["p1", "p2"], **params), f)
    hit = fit_neural(_corpus(), params, cache)  # same settings, same training patients: loaded, not trained
    assert isinstance(hit, _Stand) and hit.epochs == 4

    # session 4's cache: a 1,200 s wall-clock budget -> refused, naming the setting
    with open(cache, "wb") as f:
        pickle.dump(_Stand(["p1", "p2"], **{**params, "max_seconds": 1200.0}), f)
    with pytest.raises(ConfigError, match="max_seconds") as e:
        fit_neural(_corpus(), params, cache)
    assert str(cache) in str(e.value)

    # trained on other patients, or a cache that never recorded them
    for seen in (["p1", "p3"], None):
        with open(cache, "wb") as f:
            pickle.dump(_Stand(seen, **params), f)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="patients"):
            fit_neural(_corpus(), params, cache)


def _s(found: int, n_gold: int, tp: int, n_pred: int) -> PooledScores:
    return PooledScores(found, n_gold, tp, n_pred)


def test_pooled_scores_add_counts() -> None:
    a, b = _s(226, 227, 250, 276), _s(900, 930, 1000, 1100)
    p = PooledScores.of(a, b)
    assert p.counts == (1126, 1157, 1250, 1376)
    assert p.recall == pytest.approx(1126 / 1157) and p.precision == pytest.approx(1250 / 1376)
    assert PooledScores.of(_s(0, 0, 0, 0)).recall == 1.0  # nothing to find: nothing missed


def test_pooled_pair_separates_crf_thresholds_where_validation_saturates() -> None:
    # validation (25 patients): 226/227 at every CRF threshold -> the val-only rule takes the most precise pair
    val = {(0.02, 0.9): _s(226, 227, 240, 280), (0.05, 0.9): _s(226, 227, 250, 276),
           (0.2, 0.9): _s(226, 227, 255, 275), (OFF, 0.9): _s(150, 227, 200, 210)}
    # training patients, out-of-fold CRF alone: lower thresholds find more, at a precision cost
    train = {0.02: _s(905, 930, 1000, 1140), 0.05: _s(898, 930, 1000, 1100), 0.2: _s(880, 930, 1000, 1050)}
    grid = pooled_grid(val, train)
    assert set(grid) == {(0.02, 0.9), (0.05, 0.9), (0.2, 0.9)}  # the CRF-off pair has no training-patient score
    assert grid[(0.05, 0.9)].counts == (1124, 1157, 1250, 1376)
    assert choose_pair(val, min_precision=0.85, prefer="recall") == (0.2, 0.9)  # val-only: ties broken by precision
    # pooled: the most recall at precision >= 0.85 -> 0.02 (1131/1157 at 1240/1420 = 0.873)
    assert choose_pair(grid, min_precision=0.85, prefer="recall") == (0.02, 0.9)
    # a floor no low threshold keeps moves the choice up
    assert choose_pair(grid, min_precision=0.88, prefer="recall") == (0.05, 0.9)


def test_unknown_pair_pool_is_a_config_error() -> None:
    from medkit.privacy.hybrid_workflow import hybrid_tuning

    with pytest.raises(ConfigError, match="pair_pool"):
        hybrid_tuning(None, pair_pool="held-out")


class _FakeMiniLM:
    """Scores title-case words 0.95 (a crude name finder): enough to exercise the union without a fine-tune."""

    n_train_windows_ = 0
    result_ = SimpleNamespace(best_epoch=0, best_score=0.0, seconds=0.0, history=[], out_of_time=False)

    def phi_probability(self, text: str, toks: list) -> list[tuple[float, str]]:
        return [(0.95 if t.text.istitle() and t.text.isalpha() else 0.0, "HCPName") for t in toks]


def test_hybrid_tuning_pools_all_tuning_patients_out_of_sample(shared_data: Path, monkeypatch) -> None:
    import medkit.privacy.hybrid_workflow as hw
    import medkit.privacy.text_workflow as tw

    full = tw.load_corpus(shared_data, 0)
    pats = sorted(set(full.groups.tolist()), key=int)[:8]
    rows = np.flatnonzero(np.isin(full.groups, pats))
    notes = full.notes.iloc[rows].reset_index(drop=True)
    groups = notes["patient"].to_numpy()
    small = tw.DeidCorpus(notes, [full.gold[i] for i in rows], groups, tw.corpus_split(groups, 0), full.lexicon,
                          full.known_names, full.provenance)
    monkeypatch.setattr(tw, "load_corpus", lambda data_dir=None, seed=0, **kw: small)
    monkeypatch.setattr(hw, "fit_neural", lambda corpus, params=None, cache=None: _FakeMiniLM())
    monkeypatch.setattr(hw, "CRF_GRID", (0.02, 0.2, 0.6))  # a small grid keeps the test quick
    monkeypatch.setattr(hw, "NEURAL_GRID", (0.5, 0.99))
    t = hw.hybrid_tuning(shared_data, max_iterations=5, cv_folds=2)
    info, pair = t.info, (t.info["threshold"], t.info["neural_threshold"])

    tuning = np.concatenate([small.split.train, small.split.val])
    assert info["pooled"]["n_gold"] == sum(len(small.gold[i]) for i in tuning)  # every tuning patient counted once
    # pooled = validation (union) + training patients (CRF alone at the same CRF threshold)
    val = {(g["crf"], g["minilm"]): g for g in info["val_grid"]}[pair]
    tr = info["train_crf"][pair[0]]
    assert info["pooled"]["found"] == round(val["recall"] * info["val"]["n_gold"]) + tr["found"]
    best = max((g for g in info["pooled_grid"] if g["precision"] >= 0.85), key=lambda g: (g["recall"], g["precision"]),
               default=None)
    if best is not None:  # the pre-declared rule: the most pooled recall at pooled precision >= 0.85
        assert (info["pooled"]["recall"], info["pooled"]["precision"]) == (best["recall"], best["precision"])
    assert t.model.operating_points_["crf+minilm"] == pair
    assert "crf+minilm-valpair" in t.model.operating_points_ and info["pair_pool"] == "tuning"
