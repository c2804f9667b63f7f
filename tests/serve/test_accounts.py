"""Password change, administrator password reset (temporary password) and API token management, via API and web."""

from __future__ import annotations

import re

from sqlalchemy import select

from medkit.serve.db import AuditEvent

from .conftest import PASSWORDS, Env


def _actions(env: Env) -> list[tuple[str, str, str, str]]:
    with env.svc.sf() as db:
        return [(e.actor, e.action, e.outcome, e.detail) for e in db.execute(select(AuditEvent).order_by(AuditEvent.id))
                .scalars()]


def _token(env: Env, user: str, password: str) -> tuple[int, dict]:
    r = env.client.post("/api/v1/auth/token", json={"username": user, "password": password})
    return r.status_code, r.json()


def test_change_own_password_api(env: Env) -> None:
    url = "/api/v1/auth/password"
    body = {"username": "clinician", "current_password": "wrong-password-9", "new_password": "a-new-password-1"}
    assert env.client.post(url, json=body).status_code == 401
    body["current_password"] = PASSWORDS["clinician"]
    short = env.client.post(url, json={**body, "new_password": "short"})
    assert short.status_code == 400 and short.json()["error"]["where"] == "new_password"
    same = env.client.post(url, json={**body, "new_password": PASSWORDS["clinician"]})
    assert same.status_code == 400
    assert env.client.post(url, json=body).status_code == 200
    assert _token(env, "clinician", PASSWORDS["clinician"])[0] == 401  # old password no longer works
    code, tok = _token(env, "clinician", "a-new-password-1")
    assert code == 200 and tok["token"].startswith("mk_")
    assert env.client.get("/api/v1/models", headers=env.h("clinician")).status_code == 200  # tokens survive
    acts = [(a, b, c) for a, b, c, _ in _actions(env) if b == "password.change"]
    # Denied attempt recorded; the rejected policy violations rolled back with their transaction.
    assert acts == [("clinician", "password.change", "denied"), ("clinician", "password.change", "ok")]
    assert all("a-new-password-1" not in d and PASSWORDS["clinician"] not in d for *_, d in _actions(env))


def test_admin_reset_gives_temporary_password_and_ends_tokens(env: Env) -> None:
    url = "/api/v1/users/clinician/password"
    assert env.client.post(url, headers=env.h("clinician")).status_code == 403
    assert env.client.post("/api/v1/users/nobody/password", headers=env.h("admin")).status_code == 404
    r = env.client.post(url, headers=env.h("admin"))
    assert r.status_code == 200 and r.json()["must_change_password"] is True
    temporary = r.json()["temporary_password"]
    assert len(temporary) >= 16
    assert env.client.get("/api/v1/models", headers=env.h("clinician")).status_code == 401  # token revoked
    assert _token(env, "clinician", PASSWORDS["clinician"])[0] == 401
    code, body = _token(env, "clinician", temporary)  # right password, but temporary: no token
    assert code == 403 and "temporary" in body["detail"]
    assert env.client.post("/api/v1/auth/password", json={
        "username": "clinician", "current_password": temporary, "new_password": "chosen-by-me-42"}).status_code == 200
    code, tok = _token(env, "clinician", "chosen-by-me-42")
    assert code == 200
    h = {"Authorization": f"Bearer {tok['token']}"}
    assert env.client.get("/api/v1/models", headers=h).status_code == 200
    reset = [d for _, a, o, d in _actions(env) if a == "password.reset"]
    assert reset == ["user=clinician sessions_ended=0 tokens_revoked=1"]
    assert all(temporary not in d for *_, d in _actions(env))


