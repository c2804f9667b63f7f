"""Serving benchmark: loopback load test of ``medkit serve`` and schemathesis against its OpenAPI spec.

- risk: the clinical pillar's WDBC logistic bundle (``medkit clinical train``), one patient per request, open-loop
  at ``RATE`` requests/s for ``DURATION`` s from an asyncio + httpx generator (fixed schedule, so a slow server
  cannot slow the generator down). Target (issue 9): 200 req/s for 60 s, p99 <= 50 ms, zero errors.
- imaging: the imaging pillar's Br35H classifier bundle, PNG upload with Grad-CAM, closed loop, fixed count.
- openapi: ``schemathesis run`` against /api/v1/openapi.json with an admin token: server errors (5xx) and schema
  violations (response schema, status code and content type conformance).

The server runs in its own process (uvicorn, one worker, SQLite registry and audit log: every prediction commits
an audit row), bound to 127.0.0.1. Its rate limit is raised for the load test (noted in the rows).
``MEDKIT_BENCH_FAST=1`` shortens every part (noted in the rows).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, write_results  # noqa: E402

FAST = os.environ.get("MEDKIT_BENCH_FAST") == "1"
RATE = 200.0
DURATION = 10.0 if FAST else 60.0
N_IMAGING = 30 if FAST else 200
ST_MAX_EXAMPLES = 10 if FAST else 50
ST_MAX_TIME = 90 if FAST else 400
SECRET = "bench-" + "s" * 40
PY = sys.executable

SERVER = """
import sys, uvicorn
from medkit.serve import create_app
from medkit.serve.settings import ServeSettings
s = ServeSettings(home=sys.argv[1], secret_key=sys.argv[2], rate_per_s=100000, burst=100000, cookie_secure=False)
uvicorn.run(create_app(s), host="127.0.0.1", port=int(sys.argv[3]), log_level="error", access_log=False)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _train_bundles(root: Path) -> dict[str, Path]:
    from typer.testing import CliRunner

    from medkit.cli.clinical import app as clinical
    from medkit.cli.imaging import app as imaging
    from medkit.serve.registry import find_bundle

    out = {}
    r = CliRunner().invoke(clinical, ["train", "--dataset", "wdbc", "--model", "logistic", "--out",
                                      str(root / "clinical"), "--n-boot", "50", "--runs-dir", str(root / "runs")])
    if r.exit_code != 0:
        raise RuntimeError(f"clinical training failed: {r.output[-500:]}")
    out["risk"] = root / "clinical"
    r = CliRunner().invoke(imaging, ["train", "--task", "classify", "--set", "epochs=2", "--set", "n_train=64",
                                     "--set", "n_val=16", "--set", "n_test=16", "--set", "n_boot=0", "--set",
                                     "n_gradcam=0", "--set", "image_size=64", "--runs-dir", str(root / "img")])
    if r.exit_code != 0:
        raise RuntimeError(f"imaging training failed: {r.output[-500:]}")
    out["imaging"] = find_bundle(next((root / "img").iterdir()))
    return out


def _prepare(home: Path, bundles: dict[str, Path]) -> str:
    from medkit.serve.audit import Actor
    from medkit.serve.registry import register, set_stage
    from medkit.serve.security import create_user, issue_token
    from medkit.serve.settings import ServeSettings
    from medkit.serve.store import Store

    store = Store.open(ServeSettings(home=home))
    with store.sf.begin() as db:
        token = issue_token(db, create_user(db, "bench-admin", "bench-password-123", "admin"), days=1)
    for name, path in bundles.items():
        mv = register(store.sf, home, path, name, actor=Actor("bench", "admin"))
        set_stage(store.sf, name, mv.version, "production", actor=Actor("bench", "admin"))
    store.close()
    return token


