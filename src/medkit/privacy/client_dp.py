"""Differential privacy on client updates: site-level DP-FedAvg (McMahan et al., ICLR 2018).

Each round every site clips its model update ``delta = w_local - w_global`` to L2 norm ``clip`` (over all
tensors together) and adds Gaussian noise; the server averages the noisy clipped updates *unweighted*, so
one site can move the average by at most ``clip / m`` (m = sites in the round) whatever its size.

Noise: with secure aggregation the server only sees the sum, so the noise can be split across sites: each
adds ``N(0, (z * clip)^2 / m)`` and the sum carries ``N(0, (z * clip)^2)`` (distributed DP). Without secure
aggregation each site's update is visible on its own and each site adds the full ``N(0, (z * clip)^2)``.
The guarantee is *site level* (whether a site took part, and anything about its rows), accounted with
Opacus' RDP accountant for ``rounds`` compositions of the Gaussian mechanism with sampling rate 1 (every
site every round). With a handful of sites the noise needed for a small epsilon is large compared with the
signal; this is the honest price of protecting whole hospitals rather than single rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from medkit.core.errors import PrivacyError


def check_dp_params(clip: float, noise_multiplier: float) -> None:
    """Refuse non-positive or non-finite clip norms and negative noise."""
    if not (math.isfinite(clip) and clip > 0):
        raise PrivacyError(f"client DP clip norm must be a finite number > 0, got {clip}", where="--dp-clip",
                           fix="use e.g. --dp-clip 1.0 (L2 norm of a site's update)")
    if not (math.isfinite(noise_multiplier) and noise_multiplier >= 0):
        raise PrivacyError(f"client DP noise multiplier must be >= 0, got {noise_multiplier}", where="--dp-noise",
                           fix="use e.g. --dp-noise 1.0 (noise SD = multiplier x clip)")


def clip_update(update: Sequence[np.ndarray], clip: float) -> tuple[list[np.ndarray], float]:
    """Scale ``update`` (list of arrays) to L2 norm <= ``clip``; returns the clipped update and the original norm."""
    norm = float(math.sqrt(sum(float(np.sum(np.square(u, dtype=np.float64))) for u in update)))
    scale = min(1.0, clip / norm) if norm > 0 else 1.0
    return [np.asarray(u, dtype=np.float64) * scale for u in update], norm


def privatise_update(update: Sequence[np.ndarray], clip: float, noise_multiplier: float, n_sites: int,
                     secure_agg: bool, rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
    """Clip and add this site's share of the Gaussian noise (see the module docstring)."""
    check_dp_params(clip, noise_multiplier)
    clipped, norm = clip_update(update, clip)
    sd = noise_multiplier * clip / (math.sqrt(max(n_sites, 1)) if secure_agg else 1.0)
    return [c + rng.normal(0.0, sd, size=np.shape(c)) for c in clipped], norm


def site_level_epsilon(noise_multiplier: float, rounds: int, delta: float = 1e-5) -> float:
    """Epsilon at ``delta`` after ``rounds`` rounds of the Gaussian mechanism with noise SD
    ``noise_multiplier x clip`` on the sum (Opacus RDP accountant, sampling rate 1); inf without noise."""
    if noise_multiplier <= 0:
        return float("inf")
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    acc.history = [(float(noise_multiplier), 1.0, int(rounds))]
    return float(acc.get_epsilon(delta))
