"""Serving benchmark: loopback load test of ``medkit serve`` and schemathesis against its OpenAPI spec.

- risk: the clinical pillar's WDBC logistic bundle (``medkit clinical train``), one patient per request, open loop
  at ``RATE`` requests/s for ``DURATION`` s. The load generator (:mod:`medkit.serve.loadgen`) runs as its own process
  with a pool of keep-alive ``http.client`` connections; request i is due at ``t0 + i / RATE`` and its latency is
  measured from that due time (no coordinated omission); the run is bounded (socket timeouts, no send after
  ``DURATION + grace``, subprocess timeout). Target (issue 9): 200 req/s for 60 s, p99 <= 50 ms, zero errors.
  A closed-loop run (8 connections) reports capacity.
- imaging: the imaging pillar's Br35H classifier bundle, PNG upload with Grad-CAM, closed loop, fixed count.
- openapi: ``schemathesis run`` against /api/v1/openapi.json with an admin token: server errors (5xx) and schema
  violations (response schema, status code and content type conformance).

The server runs in its own process (uvicorn with uvloop and httptools, one worker, SQLite registry and audit log:
every prediction's audit record is committed before it is answered, by group commit), bound to 127.0.0.1, on the
same machine as the load generator. Its rate limit is raised for the load test (noted in the rows).
``MEDKIT_BENCH_FAST=1`` shortens every part (noted in the rows). ``MEDKIT_BENCH_SERVE_PARTS=risk,imaging,openapi``
picks parts; rows of parts not run are kept from the previous results file.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, write_results  # noqa: E402

FAST = os.environ.get("MEDKIT_BENCH_FAST") == "1"
PARTS = set(os.environ.get("MEDKIT_BENCH_SERVE_PARTS", "risk,imaging,openapi").split(","))
RATE = float(os.environ.get("MEDKIT_BENCH_SERVE_RATE", "200"))
DURATION = 10.0 if FAST else 60.0
CONNECTIONS = 64
N_IMAGING = 30 if FAST else 100
ST_MAX_EXAMPLES = 10 if FAST else 50
ST_MAX_TIME = 90 if FAST else 400
SECRET = "bench-" + "s" * 40
PY = sys.executable
RESULTS = Path(__file__).resolve().parent / "results" / "serve.json"
# Set by whoever runs the final measurement, e.g. "both compute locks held"; goes into the risk rows' note.
LOCK_NOTE = (", " + os.environ["MEDKIT_BENCH_LOCKS"]) if os.environ.get("MEDKIT_BENCH_LOCKS") else ""
# What else ran on the machine during this run (e.g. "another engineer's training used the other core"); appended to
# the schemathesis rows' note (the risk rows measure the machine themselves).
SHARED_NOTE = ("; " + os.environ["MEDKIT_BENCH_SHARED"]) if os.environ.get("MEDKIT_BENCH_SHARED") else ""

SERVER = """
import sys, uvicorn
from medkit.serve import create_app
from medkit.serve.settings import ServeSettings
s = ServeSettings(home=sys.argv[1], secret_key=sys.argv[2], rate_per_s=100000, burst=100000, cookie_secure=False)
uvicorn.run(create_app(s), host="127.0.0.1", port=int(sys.argv[3]), log_level="error", access_log=False,
            loop="uvloop", http="httptools")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _train_bundles(root: Path, *, imaging: bool = True) -> dict[str, Path]:
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
    if not imaging:
        return out
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


# Operations that end the fuzzing credential itself (revoking tokens, resetting passwords) would turn the rest of a
# run into 401s, so they are fuzzed in a second, separate pass with a token of their own.
_CREDENTIAL_OPS = r"^/api/v1/(auth/tokens/\{token_id\}|users/\{username\}/password)$"


def _schemathesis_pass(base: str, token: str, select: list[str], max_time: int) -> str:
    cmd = [str(Path(PY).parent / "schemathesis"), "run", f"{base}/api/v1/openapi.json", "--checks",
           "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
           "--max-examples", str(ST_MAX_EXAMPLES), "--max-time", str(max_time), "--seed", "0",
           "-H", f"Authorization: Bearer {token}", "--continue-on-failure", "--request-timeout", "30",
           "--workers", "1", *select]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max_time + 120)
    return proc.stdout + proc.stderr