async def _open_loop(url: str, bodies: list[dict[str, Any]], token: str, rate: float, duration: float
                     ) -> tuple[list[float], int, float]:
    import httpx

    n = int(rate * duration)
    lat: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=10) as client:
        async def one(i: int, when: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, when - time.perf_counter()))
            t = time.perf_counter()
            try:
                r = await client.post(url, json={"rows": [bodies[i % len(bodies)]]})
                ok = r.status_code == 200 and "model" in r.json()
            except httpx.HTTPError:
                ok = False
            lat.append((time.perf_counter() - t) * 1000)
            errors += 0 if ok else 1

        t0 = time.perf_counter() + 0.2
        tasks = [asyncio.create_task(one(i, t0 + i / rate)) for i in range(n)]
        # Bounded: whatever has not finished 15 s after the last scheduled send counts as an error.
        _, pending = await asyncio.wait(tasks, timeout=duration + 15.0)
        for task in pending:
            task.cancel()
        errors += len(pending)
        wall = time.perf_counter() - t0
    return lat, errors, wall  # lat: completed requests only; "rps" below counts completed requests


async def _closed_loop(url: str, bodies: list[dict[str, Any]], token: str, clients: int, duration: float
                       ) -> tuple[list[float], int, float]:
    """Capacity without queueing: ``clients`` connections, each sending its next request when the last returns."""
    import httpx

    lat: list[float] = []
    errors = 0
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        t0 = time.perf_counter()
        stop = t0 + duration

        async def worker(k: int) -> None:
            nonlocal errors
            i = k
            while time.perf_counter() < stop:
                t = time.perf_counter()
                try:
                    r = await client.post(url, json={"rows": [bodies[i % len(bodies)]]})
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                lat.append((time.perf_counter() - t) * 1000)
                errors += 0 if ok else 1
                i += clients

        await asyncio.gather(*(worker(k) for k in range(clients)))
        wall = time.perf_counter() - t0
    return lat, errors, wall


def _imaging(url: str, png: bytes, token: str, n: int) -> tuple[list[float], int, float]:
    import httpx

    lat, errors = [], 0
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        t0 = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            r = client.post(url, files={"file": ("slice.png", png, "image/png")}, data={"explain": "true"})
            lat.append((time.perf_counter() - t) * 1000)
            errors += 0 if r.status_code == 200 else 1
        wall = time.perf_counter() - t0
    return lat, errors, wall


def _schemathesis(base: str, token: str, out: Path) -> tuple[int, int, str]:
    cmd = [str(Path(PY).parent / "schemathesis"), "run", f"{base}/api/v1/openapi.json", "--checks",
           "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
           "--max-examples", str(ST_MAX_EXAMPLES), "--max-time", str(ST_MAX_TIME), "--seed", "0",
           "-H", f"Authorization: Bearer {token}", "--continue-on-failure", "--request-timeout", "30", "--workers", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=ST_MAX_TIME + 120)
    text = proc.stdout + proc.stderr
    (out / "schemathesis.log").write_text(text)
    # The summary lists each failure kind once with its count, e.g. "❌ ST101 Server error: 1".
    server_errors = schema_violations = 0
    for m in re.finditer(r"ST(\d+) ([^:\n]+): (\d+)", text):
        code, name, n = int(m.group(1)), m.group(2).lower(), int(m.group(3))
        if code == 101 or "server error" in name:
            server_errors += n
        elif any(k in name for k in ("schema", "status code", "content-type", "content type")):
            schema_violations += n
    summary = next((ln for ln in reversed(text.splitlines()) if ln.strip()), "")
    return server_errors, schema_violations, summary[-200:]


def _pct(lat: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(lat), q)) if lat else float("nan")


