"""A bounded HTTP load generator for loopback benchmarks of ``medkit serve`` (standard library only).

Open loop: request ``i`` is due at ``t0 + i / rate`` whatever happened to earlier requests, and its latency is
measured from that scheduled time, not from when a connection became free, so a slow server shows up as latency
instead of silently lowering the offered load (no coordinated omission). A fixed pool of worker threads, each with
one keep-alive ``http.client`` connection, takes the next due request from a shared counter. It always terminates:
every socket has a timeout, no request is sent after ``duration + grace`` seconds (the unsent ones count as
errors), and the threads are joined with a deadline. Run it as its own process (``python -m medkit.serve.loadgen``)
so the generator has its own interpreter lock and event timing, separate from the server.

Closed loop (``rate=0``): each connection sends its next request as soon as the last returns, ``count`` requests in
all (capacity and throughput, e.g. image uploads).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import itertools
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field


def wait_ready(base_url: str, timeout_s: float = 30.0) -> bool:
    """Poll ``{base_url}/api/v1/ready`` until it answers 200 or ``timeout_s`` passes; returns whether it did."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/api/v1/ready", timeout=1) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass  # not listening yet, or 503 while the database is not ready
        time.sleep(0.1)
    return False


@dataclass
class LoadResult:
    """Outcome of one load run.

    Attributes
    ----------
    latency_ms
        Per completed request (ok or not), milliseconds from the scheduled send time (open loop) or from the
        actual send time (closed loop).
    service_ms
        Per completed request, milliseconds from the actual send to the end of the response body.
    errors
        Requests that failed: non-2xx status, failed ``check``, connection error/timeout, or never sent in time.
    """

    planned: int
    sent: int = 0
    completed: int = 0
    errors: int = 0
    unsent: int = 0
    wall_s: float = 0.0
    max_send_lag_ms: float = 0.0
    status_counts: dict[str, int] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)
    latency_ms: list[float] = field(default_factory=list)
    service_ms: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        """Completed requests per second of wall time."""
        return self.completed / self.wall_s if self.wall_s > 0 else 0.0

    def percentile(self, q: float, *, which: str = "latency") -> float:
        """The ``q``-th percentile (0-100, nearest-rank) of latency or service time; NaN when nothing completed."""
        xs = sorted(self.latency_ms if which == "latency" else self.service_ms)
        if not xs:
            return float("nan")
        k = max(0, min(len(xs) - 1, int(-(-q * len(xs) // 100)) - 1))  # nearest rank: ceil(q/100 * n) - 1
        return xs[k]


def run_load(host: str, port: int, path: str, bodies: Sequence[bytes], *, headers: dict[str, str] | None = None,
             rate: float, duration: float = 0.0, count: int = 0, connections: int = 32, timeout: float = 5.0,
             grace: float = 5.0, check: Callable[[int, bytes], bool] | None = None, method: str = "POST"
             ) -> LoadResult:
    """Send ``method`` requests with ``bodies`` (cycled; ``b""`` for none) to ``http://host:port/path``.

    Parameters
    ----------
    rate
        Open loop at ``rate`` requests/s for ``duration`` s (``int(rate * duration)`` requests); ``0`` for a closed
        loop of ``count`` requests.
    connections
        Worker threads, one keep-alive connection each: the most requests in flight at once.
    timeout
        Socket timeout per request (s); a request that takes longer is an error.
    grace
        Open loop: seconds after the last scheduled time after which nothing more is sent.
    check
        Optional ``(status, body) -> ok`` for a 2xx response (e.g. that the body names the model version).
    """
    if not bodies:
        raise ValueError("bodies must not be empty")
    planned = int(rate * duration) if rate > 0 else int(count)
    res = LoadResult(planned=planned)
    hdrs = {"Connection": "keep-alive", **(headers or {})}
    counter = itertools.count()
    lock = threading.Lock()
    t0 = time.perf_counter() + 0.1
    stop_at = t0 + (duration + grace if rate > 0 else 1e9)

    def worker() -> None:
        conn: http.client.HTTPConnection | None = None
        while True:
            i = next(counter)  # atomic under the interpreter lock
            if i >= planned:
                break
            due = t0 + i / rate if rate > 0 else time.perf_counter()
            now = time.perf_counter()
            if now < due:
                time.sleep(due - now)
            sent = time.perf_counter()
            if sent > stop_at:
                with lock:
                    res.unsent += 1
                    res.errors += 1
                    res.error_kinds["unsent"] = res.error_kinds.get("unsent", 0) + 1
                continue
            ok, kind = False, ""
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=timeout)
                conn.request(method, path, body=bodies[i % len(bodies)] or None, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                kind = str(resp.status)
                ok = 200 <= resp.status < 300 and (check is None or check(resp.status, data))
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                kind = type(exc).__name__
                if conn is not None:
                    conn.close()
                conn = None
            end = time.perf_counter()
            with lock:
                res.sent += 1
                res.completed += 1
                res.latency_ms.append((end - due) * 1000)
                res.service_ms.append((end - sent) * 1000)
                res.max_send_lag_ms = max(res.max_send_lag_ms, (sent - due) * 1000)
                res.status_counts[kind] = res.status_counts.get(kind, 0) + 1
                if not ok:
                    res.errors += 1
                    res.error_kinds[kind] = res.error_kinds.get(kind, 0) + 1
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True, name=f"load-{k}") for k in range(max(1, connections))]
    for t in threads:
        t.start()
    # Every request ends within `timeout` of being sent and nothing is sent after `stop_at`, so this bound holds;
    # threads still alive after it are daemons and die with the process.
    deadline = (stop_at if rate > 0 else time.perf_counter() + planned * timeout) + timeout + 1.0
    for t in threads:
        t.join(max(0.0, deadline - time.perf_counter()))
    with lock:
        res.wall_s = time.perf_counter() - t0
        missing = planned - res.completed - res.unsent
        if missing > 0:  # still in flight at the deadline
            res.errors += missing
            res.error_kinds["abandoned"] = res.error_kinds.get("abandoned", 0) + missing
    return res


def _main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("spec", help="JSON file: {host, port, path, method, headers, bodies_b64: [...], check_contains}")
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--duration", type=float, default=0.0)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args(argv)
    with open(args.spec, encoding="utf-8") as fh:
        spec = json.load(fh)
    needle = spec.get("check_contains")
    check = (lambda _s, body: needle.encode() in body) if needle else None
    res = run_load(spec["host"], int(spec["port"]), spec["path"], [base64.b64decode(b) for b in spec["bodies_b64"]],
                   headers=spec.get("headers"), rate=args.rate, duration=args.duration, count=args.count,
                   connections=args.connections, timeout=args.timeout, check=check, method=spec.get("method", "POST"))
    out = asdict(res)
    out["rps"] = res.rps
    json.dump(out, sys.stdout)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
