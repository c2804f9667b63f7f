"""A short-lived, per-process cache of bearer-token lookups.

Every API call names its token; looking it up (one indexed read of the token's sha256 joined to its user) was a
tenth of a one-patient prediction's CPU time and a trip through the thread pool. A token that was found valid is
remembered for ``ttl_s`` seconds (default 2 s), so under load a client's token is read from the database about once
per window instead of once per request. What keeps this safe:

- the cache is cleared whenever this process writes an API token or a user (revocation, password change or reset,
  role or state change; see :meth:`medkit.serve.service.Service.start`), so such changes made through this server
  take effect on the very next request;
- a change made by another process (the ``medkit serve reset-password`` command, another worker) takes effect in
  this process within ``ttl_s`` seconds: that window is the only relaxation, and it is documented in docs/serve.md;
- a cached entry never outlives its token's expiry time, and unknown, forged or refused tokens are never cached
  (each costs a database lookup; the rate limiter bounds how many);
- keys are the sha256 of the token, as in the database, so the plain token is not kept.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from collections import OrderedDict

from medkit.serve.db import utcnow
from medkit.serve.security import Principal


class TokenCache:
    """``sha256(token) -> Principal`` for ``ttl_s`` seconds, LRU-bounded to ``max_keys`` entries."""

    def __init__(self, ttl_s: float = 2.0, max_keys: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_keys = max_keys
        self._entries: OrderedDict[str, tuple[float, _dt.datetime, Principal]] = OrderedDict()
        self._lock = threading.Lock()
        self.generation = 0  # bumped by clear(); a lookup that began before a clear is not stored
        self.clock = time.monotonic  # replaceable in tests

    def get(self, token_hash: str) -> Principal | None:
        """The cached principal, or None when absent, older than ``ttl_s`` or past the token's expiry."""
        if self.ttl_s <= 0:
            return None
        hit = self._entries.get(token_hash)
        if hit is None:
            return None
        stored, expires_at, principal = hit
        if self.clock() - stored >= self.ttl_s or expires_at <= utcnow():
            with self._lock:
                self._entries.pop(token_hash, None)
            return None
        return principal

    def put(self, token_hash: str, principal: Principal, expires_at: _dt.datetime, *, generation: int) -> None:
        """Remember a valid token unless the cache was cleared since the lookup began (``generation``)."""
        if self.ttl_s <= 0:
            return
        with self._lock:
            if generation != self.generation:  # a revocation raced with this lookup: do not resurrect the old answer
                return
            self._entries[token_hash] = (self.clock(), expires_at, principal)
            self._entries.move_to_end(token_hash)
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (called after any write to tokens or users in this process)."""
        with self._lock:
            self.generation += 1
            self._entries.clear()