def main(argv: list[str] | None = None) -> None:
    from medkit.data import load_dataset

    note_fast = "FAST: reduced duration/count; " if FAST else ""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="medkit-bench-serve-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        bundles = _train_bundles(root / "train")
        token = _prepare(root / "home", bundles)
        setup_s = time.perf_counter() - t
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([PY, "-c", SERVER, str(root / "home"), SECRET, str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            import httpx

            for _ in range(300):
                try:
                    if httpx.get(f"{base}/api/v1/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            X = load_dataset("wdbc").X
            bodies = [{c: float(v) for c, v in r.items()} for _, r in X.iterrows()]
            # Warm-up (model load, connection pool) outside the measured window.
            asyncio.run(_open_loop(f"{base}/api/v1/clinical/risk/predict", bodies, token, 50, 1.0))
            lat, errors, wall = asyncio.run(_open_loop(f"{base}/api/v1/clinical/risk/predict", bodies, token,
                                                       RATE, DURATION))
            note = (f"{note_fast}open loop {RATE:.0f} req/s target for {DURATION:.0f} s, 1 patient/request, "
                    f"{len(lat)} requests; uvicorn 1 worker, SQLite audit commit per request; rate limit raised")
            for metric, value in [("p50_ms", _pct(lat, 50)), ("p99_ms", _pct(lat, 99)),
                                  ("rps", len(lat) / wall), ("errors", float(errors))]:
                rows.append(Row("serve", "risk", "loopback", "medkit serve (clinical logistic-wdbc)", metric,
                                value, seconds=round(wall, 2), anchor="issue 9 target",
                                anchor_value={"p99_ms": 50.0, "rps": 200.0, "errors": 0.0}.get(metric), note=note))
            lat, errors, wall = asyncio.run(_closed_loop(f"{base}/api/v1/clinical/risk/predict", bodies, token, 4,
                                                         DURATION / 2))
            note = (f"{note_fast}closed loop, 4 clients for {DURATION / 2:.0f} s (capacity without queueing), "
                    f"{len(lat)} requests; uvicorn 1 worker, SQLite")
            for metric, value in [("p50_ms", _pct(lat, 50)), ("p99_ms", _pct(lat, 99)),
                                  ("rps", len(lat) / wall), ("errors", float(errors))]:
                rows.append(Row("serve", "risk", "loopback closed-loop", "medkit serve (clinical logistic-wdbc)",
                                metric, value, seconds=round(wall, 2), note=note))
            from PIL import Image

            path = load_dataset("br35h").data.path.iloc[-1]
            buf = io.BytesIO()
            Image.open(path).convert("L").save(buf, format="PNG")
            _imaging(f"{base}/api/v1/imaging/imaging/predict", buf.getvalue(), token, 3)  # warm-up
            lat, errors, wall = _imaging(f"{base}/api/v1/imaging/imaging/predict", buf.getvalue(), token, N_IMAGING)
            note = (f"{note_fast}closed loop, 1 client, {N_IMAGING} PNG uploads ({len(buf.getvalue())} bytes) with "
                    "Grad-CAM; Br35H ResNet classifier at 64 px")
            for metric, value in [("p50_ms", _pct(lat, 50)), ("p99_ms", _pct(lat, 99)),
                                  ("rps", len(lat) / wall), ("errors", float(errors))]:
                rows.append(Row("serve", "imaging", "loopback", "medkit serve (imaging classifier)", metric, value,
                                seconds=round(wall, 2), note=note))
            t = time.perf_counter()
            server_errors, violations, summary = _schemathesis(base, token, root)
            st_s = time.perf_counter() - t
            note = (f"{note_fast}schemathesis {__import__('schemathesis').__version__}, max {ST_MAX_EXAMPLES} "
                    f"examples/operation, {ST_MAX_TIME} s cap, admin token; {summary}")
            rows.append(Row("serve", "openapi", "fuzz", "schemathesis", "server_errors", float(server_errors),
                            seconds=round(st_s, 1), anchor="issue 9 target", anchor_value=0.0, note=note))
            rows.append(Row("serve", "openapi", "fuzz", "schemathesis", "schema_violations", float(violations),
                            seconds=round(st_s, 1), anchor="issue 9 target", anchor_value=0.0, note=note))
            log = (root / "schemathesis.log").read_text()
            Path(__file__).resolve().parent.joinpath(".cache").mkdir(exist_ok=True)
            Path(__file__).resolve().parent.joinpath(".cache", "serve-schemathesis.log").write_text(log)
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    notes = (f"Loopback, server and load generator on the same {os.cpu_count()}-core machine, shared with other "
             f"jobs (load average at the end: {load}). Model training/registration set-up {setup_s:.0f} s, not timed.")
    out = write_results("serve", rows, notes)
    print(json.dumps([r.__dict__ for r in rows], indent=1, default=str)[:3000])
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
