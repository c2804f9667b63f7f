"""Request-level guards as plain ASGI middleware: body-size limit (413 before the body is stored) and
token-bucket rate limiting (429)."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from typing import Any

Scope = dict[str, Any]


async def _send_json(send: Any, status: int, payload: dict[str, Any],
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before a byte is read; a chunked body is counted as it
    streams and refused as soon as it passes the limit, so multipart parsing never spools more than the limit.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _payload(self) -> dict[str, Any]:
        mb = self.max_bytes / (1024 * 1024)
        return {"detail": f"request body larger than the {mb:.1f} MB limit",
                "error": {"type": "PayloadTooLarge", "what": "upload too large", "where": "request body",
                          "fix": f"send at most {mb:.1f} MB (split CSV files; downsample images)"}}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await _send_json(send, 400, {"detail": "invalid Content-Length header"})
                return
            if too_big:
                await _send_json(send, 413, self._payload())
                return
        seen = 0
        started = False
        exceeded = False

        async def counting_receive() -> Any:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise _TooLarge
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if exceeded:
                # The framework turned our abort into its own error response (e.g. FastAPI's 400 "error parsing
                # the body"); answer 413 instead and drop the framework's message.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _send_json(send, 413, self._payload())
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_json(send, 413, self._payload())
        except Exception:
            if exceeded and not started:
                await _send_json(send, 413, self._payload())
            else:
                raise


class TokenBucket:
    """Per-key token buckets (``rate`` tokens per second, ``burst`` capacity), LRU-bounded in memory."""

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Take one token; returns 0 when allowed, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait


def client_key(scope: Scope) -> str:
    """Who is asking: the bearer token or session cookie (hashed), else the client address."""
    headers = dict(scope.get("headers") or [])
    auth = headers.get(b"authorization", b"")
    if auth[:7].lower() == b"bearer ":
        return "t:" + hashlib.sha256(auth[7:].strip()).hexdigest()[:32]
    for part in headers.get(b"cookie", b"").split(b";"):
        k, _, v = part.strip().partition(b"=")
        if k == b"medkit_session" and v:
            return "s:" + hashlib.sha256(v).hexdigest()[:32]
    client = scope.get("client") or ("unknown", 0)
    return "ip:" + str(client[0])


class RateLimitMiddleware:
    """429 with ``Retry-After`` when a client exceeds its bucket; health checks and static files are exempt."""

    EXEMPT = ("/static/", "/api/v1/health")

    def __init__(self, app: Any, rate: float, burst: int) -> None:
        self.app = app
        self.bucket = TokenBucket(rate, burst)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(self.EXEMPT):
            wait = self.bucket.take(client_key(scope))
            if wait > 0:
                retry = str(max(1, math.ceil(wait))).encode()
                await _send_json(send, 429, {"detail": "too many requests", "error": {
                    "type": "RateLimited", "what": "rate limit exceeded", "where": "client",
                    "fix": f"retry after {retry.decode()} s"}}, [(b"retry-after", retry)])
                return
        await self.app(scope, receive, send)