def _schemathesis(base: str, token: str, token2: str, out: Path) -> tuple[int, int, str]:
    main = _schemathesis_pass(base, token, ["--exclude-path-regex", _CREDENTIAL_OPS], ST_MAX_TIME)
    cred = _schemathesis_pass(base, token2, ["--include-path-regex", _CREDENTIAL_OPS], max(30, ST_MAX_TIME // 8))
    text = main + "\n\n===== credential operations =====\n\n" + cred
    (out / "schemathesis.log").write_text(text)
    # The summary lists each failure kind once with its count, e.g. "❌ ST101 Server error: 1".
    server_errors = schema_violations = 0
    for m in re.finditer(r"ST(\d+) ([^:\n]+): (\d+)", text):
        code, name, n = int(m.group(1)), m.group(2).lower(), int(m.group(3))
        if code == 101 or "server error" in name:
            server_errors += n
        elif any(k in name for k in ("schema", "status code", "content-type", "content type")):
            schema_violations += n
    cases = re.findall(r"(\d+) generated, (\d+) passed", text)
    auth_warn = "Authentication failed" in main
    summary = (f"2 passes ({len(cases)} summaries): test cases generated/passed "
               + ", ".join(f"{g}/{p}" for g, p in cases)
               + ("; WARNING: the main pass lost its credential" if auth_warn else "; main pass kept its credential"))
    return server_errors, schema_violations, summary


def _machine_busy_s() -> float:
    """CPU seconds spent by the whole machine so far (all cores, /proc/stat: everything but idle and iowait)."""
    try:
        vals = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (sum(vals) - vals[3] - vals[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _children_cpu_s() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _load(root: Path, port: int, path: str, bodies: list[bytes], headers: dict[str, str], *, rate: float = 0.0,
          duration: float = 0.0, count: int = 0, connections: int = CONNECTIONS, check: str | None = '"version"',
          timeout: float = 10.0) -> dict[str, Any]:
    """Run :mod:`medkit.serve.loadgen` in its own process (own interpreter lock, bounded by a subprocess timeout)."""
    spec = root / f"load-{uuid.uuid4().hex[:8]}.json"
    spec.write_text(json.dumps({"host": "127.0.0.1", "port": port, "path": path, "headers": headers,
                                "bodies_b64": [base64.b64encode(b).decode() for b in bodies],
                                "check_contains": check}))
    cmd = [PY, "-m", "medkit.serve.loadgen", str(spec), "--rate", str(rate), "--duration", str(duration),
           "--count", str(count), "--connections", str(connections), "--timeout", str(timeout)]
    bound = (duration + 30 if rate > 0 else count * timeout / max(1, connections) + 30) + 30
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=bound, check=True)
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _pct(lat: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(lat), q)) if lat else float("nan")


def _rows(dataset: str, split: str, model: str, r: dict[str, Any], note: str, anchors: bool) -> list[Row]:
    out = []
    for metric, value in [("p50_ms", _pct(r["latency_ms"], 50)), ("p99_ms", _pct(r["latency_ms"], 99)),
                          ("rps", r["rps"]), ("errors", float(r["errors"]))]:
        anchor_value = {"p99_ms": 50.0, "rps": RATE, "errors": 0.0}.get(metric) if anchors else None
        out.append(Row("serve", dataset, split, model, metric, value, seconds=round(r["wall_s"], 2),
                       anchor="issue 9 target" if anchors else None, anchor_value=anchor_value, note=note))
    return out


def _multipart(png: bytes) -> tuple[bytes, str]:
    boundary = "medkitbench" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"explain\"\r\n\r\ntrue\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slice.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _risk(root: Path, port: int, token: str, server_pid: int, note_fast: str, env_note: str) -> list[Row]:
    from medkit.data import load_dataset

    X = load_dataset("wdbc").X
    bodies = [json.dumps({"rows": [{c: float(v) for c, v in r.items()}]}).encode() for _, r in X.iterrows()]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    path = "/api/v1/clinical/risk/predict"
    _load(root, port, path, bodies, headers, rate=50, duration=3.0)  # warm-up: model load, caches, connections
    load0 = os.getloadavg()[0]
    cpu0, gen0, all0, t0 = _cpu_s(server_pid), _children_cpu_s(), _machine_busy_s(), time.perf_counter()
    r = _load(root, port, path, bodies, headers, rate=RATE, duration=DURATION)
    wall = time.perf_counter() - t0
    server_s, gen_s = _cpu_s(server_pid) - cpu0, _children_cpu_s() - gen0
    other = (_machine_busy_s() - all0 - server_s - gen_s) / wall  # cores used by everything else on the machine
    cpu_ms = server_s / max(1, r["completed"]) * 1000
    kinds = ", ".join(f"{k}: {v}" for k, v in sorted(r["error_kinds"].items())) or "none"
    note = (f"{note_fast}open loop {RATE:.0f} req/s for {DURATION:.0f} s ({r['planned']} requests, "
            f"{CONNECTIONS} keep-alive connections), 1 patient/request, latency from the scheduled send time; "
            f"server CPU {cpu_ms:.2f} ms/request, load generator CPU {gen_s / max(1, r['completed']) * 1000:.2f} "
            f"ms/request; error kinds: {kinds}; max send lag {r['max_send_lag_ms']:.0f} ms; machine during the run: "
            f"other processes used {max(0.0, other):.2f} of {os.cpu_count()} cores, load average {load0:.2f} before "
            f"and {os.getloadavg()[0]:.2f} after{LOCK_NOTE}; {env_note}")
    rows = _rows("risk", "loopback", "medkit serve (clinical logistic-wdbc)", r, note, anchors=True)
    closed_s = DURATION / 4
    n = int(closed_s * 400)
    t = time.perf_counter()
    r = _load(root, port, path, bodies, headers, count=n, connections=8)
    note = (f"{note_fast}closed loop, 8 connections, {n} requests in {time.perf_counter() - t:.0f} s (capacity "
            f"without a schedule; latency from the actual send); {env_note}")
    rows += _rows("risk", "loopback closed-loop", "medkit serve (clinical logistic-wdbc)", r, note, anchors=False)
    return rows


def _imaging(root: Path, port: int, token: str, note_fast: str, env_note: str) -> list[Row]:
    from PIL import Image

    from medkit.data import load_dataset

    img_path = load_dataset("br35h").data.path.iloc[-1]
    buf = io.BytesIO()
    Image.open(img_path).convert("L").save(buf, format="PNG")
    body, ctype = _multipart(buf.getvalue())
    headers = {"Authorization": f"Bearer {token}", "Content-Type": ctype}
    path = "/api/v1/imaging/imaging/predict"
    _load(root, port, path, [body], headers, count=3, connections=1, timeout=60)  # warm-up
    r = _load(root, port, path, [body], headers, count=N_IMAGING, connections=1, timeout=60)
    note = (f"{note_fast}closed loop, 1 connection, {N_IMAGING} PNG uploads ({len(buf.getvalue())} bytes) with "
            f"Grad-CAM; Br35H ResNet classifier at 64 px; {env_note}")
    return _rows("imaging", "loopback", "medkit serve (imaging classifier)", r, note, anchors=False)


def _previous_rows(keep: set[str]) -> list[Row]:
    """Rows of parts not rerun now, from the last results file."""
    if not RESULTS.exists():
        return []
    part_of = {"risk": "risk", "imaging": "imaging", "openapi": "openapi"}
    out = []
    for row in json.loads(RESULTS.read_text()).get("rows", []):
        if part_of.get(row["dataset"]) in keep:
            out.append(Row(**row))
    return out


def main(argv: list[str] | None = None) -> None:
    note_fast = "FAST: reduced duration/count; " if FAST else ""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="medkit-bench-serve-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        bundles = _train_bundles(root / "train", imaging="imaging" in PARTS)
        token = _prepare(root / "home", bundles)
        setup_s = time.perf_counter() - t
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([PY, "-c", SERVER, str(root / "home"), SECRET, str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        env_note = (f"uvicorn 1 worker (uvloop, httptools), SQLite, rate limit raised; server and load generator "
                    f"on the same {os.cpu_count()}-core machine")
        try:
            import httpx

            from medkit.serve.loadgen import wait_ready

            wait_ready(base)
            if "risk" in PARTS:
                rows += _risk(root, port, token, server.pid, note_fast, env_note)
            if "imaging" in PARTS:
                rows += _imaging(root, port, token, note_fast, env_note)
            if "openapi" in PARTS:
                t = time.perf_counter()
                token2 = httpx.post(f"{base}/api/v1/auth/token", json={"username": "bench-admin",
                                                                       "password": "bench-password-123"}).json()["token"]
                server_errors, violations, summary = _schemathesis(base, token, token2, root)
                st_s = time.perf_counter() - t
                note = (f"{note_fast}schemathesis {__import__('schemathesis').__version__}, max {ST_MAX_EXAMPLES} "
                        f"examples/operation, {ST_MAX_TIME} s cap, admin token; token revocation and password "
                        f"reset fuzzed in a second pass with their own token; {summary}{SHARED_NOTE}")
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
    rows = _previous_rows({"risk", "imaging", "openapi"} - PARTS) + rows
    order = {"risk": 0, "imaging": 1, "openapi": 2}
    rows.sort(key=lambda r: order.get(r.dataset, 9))
    notes = (f"Loopback, server and load generator on the same {os.cpu_count()}-core machine (load average at the "
             f"end of the last run: {load}; parts run: {', '.join(sorted(PARTS))}). Model training/registration "
             f"set-up {setup_s:.0f} s, not timed.")
    out = write_results("serve", rows, notes)
    print(json.dumps([r.__dict__ for r in rows], indent=1, default=str)[:4000])
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
