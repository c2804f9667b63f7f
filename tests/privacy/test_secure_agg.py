"""Secure aggregation: masked updates hide the plain ones, their sum is FedAvg, drop-outs discard the round."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medkit.core.errors import PrivacyError

pytest.importorskip("cryptography")


def _round(n_sites: int = 3, seed: int = 0) -> tuple[list[list[np.ndarray]], list[list[np.ndarray]]]:
    from medkit.privacy.secure_agg import mask_update, new_keys

    rng = np.random.default_rng(seed)
    plain = [[rng.normal(size=(8, 5)) * 300, rng.normal(size=8)] for _ in range(n_sites)]
    keys = [new_keys() for _ in range(n_sites)]
    peers = {i: k.public for i, k in enumerate(keys)}
    masked = [mask_update(u, i, keys[i], peers, round_id=7) for i, u in enumerate(plain)]
    return plain, masked


def test_sum_of_masked_updates_equals_plain_sum() -> None:
    from medkit.privacy.secure_agg import SCALE, sum_masked

    plain, masked = _round(4)
    total = sum_masked(masked)
    for k in range(2):
        ref = sum(u[k] for u in plain)
        # fixed-point rounding: at most half a step per site
        np.testing.assert_allclose(total[k], ref, rtol=0, atol=4 * 0.5 / SCALE + 1e-9)


def test_each_masked_update_reveals_nothing_usable() -> None:
    from medkit.privacy.secure_agg import decode, encode

    plain, masked = _round(3)
    for u, m in zip(plain, masked, strict=True):
        a, b = u[0].ravel(), m[0].ravel()
        assert not np.array_equal(b, encode(a).ravel())  # differs from the plain encoding everywhere it matters
        assert np.mean(b == encode(a).ravel()) < 0.05
        d = decode(b)
        assert abs(np.corrcoef(a, d)[0, 1]) < 0.5  # no usable relation to the plain update
        assert np.median(np.abs(d)) > 1e6 * np.median(np.abs(a))  # looks like uniform noise over the ring
        bits = np.unpackbits(b.view(np.uint8))
        assert 0.4 < bits.mean() < 0.6


def test_a_missing_site_leaves_noise_not_a_partial_sum() -> None:
    from medkit.privacy.secure_agg import sum_masked

    plain, masked = _round(3)
    partial = sum_masked(masked[:2])
    ref = plain[0][0] + plain[1][0]
    assert np.median(np.abs(partial[0] - ref)) > 1e6  # masks with the missing site do not cancel


def test_masks_depend_on_the_round_and_keys_never_need_to_be_shared() -> None:
    from medkit.privacy.secure_agg import mask_update, new_keys, pair_seed

    a, b = new_keys(), new_keys()
    assert pair_seed(a, b.public, 1) == pair_seed(b, a.public, 1)  # Diffie-Hellman agreement
    assert pair_seed(a, b.public, 1) != pair_seed(a, b.public, 2)
    u = [np.ones(4)]
    assert not np.array_equal(mask_update(u, 0, a, {1: b.public}, 1)[0], mask_update(u, 0, a, {1: b.public}, 2)[0])


def test_non_finite_or_huge_update_is_refused() -> None:
    from medkit.privacy.secure_agg import encode

    with pytest.raises(PrivacyError, match="fixed-point"):
        encode(np.array([1.0, np.nan]))
    with pytest.raises(PrivacyError, match="fixed-point"):
        encode(np.array([1e30]))


@pytest.fixture(scope="module")
def three_sites(shared_data: Path):
    from medkit.privacy.physionet_sites import load_xy

    d = load_xy("a", shared_data, limit=600)
    tr = np.arange(len(d.y)) < 480
    sites = [(d.X[tr & (d.icu == k)], d.y[tr & (d.icu == k)]) for k in (2, 3, 4)]
    return d, tr, sites


def test_secure_federation_equals_plain_fedavg(three_sites) -> None:
    pytest.importorskip("flwr")
    from medkit.privacy.federated import run_federated

    _, _, sites = three_sites
    kw = dict(strategy="fedavg", rounds=2, local_epochs=1, seed=0, timeout_s=240)
    plain = run_federated(sites, **kw)
    secure = run_federated(sites, secure_agg=True, **kw)
    assert [r["secure_agg"] for r in secure.rounds] == ["ok", "ok"]
    assert "secure_agg" not in plain.rounds[0]
    for a, b in zip(plain.weights, secure.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)
    assert max(float(np.abs(a - b).max()) for a, b in zip(plain.weights, secure.weights, strict=True)) < 1e-4


def test_secure_federation_discards_the_round_a_site_drops_out_and_goes_on(three_sites) -> None:
    pytest.importorskip("flwr")
    from sklearn.metrics import roc_auc_score

    from medkit.privacy.federated import run_federated
    from medkit.privacy.tabular_mlp import predict_proba

    d, tr, sites = three_sites
    res = run_federated(sites, strategy="fedprox", mu=0.01, rounds=4, local_epochs=1, seed=0, timeout_s=240,
                        drop={2: 3}, secure_agg=True)
    assert [r["secure_agg"] for r in res.rounds] == ["ok", "ok", "discarded", "ok"]
    assert [r["n_results"] for r in res.rounds] == [3, 3, 2, 2] and res.dropped_sites == [2]
    p = predict_proba(res.model(d.X.shape[1]), res.standardise(d.X[~tr]))
    assert np.isfinite(p).all() and roc_auc_score(d.y[~tr], p) > 0.65


def test_cli_exposes_secure_agg() -> None:
    from typer.testing import CliRunner

    from medkit.cli.federated import app

    r = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "--secure-agg" in r.output and "--dp-clip" in r.output
