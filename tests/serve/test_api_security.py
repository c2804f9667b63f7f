"""Authentication, roles, CSRF, limits and every bad-input case of the issue, through the HTTP API."""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path

import pytest
from sqlalchemy import select, update

from medkit.serve.db import ApiToken, AuditEvent, User
from medkit.serve.security import sha256_hex

from .conftest import PASSWORDS, Env, start_env


def _row(svc: object) -> dict[str, float]:
    from medkit.data import load_dataset

    X = load_dataset("wdbc").X
    return {c: float(v) for c, v in X.iloc[0].items()}


def test_no_forged_expired_or_revoked_token_is_401(env: Env) -> None:
    url = "/api/v1/models"
    assert env.client.get(url).status_code == 401
    assert env.client.get(url, headers={"Authorization": "Bearer mk_forged"}).status_code == 401
    assert env.client.get(url, headers={"Authorization": "Basic abc"}).status_code == 401
    assert env.client.get(url, headers=env.h("clinician")).status_code == 200
    with env.svc.sf.begin() as db:
        db.execute(update(ApiToken).where(ApiToken.token_hash == sha256_hex(env.tokens["clinician"]))
                   .values(expires_at=_dt.datetime(2000, 1, 1)))
    r = env.client.get(url, headers=env.h("clinician"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    with env.svc.sf.begin() as db:
        db.execute(update(ApiToken).where(ApiToken.token_hash == sha256_hex(env.tokens["researcher"]))
                   .values(revoked=True))
    assert env.client.get(url, headers=env.h("researcher")).status_code == 401


def test_tokens_and_passwords_are_stored_hashed(env: Env) -> None:
    with env.svc.sf() as db:
        user = db.execute(select(User).where(User.username == "admin")).scalar_one()
        hashes = [t.token_hash for t in db.execute(select(ApiToken)).scalars()]
    assert user.password_hash.startswith("$argon2id$") and PASSWORDS["admin"] not in user.password_hash
    assert env.tokens["admin"] not in hashes and sha256_hex(env.tokens["admin"]) in hashes


def test_token_endpoint_and_wrong_password(env: Env) -> None:
    r = env.client.post("/api/v1/auth/token", json={"username": "clinician", "password": PASSWORDS["clinician"]})
    assert r.status_code == 200
    tok = r.json()["token"]
    assert env.client.get("/api/v1/models", headers={"Authorization": f"Bearer {tok}"}).status_code == 200
    bad = env.client.post("/api/v1/auth/token", json={"username": "clinician", "password": "wrong-password"})
    assert bad.status_code == 401
    assert env.client.post("/api/v1/auth/token", json={"username": "ghost", "password": "x"}).status_code == 401
    with env.svc.sf() as db:
        outcomes = [(e.actor, e.outcome) for e in db.execute(select(AuditEvent).where(
            AuditEvent.action == "login.token").order_by(AuditEvent.id)).scalars()]
    assert outcomes == [("clinician", "ok"), ("clinician", "denied"), ("ghost", "denied")]


def test_wrong_role_is_403(env: Env) -> None:
    row = _row(env.svc)
    r = env.client.post("/api/v1/clinical/wdbc-risk/predict", json={"rows": [row]}, headers=env.h("researcher"))
    assert r.status_code == 403 and "researcher" in r.json()["detail"]
    assert env.client.get("/api/v1/audit", headers=env.h("clinician")).status_code == 403
    r = env.client.post("/api/v1/models/wdbc-risk/versions/1/stage", json={"stage": "archived"},
                        headers=env.h("clinician"))
    assert r.status_code == 403
    r = env.client.post("/api/v1/users", json={"username": "eve", "password": "p" * 12, "role": "admin"},
                        headers=env.h("clinician"))
    assert r.status_code == 403
    assert env.client.get("/api/v1/audit", headers=env.h("admin")).status_code == 200


def test_malformed_json_and_wrong_types_are_422_naming_the_field(env: Env) -> None:
    url = "/api/v1/clinical/wdbc-risk/predict"
    r = env.client.post(url, content=b'{"rows": [', headers={**env.h("clinician"), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
    r = env.client.post(url, json={"rows": "not a list"}, headers=env.h("clinician"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "rows"]
    r = env.client.post(url, json={"rows": [_row(env.svc)], "explain": "maybe"}, headers=env.h("clinician"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "explain"]
    r = env.client.post(url, json={"rows": [_row(env.svc)], "surprise": 1}, headers=env.h("clinician"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "surprise"]
    # Right JSON types, but the model's own check: a feature holds text, or is missing.
    row = {**_row(env.svc), "mean radius": "large"}
    r = env.client.post(url, json={"rows": [row]}, headers=env.h("clinician"))
    assert r.status_code == 422 and r.json()["error"]["where"] == "mean radius"
    row = _row(env.svc)
    del row["worst area"]
    r = env.client.post(url, json={"rows": [row]}, headers=env.h("clinician"))
    assert r.status_code == 422 and r.json()["error"]["where"] == "rows[0].worst area"
    r = env.client.post("/api/v1/clinical/wdbc-risk/predict?version=abc", json={"rows": [row]},
                        headers=env.h("clinician"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "version"]


def test_unknown_model_or_version_is_404(env: Env) -> None:
    body = {"rows": [_row(env.svc)]}
    r = env.client.post("/api/v1/clinical/nope/predict", json=body, headers=env.h("clinician"))
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    r = env.client.post("/api/v1/clinical/wdbc-risk/predict?version=9", json=body, headers=env.h("clinician"))
    assert r.status_code == 404 and "version 9" in r.json()["detail"]
    assert env.client.get("/api/v1/models/nope", headers=env.h("clinician")).status_code == 404
    assert env.client.get("/api/v1/models/wdbc-risk/versions/3/card", headers=env.h("clinician")).status_code == 404
    assert env.client.get("/api/v1/jobs/0123abcd", headers=env.h("clinician")).status_code == 404
    # Version numbers beyond any integer column are a validation error, not a database overflow (schemathesis).
    huge = "12590351691486590926848"
    r = env.client.post(f"/api/v1/models/wdbc-risk/versions/{huge}/stage", json={"stage": "archived"},
                        headers=env.h("admin"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "version"]
    assert env.client.get(f"/api/v1/models/wdbc-risk/versions/{huge}/card", headers=env.h("admin")).status_code == 422
    r = env.client.post(f"/api/v1/clinical/wdbc-risk/predict?version={huge}", json=body, headers=env.h("clinician"))
    assert r.status_code == 422
    # A clinical model asked for on the treatment endpoint does not exist there either.
    r = env.client.post("/api/v1/treatment/wdbc-risk/recommend", json={"patient": {"age": 1}},
                        headers=env.h("clinician"))
    assert r.status_code == 404


def _png(path_size: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\0" * path_size


def test_oversized_upload_is_413_before_it_is_stored(tmp_path: Path, imaging_bundle: Path) -> None:
    for env in start_env(tmp_path / "home", {"br35h": imaging_bundle}, max_upload_bytes=50_000,
                         retain_uploads=True):
        big = _png(60_000)
        r = env.client.post("/api/v1/imaging/br35h/predict", files={"file": ("scan.png", big, "image/png")},
                            headers=env.h("clinician"))
        assert r.status_code == 413 and "limit" in r.json()["detail"]

        def chunks():  # no Content-Length: the limit is enforced while the body streams in
            yield (b'--zz\r\nContent-Disposition: form-data; name="file"; filename="scan.png"\r\n'
                   b"Content-Type: image/png\r\n\r\n" + _png(100))
            for _ in range(20):
                yield b"x" * 5000
            yield b"\r\n--zz--\r\n"

        r = env.client.post("/api/v1/imaging/br35h/predict", content=chunks(),
                            headers={**env.h("clinician"), "Content-Type": "multipart/form-data; boundary=zz"})
        assert r.status_code == 413
        assert not (env.svc.settings.home / "uploads").exists() or not any((env.svc.settings.home / "uploads").iterdir())
        with env.svc.sf() as db:
            assert db.execute(select(AuditEvent).where(AuditEvent.action == "predict.imaging")).first() is None


def test_traversal_file_names_are_stored_under_generated_names(tmp_path: Path, imaging_bundle: Path) -> None:
    from medkit.data import load_dataset

    jpg = load_dataset("br35h").data.path.iloc[0]
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.open(jpg).convert("L").save(buf, format="PNG")
    for env in start_env(tmp_path / "home", {"br35h": imaging_bundle}, retain_uploads=True):
        for name in ("../../../../tmp/medkit-evil.png", "/etc/medkit-evil.png", "..\\..\\evil.png"):
            r = env.client.post("/api/v1/imaging/br35h/predict", files={"file": (name, buf.getvalue(), "image/png")},
                                headers=env.h("clinician"))
            assert r.status_code == 200, r.text
        stored = list((env.svc.settings.home / "uploads").iterdir())
        assert len(stored) == 3
        assert all(p.suffix == ".png" and len(p.stem) == 32 and "evil" not in p.name for p in stored)
        assert not Path("/tmp/medkit-evil.png").exists() and not Path("/etc/medkit-evil.png").exists()
        # Wrong type by content, whatever the name says: 415.
        r = env.client.post("/api/v1/imaging/br35h/predict", files={"file": ("x.png", b"MZ\x90\x00exe", "image/png")},
                            headers=env.h("clinician"))
        assert r.status_code == 415


def test_injection_strings_are_stored_and_shown_inert(env: Env) -> None:
    evil = "<script>alert(1)</script>' OR 1=1; DROP TABLE users;--"
    r = env.client.post("/api/v1/auth/token", json={"username": evil, "password": "x"})
    assert r.status_code == 401
    with env.svc.sf() as db:
        assert db.execute(select(AuditEvent.actor).where(AuditEvent.outcome == "denied")).scalar() == evil[:64]
        assert len(list(db.execute(select(User)).scalars())) == 3  # table intact
    # Shown on the admin's audit page as text, not markup.
    page = _login(env, "admin").get("/audit")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    api = env.client.get("/api/v1/audit", headers=env.h("admin")).json()
    assert any(e["actor"] == evil[:64] for e in api["events"]) and api["chain_ok"]


def _login(env: Env, role: str):
    from fastapi.testclient import TestClient

    c = TestClient(env.app, base_url="http://127.0.0.1")
    r = c.post("/login", data={"username": role, "password": PASSWORDS[role]}, follow_redirects=False)
    assert r.status_code == 303
    return c


def test_session_cookie_flags_and_csrf(env: Env) -> None:
    from fastapi.testclient import TestClient

    c = TestClient(env.app, base_url="http://127.0.0.1")
    r = c.post("/login", data={"username": "clinician", "password": PASSWORDS["clinician"]}, follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    body = {"rows": [_row(env.svc)]}
    r = c.post("/api/v1/clinical/wdbc-risk/predict", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    page = c.get("/apply/wdbc-risk")
    import re

    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    r = c.post("/api/v1/clinical/wdbc-risk/predict", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    r = c.post("/apply/wdbc-risk", data={**{k: str(v) for k, v in body["rows"][0].items()}, "csrf_token": "bad"})
    assert r.status_code == 403
    # Secure flag outside dev mode by default.
    from .conftest import make_settings

    assert make_settings(Path("/tmp"), cookie_secure=None).secure_cookies is True


def test_rate_limit_is_429_with_retry_after(tmp_path: Path, clinical_bundle: Path) -> None:
    for env in start_env(tmp_path / "home", {"wdbc-risk": clinical_bundle}, rate_per_s=0.01, burst=3):
        codes = [env.client.get("/api/v1/models", headers=env.h("clinician")).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = env.client.get("/api/v1/models", headers=env.h("clinician"))
        assert int(r.headers["retry-after"]) >= 1
        # Another client has its own bucket; health checks are exempt.
        assert env.client.get("/api/v1/models", headers=env.h("admin")).status_code == 200
        assert env.client.get("/api/v1/health").status_code == 200


def test_login_brute_force_is_throttled(tmp_path: Path, clinical_bundle: Path) -> None:
    for env in start_env(tmp_path / "home", {}, login_per_min=3):
        codes = [env.client.post("/api/v1/auth/token", json={"username": "admin", "password": "guess"}).status_code
                 for _ in range(4)]
        assert codes == [401, 401, 401, 429]


def test_database_unavailable_is_503_and_nothing_is_returned_or_written(env: Env) -> None:
    from sqlalchemy.orm import sessionmaker

    from medkit.serve.db import create_engine

    good_sf = env.svc.sf
    with good_sf() as db:
        n_before = len(list(db.execute(select(AuditEvent)).scalars()))
    # Resolve the model on the working database, then lose it before the audit record is written.
    calls = {"n": 0}
    dead = sessionmaker(bind=create_engine("postgresql+psycopg://medkit@127.0.0.1:1/none?connect_timeout=1"))

    def flaky():
        calls["n"] += 1
        return good_sf() if calls["n"] <= 2 else dead()

    flaky.begin = lambda: dead.begin()  # type: ignore[attr-defined]
    env.svc.sf = flaky
    try:
        r = env.client.post("/api/v1/clinical/wdbc-risk/predict", json={"rows": [_row(env.svc)]},
                            headers=env.h("clinician"))
    finally:
        env.svc.sf = good_sf
    assert r.status_code == 503 and r.json()["error"]["type"] == "DatabaseUnavailable"
    assert "result" not in r.json()
    with good_sf() as db:
        assert len(list(db.execute(select(AuditEvent)).scalars())) == n_before
    env.svc.sf = dead
    try:
        assert env.client.get("/api/v1/models", headers=env.h("clinician")).status_code == 503
    finally:
        env.svc.sf = good_sf
    dead.kw["bind"].dispose()


def test_ready_is_503_when_the_database_is_down(env: Env) -> None:
    from medkit.serve.db import create_engine

    good = env.svc.engine
    env.svc.engine = create_engine("postgresql+psycopg://medkit@127.0.0.1:1/none?connect_timeout=1")
    try:
        assert env.client.get("/api/v1/ready").status_code == 503
    finally:
        env.svc.engine.dispose()
        env.svc.engine = good
    assert env.client.get("/api/v1/ready").json()["schema_revision"] == "0002"


def test_no_patient_values_in_logs(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    row = {**_row(env.svc), "mean radius": 17.987654321}
    with caplog.at_level(logging.DEBUG):
        env.client.post("/api/v1/clinical/wdbc-risk/predict", json={"rows": [row]}, headers=env.h("clinician"))
        env.client.post("/api/v1/clinical/wdbc-risk/predict", json={"rows": [{**row, "mean radius": "17.987654321x"}]},
                        headers=env.h("clinician"))
    assert "17.98765" not in caplog.text
    with env.svc.sf() as db:
        details = " ".join(e.detail for e in db.execute(select(AuditEvent)).scalars())
    assert "17.98765" not in details


@pytest.mark.parametrize("secret", [None, "changeme", "short-secret"])
def test_refuses_to_start_without_a_real_secret(tmp_path: Path, secret: str | None) -> None:
    from medkit.core.errors import SecurityError
    from medkit.serve import create_app
    from medkit.serve.settings import ServeSettings

    with pytest.raises(SecurityError, match="refusing to start"):
        create_app(ServeSettings(home=tmp_path, secret_key=secret))
    app = create_app(ServeSettings(home=tmp_path, secret_key=secret, dev=True))  # --dev: allowed, random secret
    assert len(app.state.settings.secret_key) >= 32 and app.state.settings.secret_key != secret
    app.state.service.close()
