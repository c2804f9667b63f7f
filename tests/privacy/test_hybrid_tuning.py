"""Session-5 mechanisms of the CRF + MiniLM tuning: epoch-bounded fine-tune, checked MiniLM cache, pooled pair.

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
