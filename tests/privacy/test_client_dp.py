"""Client-update DP (site-level DP-FedAvg): clipping, noise scale, accountant, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medkit.core.errors import PrivacyError


def test_clip_bounds_the_norm_and_keeps_small_updates() -> None:
    from medkit.privacy.client_dp import clip_update

    big = [np.full((3, 4), 2.0), np.full(5, -2.0)]  # norm sqrt(17 * 4) = 8.25
    clipped, norm = clip_update(big, 1.0)
    assert norm == pytest.approx(math.sqrt(68))
    assert math.sqrt(sum(float(np.sum(c**2)) for c in clipped)) == pytest.approx(1.0)
    np.testing.assert_allclose(clipped[0] / clipped[0].max(), 1.0)  # direction kept
    small = [np.full(4, 0.1)]
    np.testing.assert_allclose(clip_update(small, 1.0)[0][0], small[0])


@pytest.mark.parametrize("secure,expected", [(True, 2.0 / 2), (False, 2.0)])
def test_noise_sd_is_shared_across_sites_only_with_secure_aggregation(secure: bool, expected: float) -> None:
    from medkit.privacy.client_dp import privatise_update

    zero = [np.zeros(200_000)]
    noisy, _ = privatise_update(zero, clip=1.0, noise_multiplier=2.0, n_sites=4, secure_agg=secure,
                                rng=np.random.default_rng(0))
    assert float(np.std(noisy[0])) == pytest.approx(expected, rel=0.01)


def test_sum_of_shared_noise_has_the_full_sd() -> None:
    from medkit.privacy.client_dp import privatise_update

    rng = np.random.default_rng(1)
    total = sum(privatise_update([np.zeros(100_000)], 1.0, 1.5, 4, True, rng)[0][0] for _ in range(4))
    assert float(np.std(total)) == pytest.approx(1.5, rel=0.01)


def test_epsilon_matches_opacus_and_falls_with_noise() -> None:
    from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

    from medkit.privacy.client_dp import site_level_epsilon

    orders = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
    rdp = compute_rdp(q=1.0, noise_multiplier=2.0, steps=20, orders=orders)
    ref, _ = get_privacy_spent(orders=orders, rdp=rdp, delta=1e-5)
    assert site_level_epsilon(2.0, 20, 1e-5) == pytest.approx(ref, rel=1e-6)
    assert site_level_epsilon(4.0, 20) < site_level_epsilon(2.0, 20) < site_level_epsilon(2.0, 40)
    assert site_level_epsilon(0.0, 20) == float("inf")


@pytest.mark.parametrize("clip,noise", [(0.0, 1.0), (-1.0, 1.0), (float("nan"), 1.0), (1.0, -0.5)])
def test_bad_parameters_are_refused(clip: float, noise: float) -> None:
    from medkit.privacy.client_dp import check_dp_params

    with pytest.raises(PrivacyError):
        check_dp_params(clip, noise)


def test_federation_with_secure_aggregation_and_client_dp(shared_data) -> None:
    pytest.importorskip("flwr")
    from medkit.privacy.client_dp import site_level_epsilon
    from medkit.privacy.federated import run_federated
    from medkit.privacy.physionet_sites import load_xy

    d = load_xy("a", shared_data, limit=450)
    sites = [(d.X[d.icu == k], d.y[d.icu == k]) for k in (2, 3, 4)]
    kw = dict(strategy="fedavg", rounds=2, local_epochs=1, seed=0, timeout_s=240, secure_agg=True)
    res = run_federated(sites, dp_clip=0.5, dp_noise=1.0, **kw)
    assert [r["secure_agg"] for r in res.rounds] == ["ok", "ok"]
    assert res.dp_epsilon == pytest.approx(site_level_epsilon(1.0, 2, 1e-5))
    assert all(np.isfinite(w).all() for w in res.weights)
    # the global model moved by at most the clip norm per round (unweighted mean of clipped updates) plus noise
    plain = run_federated(sites, **kw)
    assert plain.dp_epsilon is None
    diff = max(float(np.abs(a - b).max()) for a, b in zip(plain.weights, res.weights, strict=True))
    assert diff > 1e-3  # clipping + noise changed the model


def test_dp_parameters_are_checked_before_any_site_starts() -> None:
    from medkit.privacy.federated import run_federated

    X = np.zeros((20, 3))
    y = np.r_[np.zeros(10), np.ones(10)]
    with pytest.raises(PrivacyError, match="clip norm"):
        run_federated([(X, y), (X, y)], dp_clip=0.0)
