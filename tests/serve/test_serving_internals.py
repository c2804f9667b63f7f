"""The pieces behind the throughput target: group-commit audit writer, micro-batching, version cache, the load
generator; and the offline API docs."""

from __future__ import annotations

import http.server
import re
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from medkit.core.errors import SchemaError
from medkit.serve import audit
from medkit.serve.auditq import AuditWriter
from medkit.serve.batching import Batcher, split_output
from medkit.serve.db import AuditEvent

from .conftest import Env


# -- audit writer ------------------------------------------------------------------------------------
def test_audit_writer_batches_keep_the_chain_and_close_drains(env: Env) -> None:
    writer = AuditWriter(lambda: env.svc.sf)
    with env.svc.sf() as db:
        before = len(db.execute(select(AuditEvent.id)).all())
    with ThreadPoolExecutor(16) as pool:  # concurrent writers: batches form, order within the chain is consistent
        list(pool.map(lambda i: writer.write(audit.Actor(f"u{i}", "clinician"), "predict.clinical",
                                             input_sha256=f"{i:064x}", detail=f"rows={i}"), range(200)))
    writer.close()
    with env.svc.sf() as db:
        rows = list(db.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars())
        assert audit.verify_chain(db) == (True, None)
    new = rows[before:]
    assert len(new) == 200 and {e.detail for e in new} == {f"rows={i}" for i in range(200)}
    # After close, writes still land (directly), so nothing is ever dropped.
    writer.write(audit.Actor("late"), "job.screen")
    with env.svc.sf() as db:
        assert db.execute(select(AuditEvent.actor).order_by(AuditEvent.id.desc()).limit(1)).scalar() == "late"


def test_audit_writer_failure_reaches_every_waiting_request(env: Env) -> None:
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import sessionmaker

    from medkit.serve.db import create_engine

    dead = sessionmaker(bind=create_engine("postgresql+psycopg://medkit@127.0.0.1:1/none?connect_timeout=1"))
    writer = AuditWriter(lambda: dead)
    with pytest.raises(OperationalError):
        writer.write(audit.Actor("x"), "predict.clinical")
    writer.close()
    dead.kw["bind"].dispose()


# -- micro-batching ----------------------------------------------------------------------------------
class _SlowRowModel:
    """Row-wise model: risk = x / 10, one prediction per row in order; records how many rows each call had."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, rows: Any, *, explain: bool = False) -> dict[str, Any]:
        if any(not isinstance(r.get("x"), int | float) for r in rows):
            raise SchemaError("feature 'x' must be a number", where="x", fix="send numbers")
        self.calls.append(len(rows))
        time.sleep(0.02)  # a busy model: requests queue up behind it
        ids = [str(r["id"]) if "id" in r else str(i) for i, r in enumerate(rows)]
        return {"model": "m", "predictions": [{"id": i, "risk": r["x"] / 10, "explained": explain}
                                              for i, r in zip(ids, rows, strict=True)], "cleaning": []}


def test_batcher_answers_equal_single_calls_and_errors_stay_with_their_request() -> None:
    model, batcher = _SlowRowModel(), Batcher()
    requests: list[list[dict[str, Any]]] = [[{"x": i}, {"x": i + 0.5}] if i % 3 else [{"x": i, "id": f"p{i}"}]
                                            for i in range(40)]
    requests[7] = [{"x": "bad"}]
    results: dict[int, Any] = {}

    def one(i: int) -> None:
        try:
            results[i] = batcher.predict("k", model, requests[i], False)
        except SchemaError as exc:
            results[i] = exc

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(one, range(40)))
    batcher.close()
    assert max(model.calls) > 2  # requests were batched
    for i, rows in enumerate(requests):
        if i == 7:
            assert isinstance(results[i], SchemaError) and results[i].where == "x"
            continue
        alone = _SlowRowModel().predict(rows)
        assert results[i] == alone, i  # same ids (renumbered per request), same risks, same other keys


def test_split_output_refuses_anything_but_one_prediction_per_row() -> None:
    out = {"model": "m", "predictions": [{"id": "0", "risk": 0.1}, {"id": "1", "risk": 0.2}]}
    assert split_output(out, [1, 1], [False, False]) == [{"model": "m", "predictions": [{"id": "0", "risk": 0.1}]},
                                                         {"model": "m", "predictions": [{"id": "0", "risk": 0.2}]}]
    assert split_output(out, [1, 2], [False, False]) is None
    assert split_output({"model": "m"}, [1], [False]) is None


def test_concurrent_api_predictions_equal_the_model_applied_directly(env: Env, clinical_bundle: Path,
                                                                    tmp_path: Path) -> None:
    """A row-wise clinical bundle under concurrent load: requests are batched, answers equal the model's own."""
    import json
    import shutil

    from medkit.data import load_dataset
    from medkit.serve.registry import register, set_stage

    rowwise = tmp_path / "rowwise"
    shutil.copytree(clinical_bundle, rowwise)
    info = json.loads((rowwise / "bundle.json").read_text())
    info["inputs"]["format"] = "one row per patient"
    (rowwise / "bundle.json").write_text(json.dumps(info))
    mv = register(env.svc.sf, env.svc.settings.home, rowwise, "rowwise", actor=audit.Actor("t", "admin"))
    set_stage(env.svc.sf, "rowwise", mv.version, "production", actor=audit.Actor("t", "admin"))
    X = load_dataset("wdbc").X.iloc[:60]
    rows = [{c: float(v) for c, v in r.items()} for _, r in X.iterrows()]
    ref, bundle_dir = env.svc.resolve("clinical", "rowwise", None)
    model = env.svc.predictors.get("clinical", bundle_dir)
    direct = model.predict(rows, explain=True)["predictions"]
    calls: list[int] = []

    class Slow:  # a busier model, so that requests queue and get batched
        def predict(self, inputs: Any, *, explain: bool = False) -> dict[str, Any]:
            calls.append(len(inputs))
            time.sleep(0.01)
            return model.predict(inputs, explain=explain)

    env.svc.predictors._cache[bundle_dir] = Slow()

    def one(i: int) -> dict[str, Any]:
        r = env.client.post("/api/v1/clinical/rowwise/predict", json={"rows": [rows[i]], "explain": True},
                            headers=env.h("clinician"))
        assert r.status_code == 200
        return r.json()["result"]["predictions"][0]  # type: ignore[no-any-return]

    with ThreadPoolExecutor(12) as pool:
        got = list(pool.map(one, range(60)))
    assert max(calls) > 1 and sum(calls) == 60  # batched, every row predicted once
    for g, d in zip(got, direct, strict=True):
        assert g.keys() == d.keys() and g["risk"] == pytest.approx(d["risk"], abs=1e-12)
        assert g["probability"] == pytest.approx(d["probability"], abs=1e-12)
        assert [f["feature"] for f in g["top_features"]] == [f["feature"] for f in d["top_features"]]
    with env.svc.sf() as db:
        n = len(db.execute(select(AuditEvent.id).where(AuditEvent.action == "predict.clinical")).all())
        assert n == 60 and audit.verify_chain(db) == (True, None)


