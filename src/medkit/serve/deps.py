"""FastAPI dependencies: the service, the signed-in principal, role checks and CSRF for cookie sessions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, Request

from medkit.serve.security import Principal, allowed, principal_from_token
from medkit.serve.service import Service

SESSION_COOKIE = "medkit_session"
CSRF_HEADER = "x-csrf-token"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


async def get_service(request: Request) -> Service:
    # async: a plain attribute read, not worth a trip through the thread pool
    return request.app.state.service  # type: ignore[no-any-return]


def _unauthorized(why: str) -> HTTPException:
    return HTTPException(status_code=401, detail=why, headers={"WWW-Authenticate": "Bearer"})


def optional_principal(request: Request, svc: Service = Depends(get_service)) -> Principal | None:
    """The principal from ``Authorization: Bearer`` or the session cookie, or None. A bad bearer token is an error."""
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("malformed Authorization header; use 'Bearer <token>'")
        with svc.engine.connect() as conn:  # a plain connection: the hot path of every API call
            p = principal_from_token(conn, token.strip())
        if p is None:
            raise _unauthorized("invalid, expired or revoked token")
        return p
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with svc.sf() as db:
            return svc.codec.principal(db, cookie)
    return None


async def current_principal(request: Request, p: Principal | None = Depends(optional_principal),
                      svc: Service = Depends(get_service)) -> Principal:
    if p is None:
        raise _unauthorized("sign in or send an API token (Authorization: Bearer <token>)")
    if p.must_change_password:
        raise HTTPException(status_code=403, detail="your password is temporary: choose a new one first "
                                                    "(web: /account; API: POST /api/v1/auth/password)")
    if p.via == "session" and request.method in _UNSAFE:
        # Browsers send cookies on cross-site requests; the CSRF token proves the request came from our page.
        token = request.headers.get(CSRF_HEADER) or request.query_params.get("csrf_token")
        if not svc.codec.check_csrf(p.session_hash or "", token):
            raise HTTPException(status_code=403, detail="missing or invalid CSRF token")
    return p


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    async def dep(p: Principal = Depends(current_principal)) -> Principal:
        if not allowed(p.role, permission):
            raise HTTPException(status_code=403, detail=f"role '{p.role}' may not {permission.replace(':', ' ')}")
        return p

    return dep