def test_list_and_revoke_tokens_api(env: Env) -> None:
    _, second = _token(env, "researcher", PASSWORDS["researcher"])
    mine = env.client.get("/api/v1/auth/tokens", headers=env.h("researcher")).json()
    assert [t["status"] for t in mine] == ["active", "active"] and {t["owner"] for t in mine} == {"researcher"}
    assert all("token" not in t and "token_hash" not in t for t in mine)
    assert env.client.get("/api/v1/auth/tokens?all_users=true", headers=env.h("researcher")).status_code == 403
    everyone = env.client.get("/api/v1/auth/tokens?all_users=true", headers=env.h("admin")).json()
    assert {t["owner"] for t in everyone} == {"admin", "clinician", "researcher"}
    clin_id = next(t["id"] for t in everyone if t["owner"] == "clinician")
    # Someone else's token looks like a missing one; unknown ids are 404 too.
    assert env.client.delete(f"/api/v1/auth/tokens/{clin_id}", headers=env.h("researcher")).status_code == 404
    assert env.client.delete("/api/v1/auth/tokens/999999", headers=env.h("researcher")).status_code == 404
    newest = mine[0]["id"]
    r = env.client.delete(f"/api/v1/auth/tokens/{newest}", headers=env.h("researcher"))
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert env.client.get("/api/v1/models", headers={"Authorization": f"Bearer {second['token']}"}).status_code == 401
    assert env.client.get("/api/v1/models", headers=env.h("researcher")).status_code == 200  # the other one works
    r = env.client.delete(f"/api/v1/auth/tokens/{clin_id}", headers=env.h("admin"))  # admins revoke anyone's
    assert r.status_code == 200 and r.json()["owner"] == "clinician"
    assert env.client.get("/api/v1/models", headers=env.h("clinician")).status_code == 401
    revokes = [(a, d) for a, b, _, d in _actions(env) if b == "token.revoke"]
    assert revokes == [("researcher", f"token_id={newest} owner=researcher"), ("admin", f"token_id={clin_id} owner=clinician")]


def _login(env: Env, user: str, password: str) -> str:
    r = env.client.post("/login", data={"username": user, "password": password}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = env.client.get(r.headers["location"])
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]


def test_web_token_create_shown_once_and_revoke(env: Env) -> None:
    csrf = _login(env, "clinician", PASSWORDS["clinician"])
    assert env.client.post("/account/tokens", data={"name": "batch", "days": "7"}).status_code == 403  # no CSRF
    r = env.client.post("/account/tokens", data={"name": "batch <b>x</b>", "days": "7", "csrf_token": csrf})
    assert r.status_code == 200
    token = re.search(r'id="token-value"[^>]*value="(mk_[^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    assert "batch &lt;b&gt;x&lt;/b&gt;" in r.text  # the name is shown inert
    assert env.client.get("/api/v1/models", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    page = env.client.get("/account")
    assert token not in page.text and "batch &lt;b&gt;" in page.text  # listed, never shown again
    too_long = env.client.post("/account/tokens", data={"name": "x", "days": "3650", "csrf_token": csrf})
    assert too_long.status_code == 422 and "days" in too_long.text
    tid = max(int(t) for t in re.findall(r'/account/tokens/(\d+)/revoke', page.text))
    r = env.client.post(f"/account/tokens/{tid}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 200 and r.url.path == "/account"
    assert env.client.get("/api/v1/models", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    acts = [b for _, b, _, _ in _actions(env)]
    assert "token.create" in acts and "token.revoke" in acts


def test_web_reset_forces_password_change(env: Env) -> None:
    admin_csrf = _login(env, "admin", PASSWORDS["admin"])
    r = env.client.post("/admin/users/clinician/reset-password", data={"csrf_token": admin_csrf})
    assert r.status_code == 200
    temporary = re.search(r'id="temp-password"[^>]*value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    env.client.cookies.clear()
    csrf = _login(env, "clinician", temporary)  # lands on /account
    r = env.client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account"  # nothing else until the password changes
    assert env.client.get("/api/v1/models").status_code == 403  # the session cannot use the API either
    bad = env.client.post("/account/password", data={"current_password": temporary, "new_password": "new-pass-1234",
                                                     "confirm_password": "different-1234", "csrf_token": csrf})
    assert bad.status_code == 422
    r = env.client.post("/account/password", data={"current_password": temporary, "new_password": "new-pass-1234",
                                                   "confirm_password": "new-pass-1234", "csrf_token": csrf})
    assert r.status_code == 200 and r.url.path == "/"
    assert env.client.get("/api/v1/models").status_code == 200
    env.client.cookies.clear()
    assert env.client.get("/admin/users").status_code == 200 and "/login" in str(env.client.get("/admin/users").url)
