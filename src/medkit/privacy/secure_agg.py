"""Secure aggregation by pairwise additive masking (Bonawitz et al., CCS 2017, without double masking).

Every round, each participating site draws a fresh X25519 key pair and publishes only its public key
(through the server). Sites ``u`` and ``v`` derive the same pairwise secret by Diffie-Hellman, expand it with
HKDF into a mask over the integers modulo 2**64, and site ``u`` *adds* the mask when ``u < v`` and
*subtracts* it when ``u > v``. The server never learns a pairwise secret, so every masked update it sees is
uniformly distributed over Z_(2**64)^d and carries no information about the site's update; in the sum over
all participants every mask appears once with ``+`` and once with ``-`` and cancels exactly.

Updates are real numbers, masks live in a finite ring: a site sends ``encode(n_i * (w_i - w_global))``,
fixed-point with ``scale`` (2**24, i.e. a resolution of 6e-8) in two's complement modulo 2**64. The server
adds the masked vectors modulo 2**64, decodes the sum and divides by ``sum n_i``: exactly FedAvg, up to
the fixed-point rounding (at most ``n_sites / (2 * scale * sum n_i)`` per weight).

Drop-outs: a site that was sent the round's key list but did not return its masked update leaves its
masks uncancelled, so the sum is noise. The server detects this (the set of replies differs from the set
of masked participants) and *discards that round's aggregate* (the global model stays as it was); the next
round masks over the surviving sites only. Bonawitz' recovery of the dropped site's masks (Shamir shares
plus a self mask) is not implemented. The number of examples per site is sent in clear (as in FedAvg).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from medkit.core.errors import PrivacyError

SCALE = float(2**24)
_LIMIT = 2.0**62  # |encoded value| bound leaving headroom for the sum of many sites modulo 2**64


@dataclass
class SiteKeys:
    """A site's X25519 key pair for one round (the private key never leaves the site)."""

    private: object
    public: bytes


def new_keys() -> SiteKeys:
    """A fresh X25519 key pair; ``public`` (32 bytes) is what the site publishes."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    sk = X25519PrivateKey.generate()
    return SiteKeys(sk, sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def pair_seed(keys: SiteKeys, peer_public: bytes, round_id: int) -> bytes:
    """The 32-byte secret shared by this site and the peer (X25519 + HKDF-SHA256, bound to the round)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    shared = keys.private.exchange(X25519PublicKey.from_public_bytes(peer_public))  # type: ignore[attr-defined]
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"medkit-secagg-round-" + str(int(round_id)).encode()).derive(shared)


def _mask(seed: bytes, index: int, size: int) -> np.ndarray:
    """Uniform uint64 mask for one array of the update, expanded from the pairwise seed."""
    s = int.from_bytes(hashlib.sha256(seed + index.to_bytes(4, "big")).digest(), "big")
    return np.random.Generator(np.random.PCG64(s)).integers(0, 2**64, size=size, dtype=np.uint64, endpoint=False)


def encode(values: np.ndarray, scale: float = SCALE) -> np.ndarray:
    """Real array -> fixed point in two's complement modulo 2**64 (uint64), same shape."""
    z = np.rint(np.asarray(values, dtype=np.float64) * scale)
    if not np.all(np.isfinite(z)) or np.any(np.abs(z) >= _LIMIT):
        raise PrivacyError("update too large (or not finite) for secure aggregation's fixed-point encoding",
                           where="secure aggregation", fix="check the site's training for divergence (NaN/inf "
                           "weights) or lower the learning rate")
    return z.astype(np.int64).view(np.uint64)


def decode(values: np.ndarray, scale: float = SCALE) -> np.ndarray:
    """Inverse of :func:`encode` (uint64 -> float64)."""
    return np.asarray(values, dtype=np.uint64).view(np.int64).astype(np.float64) / scale


def mask_update(update: Sequence[np.ndarray], site: int, keys: SiteKeys, peers: Mapping[int, bytes],
                round_id: int, scale: float = SCALE) -> list[np.ndarray]:
    """Encode ``update`` (list of arrays) and add this site's pairwise masks with every other participant.

    Parameters
    ----------
    update
        The site's (example-weighted) update, one array per model tensor.
    site
        This site's id; ``peers`` maps the ids of *all* participants of the round (this one included or not)
        to their public keys.
    """
    others = {int(v): pk for v, pk in peers.items() if int(v) != int(site)}
    seeds = {v: pair_seed(keys, pk, round_id) for v, pk in others.items()}
    out = []
    for k, arr in enumerate(update):
        enc = encode(arr, scale).ravel().copy()
        with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the point
            for v, seed in seeds.items():
                m = _mask(seed, k, enc.size)
                enc = enc + m if site < v else enc - m
        out.append(enc.reshape(np.shape(arr)))
    return out


def sum_masked(updates: Sequence[Sequence[np.ndarray]], scale: float = SCALE) -> list[np.ndarray]:
    """Server side: add masked updates modulo 2**64 and decode; equals the sum of the plain updates only when
    ``updates`` holds *every* participant of the round (otherwise the result is noise)."""
    if not updates:
        raise PrivacyError("no masked updates to aggregate", where="secure aggregation",
                           fix="at least one site must reply in the round")
    total = [np.zeros(np.shape(a), dtype=np.uint64) for a in updates[0]]
    with np.errstate(over="ignore"):
        for upd in updates:
            total = [t + np.asarray(a, dtype=np.uint64) for t, a in zip(total, upd, strict=True)]
    return [decode(t, scale) for t in total]