def test_stage_change_takes_effect_at_once_despite_the_version_cache(env: Env, clinical_bundle: Path,
                                                                    tmp_path: Path) -> None:
    import shutil

    from medkit.serve.registry import register
    from medkit.serve.service import declared_columns

    body = {"rows": [{c: 1.0 for c in declared_columns("clinical", env.svc.resolve("clinical", "wdbc-risk", None)[0])}]}
    url = "/api/v1/clinical/wdbc-risk/predict"
    assert env.client.post(url, json=body, headers=env.h("admin")).json()["model"]["version"] == 1
    changed = tmp_path / "v2"
    shutil.copytree(clinical_bundle, changed)
    (changed / "model_card.md").write_text("# v2\n")
    register(env.svc.sf, env.svc.settings.home, changed, "wdbc-risk", actor=audit.Actor("t", "admin"))
    r = env.client.post("/api/v1/models/wdbc-risk/versions/2/stage", json={"stage": "production"},
                        headers=env.h("admin"))
    assert r.status_code == 200
    assert env.client.post(url, json=body, headers=env.h("admin")).json()["model"]["version"] == 2
    env.client.post("/api/v1/models/wdbc-risk/versions/2/stage", json={"stage": "archived"}, headers=env.h("admin"))
    env.client.post("/api/v1/models/wdbc-risk/versions/1/stage", json={"stage": "archived"}, headers=env.h("admin"))
    assert env.client.post(url, json=body, headers=env.h("admin")).status_code == 404  # nothing active any more


# -- predictor cache ---------------------------------------------------------------------------------
def test_first_load_reads_each_artefact_once_and_still_refuses_a_changed_copy(
        clinical_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count_reads: Any) -> None:
    """The registry check (whole-bundle sha256) and the loader's check (artefacts against bundle.json) share one
    read of each artefact; a copy changed after registration is still refused."""
    from medkit.core import bundle as core_bundle
    from medkit.core.bundle import BundleInfo, bundle_digest, load_bundle_info
    from medkit.serve.errors import ModelUnavailable
    from medkit.serve.predictors import PredictorCache

    stored = Path(shutil.copytree(clinical_bundle, tmp_path / "stored"))
    registered = bundle_digest(stored).sha256
    monkeypatch.setattr(core_bundle, "_RACY_NS", 0)  # the copy was just written; a served copy is older
    time.sleep(0.05)  # past the file-time tick of the copy
    opened, hashed = count_reads()

    def loader(path: Path) -> BundleInfo:  # what every pillar's load_predictor does first (without unpickling)
        return load_bundle_info(path)

    cache = PredictorCache({"clinical": loader})
    cache.expect(str(stored), registered)
    assert cache.get("clinical", str(stored)).pillar == "clinical"  # type: ignore[attr-defined]
    assert opened.count("model.joblib") == 1 and hashed == []
    model_file = stored / "model.joblib"
    model_file.write_bytes(model_file.read_bytes() + b"\0")
    fresh = PredictorCache({"clinical": loader})
    fresh.expect(str(stored), registered)
    with pytest.raises(ModelUnavailable, match="sha256 changed after registration"):
        fresh.get("clinical", str(stored))


# -- offline docs ------------------------------------------------------------------------------------
def test_api_docs_reference_no_external_url(env: Env) -> None:
    for path in ("/api/v1/docs", "/api/v1/docs/redoc"):
        r = env.client.get(path)
        assert r.status_code == 200
        urls = re.findall(r'(?:src|href|url)\s*[=:]\s*["\']([^"\']+)["\']', r.text)
        assert urls and all(u.startswith("/") for u in urls), urls
        assert "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "connect-src 'self'" in csp and "http" not in csp
        for asset in re.findall(r'(?:src|href)="(/api/v1/docs-assets/[^"]+)"', r.text):
            a = env.client.get(asset)
            assert a.status_code == 200 and len(a.content) > 1000, asset
    assert '"validatorUrl": null' in env.client.get("/api/v1/docs").text
    assert env.client.get("/").headers["content-security-policy"].startswith("default-src 'self'; img-src")


# -- load generator ----------------------------------------------------------------------------------
@pytest.fixture
def stub_server() -> Iterator[tuple[int, dict[str, int]]]:
    """A tiny HTTP server: 200 after 2 ms, 500 for body b'fail', and a 3 s stall for body b'hang'."""
    seen = {"n": 0}

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen["n"] += 1
            time.sleep(3.0 if body == b"hang" else 0.002)
            code = 500 if body == b"fail" else 200
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1], seen
    srv.shutdown()
    srv.server_close()


def test_load_generator_open_loop_counts_and_terminates(stub_server: tuple[int, dict[str, int]]) -> None:
    from medkit.serve.loadgen import run_load

    port, seen = stub_server
    res = run_load("127.0.0.1", port, "/", [b"a", b"b", b"c", b"fail"], rate=100, duration=1.0, connections=8)
    assert res.planned == 100 and res.completed == 100 and seen["n"] == 100
    assert res.errors == 25 and res.status_counts == {"200": 75, "500": 25}
    assert 0 < res.percentile(50) < 500 and res.percentile(100) >= res.percentile(50)
    assert res.wall_s < 3.0


def test_load_generator_latency_counts_from_the_scheduled_time(stub_server: tuple[int, dict[str, int]]) -> None:
    """One connection, a server stalled for 3 s: the requests scheduled during the stall wait behind it, and their
    latency includes that wait (no coordinated omission); requests that cannot be sent in time are errors and the
    run still ends within its bound."""
    from medkit.serve.loadgen import run_load

    port, _ = stub_server
    t = time.perf_counter()
    res = run_load("127.0.0.1", port, "/", [b"hang"] + [b"ok"] * 49, rate=50, duration=1.0, connections=1,
                   timeout=1.0, grace=0.5)
    took = time.perf_counter() - t
    assert took < 1.0 + 0.5 + 1.0 + 2.0  # duration + grace + timeout + slack: it always terminates
    assert res.error_kinds.get("TimeoutError", 0) + res.error_kinds.get("timeout", 0) >= 1
    assert res.unsent + res.completed == 50 and res.errors >= 1
    ok_latency = sorted(res.latency_ms)
    # The second request was due 20 ms after the first but could only go after the 1 s timeout.
    assert ok_latency[-1] > 900


def test_wait_ready_waits_through_503_and_gives_up_on_a_closed_port() -> None:
    import socket

    from medkit.serve.loadgen import wait_ready

    calls = {"n": 0}

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            calls["n"] += 1
            self.send_response(200 if calls["n"] > 2 and self.path == "/api/v1/ready" else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        assert wait_ready(f"http://127.0.0.1:{srv.server_address[1]}", timeout_s=10) and calls["n"] == 3
    finally:
        srv.shutdown()
        srv.server_close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
        assert not wait_ready(f"http://127.0.0.1:{port}", timeout_s=0.5)
